//! [`SocketTransport`]: the writing end of a TCP, TLS or Unix connection.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use transport_api::{Endpoint, Result, Transport, WriteBufferLimits};

use crate::conn::Shared;

/// Closes the connection gracefully when the last transport handle goes.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.close();
    }
}

/// The writing end of one socket connection (TCP, TLS or Unix), as
/// [`Transport`] describes it.
///
/// - [`write`](Transport::write) appends to the connection's buffer and wakes
///   its driver task, which sends everything pending in as few system calls as
///   it can; it never blocks and never touches the socket itself.
/// - [`close`](Transport::close) stops receiving, sends what is buffered, shuts
///   the socket down and then delivers `connection_lost(None)`.
/// - [`abort`](Transport::abort) drops what is buffered and resets the
///   connection (TCP and TLS: `SO_LINGER` 0, so the peer gets a reset; a Unix
///   socket has no reset, its peer sees the connection end).
/// - [`write_eof`](Transport::write_eof) shuts down the writing half once the
///   buffer is sent (TLS: after a `close_notify`); supported on every kind.
/// - [`pause_reading`](Transport::pause_reading) stops reading the socket, so
///   the OS applies backpressure to the peer.
/// - The write buffer size is the number of bytes not yet handed to the OS;
///   `pause_writing`/`resume_writing` follow it with the water marks.
///
/// Cheap to clone; `Send + Sync`. The connection closes gracefully, as by
/// `close`, when the last clone (the one its protocol got included) is
/// dropped. Once both sides have half-closed (`write_eof` sent and the
/// peer's EOF kept open by `eof_received` returning `true`), nothing more can
/// happen and the connection ends with `connection_lost(None)`.
#[derive(Clone)]
pub struct SocketTransport {
    handle: Arc<Handle>,
}

impl SocketTransport {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        SocketTransport {
            handle: Arc::new(Handle { shared }),
        }
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// The URL scheme of the connection: `"tcp"`, `"ipc"` or `"tls"`.
    pub fn kind(&self) -> &'static str {
        self.shared().info.kind
    }

    /// What the TLS handshake established (peer certificates, SNI, ALPN,
    /// version, cipher suite); `None` on plain TCP and Unix connections.
    /// From a protocol's [`SharedTransport`](transport_api::SharedTransport),
    /// reach it with `transport.downcast_ref::<SocketTransport>()`.
    #[cfg(feature = "tls")]
    pub fn tls_info(&self) -> Option<&crate::tls::TlsInfo> {
        self.shared().info.tls.as_ref()
    }
}

impl fmt::Debug for SocketTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = &self.shared().info;
        f.debug_struct("SocketTransport")
            .field("kind", &info.kind)
            .field("peer", &info.peer)
            .field("local", &info.local)
            .field("closing", &self.is_closing())
            .finish()
    }
}

impl Transport for SocketTransport {
    fn write(&self, data: Bytes) -> Result<()> {
        self.shared().write(data)
    }

    fn writelines(&self, data: &[Bytes]) -> Result<()> {
        self.shared().write_all(data)
    }

    fn write_if_ready(&self, data: Bytes) -> Result<Option<Bytes>> {
        self.shared().write_if_ready(data)
    }

    fn write_eof(&self) -> Result<()> {
        self.shared().write_eof()
    }

    fn can_write_eof(&self) -> bool {
        true
    }

    fn close(&self) {
        self.shared().close()
    }

    fn abort(&self) {
        self.shared().abort()
    }

    fn is_closing(&self) -> bool {
        self.shared().is_closing()
    }

    fn peer_addr(&self) -> Option<Endpoint> {
        self.shared().info.peer.clone()
    }

    fn local_addr(&self) -> Option<Endpoint> {
        self.shared().info.local.clone()
    }

    fn write_buffer_size(&self) -> usize {
        self.shared().write_buffer_size()
    }

    fn write_buffer_limits(&self) -> WriteBufferLimits {
        self.shared().limits()
    }

    fn set_write_buffer_limits(&self, limits: WriteBufferLimits) {
        self.shared().set_limits(limits)
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.shared().poll_write_ready(cx)
    }

    fn pause_reading(&self) {
        self.shared().set_reading(false)
    }

    fn resume_reading(&self) {
        self.shared().set_reading(true)
    }

    fn is_reading(&self) -> bool {
        self.shared().is_reading()
    }
}
