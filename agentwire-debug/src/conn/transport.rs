//! [`SimTransport`] and the protocol wrapper the backend sees.

use std::sync::Arc;
use std::task::{Context, Poll};

use agentwire::api::{
    Endpoint, Error, Protocol, Result, SharedTransport, Transport, WriteBufferLimits,
};
use bytes::Bytes;

use super::control::ReadingExt;
use super::{drive, lock, ConnShared, IN, OUT};
use crate::event::EventKind;

/// The protocol the backend sees: forwards to the user's through the
/// simulation.
pub(super) struct SimProtocol {
    pub(super) conn: Arc<ConnShared>,
}

impl Protocol for SimProtocol {
    fn connection_made(&mut self, transport: SharedTransport) {
        let conn = &self.conn;
        let _ = conn.inner.set(transport);
        let id = conn.sim.add_conn(conn);
        let _ = conn.id.set(id);
        conn.sim.record(EventKind::Connect {
            conn: id,
            from: Arc::clone(&conn.from),
            to: Arc::clone(&conn.to),
        });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            // The driver ends with the connection (after `connection_lost`).
            drop(rt.spawn(drive(Arc::clone(conn))));
        }
        conn.user.made(Arc::new(SimTransport {
            conn: Arc::clone(conn),
        }));
    }

    fn data_received(&mut self, data: Bytes) {
        self.conn.feed(IN, data);
    }

    fn eof_received(&mut self) -> bool {
        self.conn.user.eof()
    }

    fn connection_lost(&mut self, error: Option<Error>) {
        self.conn.lost(error);
    }

    fn pause_writing(&mut self) {
        self.conn.user.pause();
    }

    fn resume_writing(&mut self) {
        self.conn.user.resume();
    }
}

/// The transport of a simulated connection: writes go through the
/// simulation, everything else to the backend's transport.
///
/// Bytes the simulation holds back count in
/// [`write_buffer_size`](Transport::write_buffer_size); flow control
/// (`poll_write_ready`, pause/resume) is the backend's.
#[derive(Clone)]
pub struct SimTransport {
    pub(super) conn: Arc<ConnShared>,
}

impl std::fmt::Debug for SimTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimTransport")
            .field("from", &self.conn.from)
            .field("to", &self.conn.to)
            .field("inner", &self.conn.inner())
            .finish()
    }
}

impl Transport for SimTransport {
    fn write(&self, data: Bytes) -> Result<()> {
        if self.is_closing() {
            return Err(Error::Closed);
        }
        self.conn.feed(OUT, data);
        Ok(())
    }

    fn write_if_ready(&self, data: Bytes) -> Result<Option<Bytes>> {
        // The backend's flow control, as `poll_write_ready` asks it: writable
        // while its buffer is at or below the low-water mark (or below the
        // high one while it is not paused, which only the backend knows).
        if self.conn.state().closing {
            return Err(Error::Closed);
        }
        let Some(inner) = self.conn.inner() else {
            return Err(Error::Closed);
        };
        if inner.is_closing() {
            return Err(Error::Closed);
        }
        if inner.write_buffer_size() > inner.write_buffer_limits().low() {
            return Ok(Some(data));
        }
        self.conn.feed(OUT, data);
        Ok(None)
    }

    fn write_eof(&self) -> Result<()> {
        Err(Error::Unsupported(
            "write_eof on a simulated link (it would overtake queued data)",
        ))
    }

    fn can_write_eof(&self) -> bool {
        false
    }

    fn close(&self) {
        self.conn.close();
    }

    fn abort(&self) {
        self.conn.abort();
    }

    fn is_closing(&self) -> bool {
        self.conn.state().closing || self.conn.inner().is_some_and(|t| t.is_closing())
    }

    fn peer_addr(&self) -> Option<Endpoint> {
        self.conn.inner().and_then(|t| t.peer_addr())
    }

    fn local_addr(&self) -> Option<Endpoint> {
        self.conn.inner().and_then(|t| t.local_addr())
    }

    fn write_buffer_size(&self) -> usize {
        let held = self.conn.state().out_bytes + lock(&self.conn.rx[OUT]).buffered();
        held + self.conn.inner().map_or(0, |t| t.write_buffer_size())
    }

    fn write_buffer_limits(&self) -> WriteBufferLimits {
        self.conn
            .inner()
            .map(|t| t.write_buffer_limits())
            .unwrap_or_default()
    }

    fn set_write_buffer_limits(&self, limits: WriteBufferLimits) {
        if let Some(t) = self.conn.inner() {
            t.set_write_buffer_limits(limits);
        }
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.conn.state().closing {
            return Poll::Ready(Err(Error::Closed));
        }
        match self.conn.inner() {
            Some(t) => t.poll_write_ready(cx),
            None => Poll::Ready(Err(Error::Closed)),
        }
    }

    fn pause_reading(&self) {
        if let Some(t) = self.conn.inner() {
            t.pause_reading();
        }
    }

    fn resume_reading(&self) {
        if let Some(t) = self.conn.inner() {
            t.resume_reading();
        }
        self.conn.wake.notify_one();
    }

    fn is_reading(&self) -> bool {
        self.conn.inner().is_none_or_reading()
    }
}
