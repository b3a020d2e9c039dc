//! [`MqttTransport`]: the writing end of a connection through the broker.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use transport_api::{Endpoint, Result, Transport, WriteBufferLimits};

use crate::conn::Conn;

/// Closes the connection gracefully when the last transport handle goes.
struct Handle {
    conn: Arc<Conn>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.conn.close();
    }
}

/// The writing end of one connection through an MQTT broker, as
/// [`Transport`] describes it.
///
/// - [`write`](Transport::write) queues and wakes the connection's driver,
///   which publishes DATA messages (up to 64 KiB each) as far as the peer's
///   receive window (1 MiB) allows.
/// - The write buffer is what is not yet published; a peer that stops
///   reading stops granting window, so the buffer grows and
///   `pause_writing` follows with the water marks.
/// - [`close`](Transport::close) publishes the buffered data, then a FIN;
///   the peer delivers everything, answers with its FIN and both sides get
///   `connection_lost(None)`. [`abort`](Transport::abort) drops the buffer
///   and publishes a RST: the peer gets `connection_lost(Some(ConnectionReset))`.
/// - [`write_eof`](Transport::write_eof) publishes an EOF after the buffered
///   data; the peer's protocol gets `eof_received`.
/// - [`pause_reading`](Transport::pause_reading) holds delivery; the peer's
///   window closes once it has a window's worth in flight.
/// - Peer and local addresses are `mqtt:<name>` for the server's end and
///   `mqtt:~<session id>` for the client's.
#[derive(Clone)]
pub struct MqttTransport {
    handle: Arc<Handle>,
}

impl MqttTransport {
    pub(crate) fn new(conn: Arc<Conn>) -> Self {
        MqttTransport {
            handle: Arc::new(Handle { conn }),
        }
    }

    fn conn(&self) -> &Conn {
        &self.handle.conn
    }
}

impl fmt::Debug for MqttTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttTransport")
            .field("conn", self.conn())
            .finish()
    }
}

impl Transport for MqttTransport {
    fn write(&self, data: Bytes) -> Result<()> {
        self.conn().write_all(std::slice::from_ref(&data))
    }

    fn writelines(&self, data: &[Bytes]) -> Result<()> {
        self.conn().write_all(data)
    }

    fn write_eof(&self) -> Result<()> {
        self.conn().write_eof()
    }

    fn can_write_eof(&self) -> bool {
        true
    }

    fn close(&self) {
        self.conn().close();
    }

    fn abort(&self) {
        self.conn().abort();
    }

    fn is_closing(&self) -> bool {
        self.conn().is_closing()
    }

    fn peer_addr(&self) -> Option<Endpoint> {
        Some(self.conn().peer_endpoint.clone())
    }

    fn local_addr(&self) -> Option<Endpoint> {
        Some(self.conn().local.clone())
    }

    fn write_buffer_size(&self) -> usize {
        self.conn().write_buffer_size()
    }

    fn write_buffer_limits(&self) -> WriteBufferLimits {
        self.conn().limits()
    }

    fn set_write_buffer_limits(&self, limits: WriteBufferLimits) {
        self.conn().set_limits(limits);
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.conn().poll_write_ready(cx)
    }

    fn pause_reading(&self) {
        self.conn().set_reading(false);
    }

    fn resume_reading(&self) {
        self.conn().set_reading(true);
    }

    fn is_reading(&self) -> bool {
        self.conn().is_reading()
    }
}
