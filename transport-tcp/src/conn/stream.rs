//! The byte streams a driver can run on: TCP, Unix and TLS sockets.
//!
//! Plain sockets (TCP and Unix) run as a [`PlainSocket`]: the socket in an
//! `Arc`, read and written through tokio's `&self` readiness API, so that
//! the connection's shared state can hold a second reference and write to
//! the socket directly when the connection is idle (see `direct`). A TLS
//! stream is owned by the driver alone: its session is the driver's.

use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;
use tokio_util::io::poll_read_buf;

/// A connected socket that a driver owns.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Makes dropping the stream reset the connection (TCP's `SO_LINGER` of
    /// zero: buffered data is discarded and the peer gets a reset) where the
    /// socket type supports it; a no-op elsewhere.
    fn prepare_abort(&self);

    /// Reads into the spare capacity of `buf` (as
    /// `tokio_util::io::poll_read_buf` does, which is the default).
    fn poll_read_bytes(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        poll_read_buf(Pin::new(self), cx, buf)
    }

    /// A second reference to the socket for writing to it directly, outside
    /// the driver; `None` if the stream does not allow that (TLS).
    fn direct(&self) -> Option<Arc<dyn PlainIo>>;
}

/// A plain socket, usable through a shared reference: the `&self` half of
/// tokio's `TcpStream` and `UnixStream` API.
///
/// The `try_*` calls never block; one that finds the socket not ready
/// returns [`io::ErrorKind::WouldBlock`] and clears tokio's readiness, so
/// that the next `poll_*_ready` registers the caller's waker. A read that
/// does not fill the buffer also clears the read readiness where that
/// shows the socket is drained ([`SHORT_READ_DRAINS`]), as tokio's own
/// `poll_read` does, saving the read that would only say "would block".
pub(crate) trait PlainIo: Send + Sync + 'static {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Reads into the spare capacity of `buf`, growing its length.
    fn try_read_bytes(&self, buf: &mut BytesMut) -> io::Result<usize>;
    /// Reads into the unfilled part of `buf`.
    fn try_read_buf(&self, buf: &mut ReadBuf<'_>) -> io::Result<usize>;
    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// Shuts down the writing half (the peer reads EOF).
    fn shutdown_write(&self) -> io::Result<()>;
    /// See [`Stream::prepare_abort`].
    fn prepare_abort(&self);
}

/// Whether a read that does not fill its buffer shows that the socket has
/// nothing more to read until the next readiness event: true with
/// edge-triggered selectors (epoll, kqueue), not with level-triggered ones.
/// The same platforms as tokio's own short-read rule.
const SHORT_READ_DRAINS: bool = cfg!(any(
    target_os = "android",
    target_os = "illumos",
    target_os = "linux",
    target_os = "redox",
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "ios",
    target_os = "macos",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "tvos",
    target_os = "visionos",
    target_os = "watchos",
));

/// What [`PlainIo`] needs of a tokio socket type: its own inherent methods
/// (the same on `TcpStream` and `UnixStream`), under one trait.
trait TokioSocket: Send + Sync + 'static {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R>;
    fn try_read_buf<B: BufMut>(&self, buf: &mut B) -> io::Result<usize>;
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    fn sock_ref(&self) -> socket2::SockRef<'_>;
    /// See [`Stream::prepare_abort`].
    fn set_reset_on_close(&self);
}

/// Implements [`TokioSocket`] with the type's inherent methods (which take
/// precedence over the trait's in `<$socket>::name`).
macro_rules! tokio_socket {
    ($socket:ty) => {
        fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            <$socket>::poll_read_ready(self, cx)
        }
        fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            <$socket>::poll_write_ready(self, cx)
        }
        fn try_io<R>(
            &self,
            interest: Interest,
            f: impl FnOnce() -> io::Result<R>,
        ) -> io::Result<R> {
            <$socket>::try_io(self, interest, f)
        }
        fn try_read_buf<B: BufMut>(&self, buf: &mut B) -> io::Result<usize> {
            <$socket>::try_read_buf(self, buf)
        }
        fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
            <$socket>::try_write(self, buf)
        }
        fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            <$socket>::try_write_vectored(self, bufs)
        }
        fn sock_ref(&self) -> socket2::SockRef<'_> {
            socket2::SockRef::from(self)
        }
    };
}

impl TokioSocket for TcpStream {
    tokio_socket!(TcpStream);

    fn set_reset_on_close(&self) {
        // If this fails the close is graceful instead: still a close.
        let _ = self.set_zero_linger();
    }
}

#[cfg(unix)]
impl TokioSocket for UnixStream {
    tokio_socket!(UnixStream);

    /// Unix sockets have no reset: the peer sees the connection end.
    fn set_reset_on_close(&self) {}
}

/// Reads into `buf`, which has `room` bytes free, applying the short-read
/// rule: the outer `try_io` clears the readiness it saw before the read
/// (not any that a later event set) when its closure says "would block",
/// which it does after a short read, keeping the count aside.
fn read_draining<S: TokioSocket, B: BufMut>(
    socket: &S,
    buf: &mut B,
    room: usize,
) -> io::Result<usize> {
    if !SHORT_READ_DRAINS {
        return socket.try_read_buf(buf);
    }
    let mut short = None;
    let result = socket.try_io(Interest::READABLE, || {
        let n = socket.try_read_buf(&mut *buf)?;
        if 0 < n && n < room {
            short = Some(n);
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match short {
        Some(n) => Ok(n),
        None => result,
    }
}

impl<S: TokioSocket> PlainIo for S {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TokioSocket::poll_read_ready(self, cx)
    }
    fn try_read_bytes(&self, buf: &mut BytesMut) -> io::Result<usize> {
        let room = buf.capacity() - buf.len();
        read_draining(self, buf, room)
    }
    fn try_read_buf(&self, buf: &mut ReadBuf<'_>) -> io::Result<usize> {
        let room = buf.remaining();
        read_draining(self, buf, room)
    }
    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TokioSocket::poll_write_ready(self, cx)
    }
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        TokioSocket::try_write(self, buf)
    }
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        TokioSocket::try_write_vectored(self, bufs)
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.sock_ref().shutdown(Shutdown::Write)
    }
    fn prepare_abort(&self) {
        self.set_reset_on_close();
    }
}

/// A plain (TCP or Unix) socket that the driver reads and writes while the
/// connection's shared state holds a second reference for direct writes.
///
/// The socket closes when the last reference goes: the driver's, as the
/// shared state drops its own when the connection finishes.
pub(crate) struct PlainSocket<T>(Arc<T>);

impl<T: PlainIo> PlainSocket<T> {
    pub(crate) fn new(socket: T) -> Self {
        PlainSocket(Arc::new(socket))
    }
}

/// Runs a non-blocking operation, and if the socket was not ready for it
/// after all (which cleared tokio's readiness), polls the readiness: that
/// registers the waker and returns `Pending`, or finds the socket ready
/// again and the operation is tried once more. Trying first saves a
/// readiness poll per operation that succeeds; unlike tokio's own
/// `poll_read`, a success spends no coop budget (the driver yields by
/// itself every few rounds).
fn poll_io<R>(
    cx: &mut Context<'_>,
    mut poll_ready: impl FnMut(&mut Context<'_>) -> Poll<io::Result<()>>,
    mut op: impl FnMut() -> io::Result<R>,
) -> Poll<io::Result<R>> {
    loop {
        match op() {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => ready!(poll_ready(cx))?,
            result => return Poll::Ready(result),
        }
    }
}

impl<T: PlainIo> AsyncRead for PlainSocket<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let socket = &*self.0;
        poll_io(
            cx,
            |cx| socket.poll_read_ready(cx),
            || socket.try_read_buf(buf),
        )
        .map_ok(drop)
    }
}

impl<T: PlainIo> AsyncWrite for PlainSocket<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let socket = &*self.0;
        poll_io(
            cx,
            |cx| socket.poll_write_ready(cx),
            || socket.try_write(buf),
        )
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let socket = &*self.0;
        poll_io(
            cx,
            |cx| socket.poll_write_ready(cx),
            || socket.try_write_vectored(bufs),
        )
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing is buffered here: a write reaches the OS or fails.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.0.shutdown_write())
    }
}

impl<T: PlainIo> Stream for PlainSocket<T> {
    fn prepare_abort(&self) {
        self.0.prepare_abort();
    }

    fn poll_read_bytes(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        let socket = &*self.0;
        poll_io(
            cx,
            |cx| socket.poll_read_ready(cx),
            || socket.try_read_bytes(buf),
        )
    }

    fn direct(&self) -> Option<Arc<dyn PlainIo>> {
        Some(Arc::clone(&self.0) as Arc<dyn PlainIo>)
    }
}

#[cfg(feature = "tls")]
impl Stream for tokio_rustls::TlsStream<TcpStream> {
    fn prepare_abort(&self) {
        // No close_notify is sent: the TCP connection is reset under TLS.
        self.get_ref().0.set_reset_on_close();
    }

    /// The TLS session belongs to the driver: no direct writes.
    fn direct(&self) -> Option<Arc<dyn PlainIo>> {
        None
    }
}
