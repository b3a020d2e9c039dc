//! [`LocalQueueTransport`]: the writing end of one side of a local connection.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use transport_api::{Endpoint, Error, Result, Transport, WriteBufferLimits};

use crate::conn::{Conn, SERVER};

/// Closes its side of the connection when the last transport handle goes.
struct Handle {
    conn: Arc<Conn>,
    side: usize,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.conn.close(self.side);
    }
}

/// One side of a local connection: two in-process queues, one each way.
///
/// `write` enqueues at once; the peer's driver delivers in write order.
/// [`close`](Transport::close) delivers everything written before it, then
/// `connection_lost(None)` on both sides; [`abort`](Transport::abort) drops what
/// the peer has not received yet. The closing side's `connection_lost` comes
/// once no more than its high-water mark is left unread by the peer (handed
/// off, as to a socket's kernel buffers): a close toward a peer that paused
/// reading completes at once for a little data, and waits (until the peer
/// reads, or an `abort`) for more, as a socket's close does once the
/// kernel's buffers are full. [`can_write_eof`](Transport::can_write_eof) is
/// false. The write buffer is what the peer has not yet received, so
/// `pause_writing` tracks how far the reader lags behind.
///
/// Cheap to clone; the connection closes gracefully when the last clone (the
/// protocol's included) is dropped.
#[derive(Clone)]
pub struct LocalQueueTransport {
    handle: Arc<Handle>,
}

impl LocalQueueTransport {
    pub(crate) fn new(conn: Arc<Conn>, side: usize) -> Self {
        LocalQueueTransport {
            handle: Arc::new(Handle { conn, side }),
        }
    }

    fn conn(&self) -> &Conn {
        &self.handle.conn
    }

    fn side(&self) -> usize {
        self.handle.side
    }

    /// The id of the queue this connection was made to.
    pub fn queue_id(&self) -> &str {
        &self.conn().queue_id
    }

    fn client_endpoint(&self) -> Endpoint {
        Endpoint::Local(format!("{}#{}", self.conn().queue_id, self.conn().number))
    }

    fn server_endpoint(&self) -> Endpoint {
        Endpoint::Local(self.conn().queue_id.clone())
    }
}

impl fmt::Debug for LocalQueueTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalQueueTransport")
            .field("queue_id", &self.conn().queue_id)
            .field("connection", &self.conn().number)
            .field(
                "side",
                &if self.side() == SERVER {
                    "server"
                } else {
                    "client"
                },
            )
            .finish()
    }
}

impl Transport for LocalQueueTransport {
    fn write(&self, data: Bytes) -> Result<()> {
        self.conn().write(self.side(), data)
    }

    fn writelines(&self, data: &[Bytes]) -> Result<()> {
        self.conn().write_all(self.side(), data)
    }

    fn write_if_ready(&self, data: Bytes) -> Result<Option<Bytes>> {
        self.conn().write_if_ready(self.side(), data)
    }

    fn write_eof(&self) -> Result<()> {
        Err(Error::Unsupported("write_eof on a local queue"))
    }

    fn can_write_eof(&self) -> bool {
        false
    }

    fn close(&self) {
        self.conn().close(self.side())
    }

    fn abort(&self) {
        self.conn().abort(self.side())
    }

    fn is_closing(&self) -> bool {
        self.conn().is_closing(self.side())
    }

    fn peer_addr(&self) -> Option<Endpoint> {
        Some(if self.side() == SERVER {
            self.client_endpoint()
        } else {
            self.server_endpoint()
        })
    }

    fn local_addr(&self) -> Option<Endpoint> {
        Some(if self.side() == SERVER {
            self.server_endpoint()
        } else {
            self.client_endpoint()
        })
    }

    fn write_buffer_size(&self) -> usize {
        self.conn().write_buffer_size(self.side())
    }

    fn write_buffer_limits(&self) -> WriteBufferLimits {
        self.conn().limits(self.side())
    }

    fn set_write_buffer_limits(&self, limits: WriteBufferLimits) {
        self.conn().set_limits(self.side(), limits)
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.conn().poll_write_ready(self.side(), cx)
    }

    fn pause_reading(&self) {
        self.conn().set_reading(self.side(), false)
    }

    fn resume_reading(&self) {
        self.conn().set_reading(self.side(), true)
    }

    fn is_reading(&self) -> bool {
        self.conn().is_reading(self.side())
    }
}
