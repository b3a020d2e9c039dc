//! [`SimTransport`] and the protocol wrapper the backend sees.

use std::sync::Arc;
use std::task::{Context, Poll};

use agentwire::api::{
    Endpoint, Error, FlowControl, Protocol, Result, SharedTransport, Transport, WriteBufferLimits,
};
use bytes::Bytes;

use super::{drive, lock, ConnShared, Owner, IN, OUT};
use crate::event::EventKind;

/// The protocol the backend sees: forwards to the user's through the
/// simulation.
pub(super) struct SimProtocol {
    pub(super) conn: Arc<ConnShared>,
    /// What the user will hold, handed over in `connection_made` (the
    /// backend's handle on this wrapper must not keep the connection open).
    pub(super) owner: Option<Arc<Owner>>,
}

impl Protocol for SimProtocol {
    fn connection_made(&mut self, transport: SharedTransport) {
        let conn = &self.conn;
        conn.state().held = FlowControl::new(transport.write_buffer_limits());
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
        let owner = self
            .owner
            .take()
            .unwrap_or_else(|| Arc::new(Owner(Arc::clone(conn))));
        conn.user.made(Arc::new(SimTransport {
            conn: Arc::clone(conn),
            _owner: owner,
        }));
    }

    fn data_received(&mut self, data: Bytes) {
        self.conn.feed(IN, data);
    }

    fn eof_received(&mut self) -> bool {
        // Kept open until the user hears it, in order after the data still
        // on its way in; the user's answer decides then.
        self.conn.eof_in();
        true
    }

    fn connection_lost(&mut self, error: Option<Error>) {
        self.conn.lost(error);
    }

    fn pause_writing(&mut self) {
        self.conn.backend_flow(true);
    }

    fn resume_writing(&mut self) {
        self.conn.backend_flow(false);
    }
}

/// The transport of a simulated connection: writes go through the
/// simulation, everything else to the backend's transport.
///
/// Bytes the simulation holds back count in
/// [`write_buffer_size`](Transport::write_buffer_size) and in flow control:
/// past the backend's high-water mark, held bytes and the backend's buffer
/// together pause the writer until they drain to its low-water mark. Past
/// the same mark of bytes on their way in, the backend's reading is paused.
/// The connection closes once the last handle is dropped.
#[derive(Clone)]
pub struct SimTransport {
    pub(super) conn: Arc<ConnShared>,
    /// Closes the connection when the last handle goes.
    pub(super) _owner: Arc<Owner>,
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
        let _writing = self.conn.begin_write(false)?;
        self.conn.feed(OUT, data);
        Ok(())
    }

    /// All of it, or (once closing) none: one write in flight for the
    /// batch, so a close made meanwhile comes after every chunk.
    fn writelines(&self, data: &[Bytes]) -> Result<()> {
        if self.is_closing() {
            return Err(Error::Closed);
        }
        let _writing = self.conn.begin_write(false)?;
        for chunk in data {
            self.conn.feed(OUT, chunk.clone());
        }
        Ok(())
    }

    fn write_if_ready(&self, data: Bytes) -> Result<Option<Bytes>> {
        // The backend's flow control, as `poll_write_ready` asks it: writable
        // while its buffer is at or below the low-water mark (or below the
        // high one while it is not paused, which only the backend knows).
        let Some(inner) = self.conn.inner() else {
            return Err(Error::Closed);
        };
        if inner.is_closing() {
            return Err(Error::Closed);
        }
        let Some(writing) = self.conn.begin_write(true)? else {
            return Ok(Some(data));
        };
        let held = writing.1;
        if held.saturating_add(inner.write_buffer_size()) > inner.write_buffer_limits().low() {
            return Ok(Some(data));
        }
        self.conn.feed(OUT, data);
        Ok(None)
    }

    /// Half-closes after what the simulation still holds on its way out,
    /// where the backend can.
    fn write_eof(&self) -> Result<()> {
        if !self.can_write_eof() {
            return Err(Error::Unsupported(
                "write_eof: the backend under the simulation cannot half-close",
            ));
        }
        self.conn.write_eof()
    }

    fn can_write_eof(&self) -> bool {
        self.conn.inner().is_some_and(|t| t.can_write_eof())
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
        let Some(t) = self.conn.inner() else {
            return;
        };
        t.set_write_buffer_limits(limits);
        let limits = t.write_buffer_limits();
        let inner_size = t.write_buffer_size();
        let flow = self.conn.state().set_held_limits(limits, inner_size);
        flow.run(&self.conn);
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        {
            let mut s = self.conn.state();
            if s.closing {
                return Poll::Ready(Err(Error::Closed));
            }
            if s.held.is_paused() && !s.finished {
                s.write_waiters.register(cx.waker());
                return Poll::Pending;
            }
        }
        match self.conn.inner() {
            Some(t) => t.poll_write_ready(cx),
            None => Poll::Ready(Err(Error::Closed)),
        }
    }

    fn pause_reading(&self) {
        self.conn.set_user_reading(false);
    }

    fn resume_reading(&self) {
        self.conn.set_user_reading(true);
    }

    fn is_reading(&self) -> bool {
        !self.conn.state().user_paused
    }
}
