//! The stream adapter: any backend's connection as a tokio
//! [`AsyncRead`] + [`AsyncWrite`] value.
//!
//! With it, protocols written for byte streams (tokio-util's `Framed`, hyper,
//! …) run unchanged over local queues in tests. Backpressure is real both ways:
//! `poll_write` waits on the transport's water marks, and a reader that falls
//! behind pauses the transport's reading.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;

use crate::{Address, Error, Protocol, Result, Server, SharedTransport, Transport};

/// Bytes buffered for the reader before the transport's reading is paused.
pub const DEFAULT_READ_LIMIT: usize = 64 * 1024;

#[derive(Default)]
struct ReadState {
    chunks: VecDeque<Bytes>,
    buffered: usize,
    eof: bool,
    error: Option<io::Error>,
    waker: Option<Waker>,
    /// Reading is paused because the buffer is full.
    paused: bool,
    /// The stream's transport, for pausing reads; weak so that dropping the
    /// stream closes the connection.
    transport: Option<Weak<dyn Transport>>,
    /// Client side: the handle from `connection_made`, until the stream
    /// claims it.
    handoff: Option<SharedTransport>,
    /// Client side: the stream exists and has its own handle.
    claimed: bool,
}

#[derive(Default)]
struct Shared {
    read: Mutex<ReadState>,
    limit: usize,
}

impl Shared {
    fn new(limit: usize) -> Arc<Self> {
        Arc::new(Shared {
            read: Mutex::default(),
            limit: limit.max(1),
        })
    }

    fn lock(&self) -> MutexGuard<'_, ReadState> {
        self.read.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn finish(&self, error: Option<io::Error>) {
        let mut st = self.lock();
        st.eof = true;
        if st.error.is_none() {
            st.error = error;
        }
        if let Some(w) = st.waker.take() {
            w.wake();
        }
    }
}

/// The protocol behind a [`TransportStream`]: buffers received data for the
/// reader. It keeps only a weak handle to the transport, so dropping the
/// stream closes the connection.
struct StreamProtocol {
    shared: Arc<Shared>,
    /// Server side: where a new stream is handed to the acceptor.
    accept: Option<mpsc::Sender<TransportStream>>,
}

impl Protocol for StreamProtocol {
    fn connection_made(&mut self, transport: SharedTransport) {
        let mut st = self.shared.lock();
        st.transport = Some(Arc::downgrade(&transport));
        if let Some(accept) = self.accept.take() {
            drop(st);
            let stream = TransportStream {
                shared: Arc::clone(&self.shared),
                transport,
            };
            // A full backlog refuses the connection, as a listen queue would.
            if let Err(
                mpsc::error::TrySendError::Full(stream) | mpsc::error::TrySendError::Closed(stream),
            ) = accept.try_send(stream)
            {
                stream.transport.abort();
            }
        } else if !st.claimed {
            st.handoff = Some(transport);
        }
    }

    fn data_received(&mut self, data: Bytes) {
        let mut st = self.shared.lock();
        st.buffered += data.len();
        st.chunks.push_back(data);
        if st.buffered >= self.shared.limit && !st.paused {
            st.paused = true;
            if let Some(t) = st.transport.as_ref().and_then(Weak::upgrade) {
                t.pause_reading();
            }
        }
        if let Some(w) = st.waker.take() {
            w.wake();
        }
    }

    fn eof_received(&mut self) -> bool {
        self.shared.finish(None);
        // Keep our side open: the user may still write, then shut down.
        true
    }

    fn connection_lost(&mut self, error: Option<Error>) {
        self.shared.finish(error.map(io::Error::from));
    }
}

/// One connection of any backend as a tokio byte stream.
///
/// Reads return what the peer wrote, then `Ok(0)` at EOF (or the error that
/// ended the connection); writes wait while the transport is above its
/// high-water mark. `poll_flush` returns at once (the transport sends in the
/// background); `poll_shutdown` half-closes where the transport can
/// (`write_eof`: TCP, TLS, Unix sockets, MQTT) and closes otherwise. A
/// local queue cannot half-close (as in aiomas): there `shutdown` closes
/// the connection, so what the peer sends after it is never read. Over
/// local queues, shut a stream down once done reading (a client that
/// writes a request, shuts down and then reads the answer reads nothing).
/// Dropping the stream closes the connection.
///
/// ```
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use transport_api::{Address, TransportStream};
///
/// /// Sends "ping" to an echo server of any backend and reads the answer.
/// async fn ping<A: Address>(addr: &A) -> std::io::Result<[u8; 4]> {
///     let mut stream = TransportStream::connect(addr).await?;
///     stream.write_all(b"ping").await?;
///     let mut buf = [0; 4];
///     stream.read_exact(&mut buf).await?;
///     Ok(buf)
/// }
/// ```
pub struct TransportStream {
    shared: Arc<Shared>,
    transport: SharedTransport,
}

impl TransportStream {
    /// Connects to `addr` and returns the connection as a stream.
    ///
    /// # Errors
    ///
    /// Whatever [`Address::create_connection`] returns.
    pub async fn connect<A: Address>(addr: &A) -> Result<Self> {
        Self::connect_with_limit(addr, DEFAULT_READ_LIMIT).await
    }

    /// Like [`connect`](Self::connect), pausing the transport's reading once
    /// `read_limit` bytes wait unread.
    ///
    /// # Errors
    ///
    /// Whatever [`Address::create_connection`] returns.
    pub async fn connect_with_limit<A: Address>(addr: &A, read_limit: usize) -> Result<Self> {
        let shared = Shared::new(read_limit);
        let protocol = StreamProtocol {
            shared: Arc::clone(&shared),
            accept: None,
        };
        let (transport, _) = addr.create_connection(protocol).await?;
        let transport = {
            let mut st = shared.lock();
            st.claimed = true;
            let transport = st
                .handoff
                .take()
                .unwrap_or_else(|| Arc::new(transport) as SharedTransport);
            st.transport = Some(Arc::downgrade(&transport));
            transport
        };
        Ok(TransportStream { shared, transport })
    }

    /// The underlying transport (for peer info, limits, …).
    pub fn transport(&self) -> &SharedTransport {
        &self.transport
    }
}

impl fmt::Debug for TransportStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportStream")
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl AsyncRead for TransportStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut st = this.shared.lock();
        if st.chunks.is_empty() {
            if let Some(err) = st.error.take() {
                return Poll::Ready(Err(err));
            }
            if st.eof {
                return Poll::Ready(Ok(()));
            }
            st.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let state = &mut *st;
        while buf.remaining() > 0 {
            let Some(front) = state.chunks.front_mut() else {
                break;
            };
            let n = front.len().min(buf.remaining());
            buf.put_slice(&front[..n]);
            front.advance(n);
            state.buffered -= n;
            if front.is_empty() {
                state.chunks.pop_front();
            }
        }
        if st.paused && st.buffered <= this.shared.limit / 2 {
            st.paused = false;
            drop(st);
            this.transport.resume_reading();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for TransportStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match self.transport.poll_write_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(e.into())),
            Poll::Ready(Ok(())) => {
                let len = buf.len();
                Poll::Ready(
                    self.transport
                        .write(Bytes::copy_from_slice(buf))
                        .map(|()| len)
                        .map_err(io::Error::from),
                )
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.transport.can_write_eof() {
            match self.transport.write_eof() {
                Ok(()) | Err(Error::Closed) => {}
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        } else {
            self.transport.close();
        }
        Poll::Ready(Ok(()))
    }
}

/// A server whose connections are handed out as [`TransportStream`]s.
#[derive(Debug)]
pub struct StreamListener<S> {
    server: S,
    accepted: mpsc::Receiver<TransportStream>,
}

/// Default number of accepted streams waiting for [`StreamListener::accept`]
/// before new connections are refused.
pub const DEFAULT_BACKLOG: usize = 128;

impl<S: Server> StreamListener<S> {
    /// Serves `addr`; each accepted connection becomes a stream.
    ///
    /// # Errors
    ///
    /// Whatever [`Address::create_server`] returns.
    pub async fn bind<A: Address<Server = S>>(addr: &A) -> Result<Self> {
        Self::bind_with(addr, DEFAULT_BACKLOG, DEFAULT_READ_LIMIT).await
    }

    /// Like [`bind`](Self::bind), with a backlog (streams not yet accepted)
    /// and a per-stream read limit.
    ///
    /// # Errors
    ///
    /// Whatever [`Address::create_server`] returns.
    pub async fn bind_with<A: Address<Server = S>>(
        addr: &A,
        backlog: usize,
        read_limit: usize,
    ) -> Result<Self> {
        let (tx, accepted) = mpsc::channel(backlog.max(1));
        let server = addr
            .create_server(move || StreamProtocol {
                shared: Shared::new(read_limit),
                accept: Some(tx.clone()),
            })
            .await?;
        Ok(StreamListener { server, accepted })
    }

    /// The next accepted connection; `None` once [`close`](Self::close) was
    /// called and every accepted stream was taken.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a stream is never lost.
    pub async fn accept(&mut self) -> Option<TransportStream> {
        self.accepted.recv().await
    }

    /// Closes the server; streams already accepted by it can still be taken
    /// with [`accept`](Self::accept), which then returns `None`.
    pub fn close(&mut self) {
        self.server.close();
        self.accepted.close();
    }

    /// The underlying server.
    pub fn server(&self) -> &S {
        &self.server
    }
}
