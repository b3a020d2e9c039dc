//! The byte streams a driver can run on: TCP, Unix and TLS sockets.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, Interest, Ready};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

/// A connected socket that a driver owns.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Makes dropping the stream reset the connection (TCP's `SO_LINGER` of
    /// zero: buffered data is discarded and the peer gets a reset) where the
    /// socket type supports it; a no-op elsewhere.
    fn prepare_abort(&self);

    /// What the socket's readiness says of the peer, without a read
    /// (requests may wait unread before the news); see [`Peer`].
    fn peer_gone(&self) -> Peer;
}

/// What a paused connection's socket says of its peer.
#[derive(Debug)]
pub(crate) enum Peer {
    /// It may still be alive, or only ended its writing half (it may
    /// still read our replies), or, on a Unix socket, closed: such a
    /// socket says "hung up" at once, with what the peer sent unread, and
    /// that must still reach the protocol when it reads again (as
    /// `Transport::close` promises); only an error (`ECONNRESET`: the peer
    /// closed with our data unread) is a departure there.
    Alive,
    /// It reset the connection (the socket's error): gone for good.
    Reset(io::Error),
    /// On TCP, the connection hung up both ways: gone, unless the hang-up
    /// is its EOF meeting our own `write_eof`.
    HungUp,
    /// It closed gracefully, and then our write drew a reset, which TCP
    /// reports as `EPIPE` when the peer's FIN came first: what it sent is
    /// read once reading resumes, then its EOF, and there is nothing more
    /// to look for.
    Closed,
}

/// What `readiness` (a socket's `ready` future) says at once, without
/// waiting: the readiness events seen so far, if any of its interest.
fn ready_now(readiness: impl Future<Output = io::Result<Ready>>) -> Option<Ready> {
    match pin!(readiness).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(ready)) => Some(ready),
        Poll::Ready(Err(_)) | Poll::Pending => None,
    }
}

/// What a socket's hang-up both ways means while its data is unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HangUp {
    /// The peer is gone (TCP: no hang-up without a reset or our own EOF).
    Departure,
    /// The peer closed; what it sent comes first (Unix sockets).
    Close,
}

/// [`Stream::peer_gone`] from a socket's readiness and its pending error.
fn gone(
    ready: Option<Ready>,
    take_error: impl FnOnce() -> io::Result<Option<io::Error>>,
    hang_up: HangUp,
) -> Peer {
    let Some(ready) = ready else {
        return Peer::Alive;
    };
    if ready.is_error() {
        return match take_error().ok().flatten() {
            Some(err) if err.kind() == io::ErrorKind::BrokenPipe => Peer::Closed,
            Some(err) => Peer::Reset(err),
            None => Peer::Reset(io::ErrorKind::ConnectionReset.into()),
        };
    }
    if ready.is_write_closed() && hang_up == HangUp::Departure {
        Peer::HungUp
    } else {
        Peer::Alive
    }
}

/// Every readiness a socket reports.
const ANY: Interest = Interest::READABLE
    .add(Interest::WRITABLE)
    .add(Interest::ERROR);

impl Stream for TcpStream {
    fn prepare_abort(&self) {
        // If this fails the close is graceful instead: still a close.
        let _ = self.set_zero_linger();
    }

    fn peer_gone(&self) -> Peer {
        gone(
            ready_now(self.ready(ANY)),
            || self.take_error(),
            HangUp::Departure,
        )
    }
}

#[cfg(unix)]
impl Stream for UnixStream {
    /// Unix sockets have no reset: the peer sees the connection end.
    fn prepare_abort(&self) {}

    fn peer_gone(&self) -> Peer {
        gone(
            ready_now(self.ready(ANY)),
            || self.take_error(),
            HangUp::Close,
        )
    }
}

#[cfg(feature = "tls")]
impl Stream for tokio_rustls::TlsStream<TcpStream> {
    fn prepare_abort(&self) {
        // No close_notify is sent: the TCP connection is reset under TLS.
        self.get_ref().0.prepare_abort();
    }

    fn peer_gone(&self) -> Peer {
        self.get_ref().0.peer_gone()
    }
}
