//! The byte streams a driver can run on: TCP, Unix and TLS sockets.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

/// A connected socket that a driver owns.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Makes dropping the stream reset the connection (TCP's `SO_LINGER` of
    /// zero: buffered data is discarded and the peer gets a reset) where the
    /// socket type supports it; a no-op elsewhere.
    fn prepare_abort(&self);
}

impl Stream for TcpStream {
    fn prepare_abort(&self) {
        // If this fails the close is graceful instead: still a close.
        let _ = self.set_zero_linger();
    }
}

#[cfg(unix)]
impl Stream for UnixStream {
    /// Unix sockets have no reset: the peer sees the connection end.
    fn prepare_abort(&self) {}
}

#[cfg(feature = "tls")]
impl Stream for tokio_rustls::TlsStream<TcpStream> {
    fn prepare_abort(&self) {
        // No close_notify is sent: the TCP connection is reset under TLS.
        self.get_ref().0.prepare_abort();
    }
}
