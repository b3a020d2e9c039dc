//! [`Channel`]: requests and replies over one connection.

use std::fmt;
use std::future::{poll_fn, Future};
use std::sync::{Arc, Weak};
use std::task::Poll;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use transport_api::{Address, Endpoint};

use super::connect::connect_with_retry;
use super::pending::Reply;
use super::protocol::ChannelProtocol;
use super::shared::Shared;
use super::{
    Bincode, ChannelError, ChannelOptions, Codec, FramedProtocol, MessageKind, Request, Result,
};

/// Closes the connection when the last [`Channel`] handle is dropped.
struct Inner<C: Codec> {
    shared: Arc<Shared<C>>,
}

impl<C: Codec> Drop for Inner<C> {
    fn drop(&mut self) {
        self.shared.close();
        // As in `close`: a peer that does not read gets the close grace to
        // take what was written, then the connection is aborted (else it
        // would stay open, flushing, for as long as the peer wants).
        if self.shared.lost_error().is_none() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let shared = Arc::clone(&self.shared);
                runtime.spawn(async move { shared.wait_closed_within_grace().await });
            }
        }
    }
}

/// A request/reply channel over one connection (aiomas's `Channel`).
///
/// Both ends may send requests: [`request`](Self::request) sends one and
/// waits for its reply (many may be outstanding at once; replies are matched
/// by id, in any order), [`recv`](Self::recv) yields the peer's requests,
/// each answered with [`Request::reply`] or [`Request::fail`].
///
/// Get one from [`open_connection`](Self::open_connection) (client) or in
/// the callback of [`start_server`](Self::start_server). Works over every
/// transport backend: the address type picks it.
///
/// Cheap to clone; clones share the connection, which closes (gracefully)
/// when the last clone, and the last [`Request`] received on it, is dropped,
/// or on [`close`](Self::close).
///
/// # Connection loss
///
/// When the connection is lost (closed by either end, reset, or closed
/// because the peer broke the protocol), every waiting `request` and `recv`
/// fails with [`ChannelError::ConnectionLost`] (`io::ErrorKind::ConnectionReset`),
/// whose [`lost_cause`](ChannelError::lost_cause) says why, and every later
/// call fails the same way at once.
///
/// # Backpressure
///
/// Sending waits until the transport's write buffer is below its high-water
/// mark, so a fast sender cannot grow memory without bound; writers queue in
/// arrival order. At most [`ChannelOptions::max_pending_requests`] of our
/// requests wait for replies at once; more wait for a slot. Received
/// requests that nobody has taken with `recv` yet are bounded by
/// [`ChannelOptions::max_queued_requests`]: at the bound the channel stops
/// reading from the peer until `recv` makes room, so the peer's writes slow
/// down (nothing is refused).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use agentwire::channel::{Channel, ChannelOptions};
/// use transport_api::Server;
/// use transport_local::LocalNetwork;
///
/// let addr = LocalNetwork::new().get_queue("calc")?;
/// let server = Channel::start_server(&addr, |channel: Channel| async move {
///     while let Ok(request) = channel.recv().await {
///         let Ok((a, b)) = request.content::<(i64, i64)>() else { continue };
///         let _ = request.reply(&(a + b)).await;
///     }
/// }, ChannelOptions::new()).await?;
///
/// let channel = Channel::open_connection(&addr, ChannelOptions::new()).await?;
/// let sum: i64 = channel.request(&(1, 2)).await?;
/// assert_eq!(sum, 3);
/// channel.close().await;
/// server.close();
/// # Ok(()) }
/// ```
pub struct Channel<C: Codec = Bincode> {
    inner: Arc<Inner<C>>,
}

/// A [`Channel`] handle that does not keep its connection open.
pub(crate) struct WeakChannel<C: Codec>(Weak<Inner<C>>);

impl<C: Codec> WeakChannel<C> {
    /// The channel, while some strong handle keeps it.
    pub(crate) fn upgrade(&self) -> Option<Channel<C>> {
        self.0.upgrade().map(|inner| Channel { inner })
    }
}

impl<C: Codec> Clone for Channel<C> {
    fn clone(&self) -> Self {
        Channel {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C: Codec> Channel<C> {
    pub(crate) fn from_shared(shared: Arc<Shared<C>>) -> Self {
        Channel {
            inner: Arc::new(Inner { shared }),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<C>> {
        &self.inner.shared
    }

    /// A handle that does not keep the connection open.
    pub(crate) fn downgrade(&self) -> WeakChannel<C> {
        WeakChannel(Arc::downgrade(&self.inner))
    }

    /// Connects to `addr` (aiomas's `open_connection`), retrying a refused
    /// connection for as long as
    /// [`options.connect_timeout`](ChannelOptions::connect_timeout) says: by
    /// default one attempt.
    ///
    /// # Errors
    ///
    /// The transport's error when the connection fails (kind
    /// `ConnectionRefused` when nobody listens, `NotFound` for a missing Unix
    /// socket); after a positive retry timeout,
    /// [`ChannelError::ConnectTimeout`] with the last attempt's error, of the
    /// same kind. Errors other than refused/not found are not retried.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future abandons the attempt (between two
    /// attempts, or inside the backend's connect).
    pub async fn open_connection<A: Address>(addr: &A, options: ChannelOptions<C>) -> Result<Self> {
        let max = options.get_max_frame_size();
        let shared = connect_with_retry(addr, &options, |shared| {
            FramedProtocol::new(ChannelProtocol::client(shared), max)
        })
        .await?;
        Ok(Channel::from_shared(shared))
    }

    /// Starts a server at `addr` (aiomas's `start_server`): for every
    /// connection, `on_channel` is called with its channel, and the future it
    /// returns is spawned on the current tokio runtime.
    ///
    /// Returns the backend's server; [`close`](transport_api::Server::close)
    /// it to stop accepting (established channels go on, as in asyncio).
    ///
    /// # Errors
    ///
    /// The transport's error, e.g. `AddrInUse`.
    pub async fn start_server<A, F, Fut>(
        addr: &A,
        on_channel: F,
        options: ChannelOptions<C>,
    ) -> Result<A::Server>
    where
        A: Address,
        F: Fn(Channel<C>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let on_channel = Arc::new(on_channel);
        let factory = move || {
            let shared = Arc::new(Shared::new(&options));
            let on_channel = Arc::clone(&on_channel);
            let handler = ChannelProtocol::server(
                shared,
                Box::new(move |channel: Channel<C>| {
                    match tokio::runtime::Handle::try_current() {
                        Ok(rt) => {
                            rt.spawn(on_channel(channel));
                        }
                        // No runtime to serve it on: the channel is dropped,
                        // which closes the connection.
                        Err(_) => drop(channel),
                    }
                }),
            );
            FramedProtocol::new(handler, options.get_max_frame_size())
        };
        Ok(addr.create_server(factory).await?)
    }

    /// Sends a request and waits for its reply, decoded as `R`.
    ///
    /// # Errors
    ///
    /// - [`ChannelError::Remote`] if the peer answered with an exception (the
    ///   channel goes on);
    /// - [`ChannelError::Codec`] if `content` cannot be encoded or the reply
    ///   is not a valid `R` (the channel goes on);
    /// - [`ChannelError::FrameTooLarge`] if the encoded request is above the
    ///   maximum frame size (nothing is sent; the channel goes on);
    /// - [`ChannelError::ConnectionLost`] if the connection is or gets lost.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request and frees its slot (see
    /// [`ChannelOptions::max_pending_requests`]). If it was dropped while
    /// waiting for a slot or for the transport to accept writes, nothing was
    /// sent; otherwise the peer may still handle it, and its reply is
    /// discarded when it arrives.
    pub async fn request<T, R>(&self, content: &T) -> Result<R>
    where
        T: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let raw = self.request_raw(content).await?;
        self.shared().codec.decode_content(&raw)
    }

    /// Like [`request`](Self::request), but returns the reply's content still
    /// encoded (decode it with [`Codec::decode_content`]).
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request), except for decoding the reply.
    ///
    /// # Cancel safety
    ///
    /// As [`request`](Self::request).
    pub async fn request_raw<T>(&self, content: &T) -> Result<Bytes>
    where
        T: Serialize + ?Sized,
    {
        let shared = self.shared();
        // A handler's call over its container's connection to itself takes
        // a slot past the window: calls nested that way (an agent calling
        // another of its container, which calls the next, …) would
        // otherwise wait, beyond the window's depth, for slots that only
        // their own callers hold. Their number is bounded by the
        // container's own code, as in aiomas.
        let _slot = if shared.is_loopback() && crate::rpc::serving_loopback() {
            shared.reserve_now()?
        } else {
            shared.reserve().await?
        };
        // An RPC handler waiting here (with a slot of the window) frees its
        // handler slot for other requests meanwhile.
        let _awaiting = crate::rpc::AwaitingReply::enter();
        // The request is registered with this poll's waker; if it is also
        // sent within this poll (nothing waits in between), the reply wakes
        // this very waker, and the first look for it can be skipped.
        let id = poll_fn(|cx| Poll::Ready(shared.start_request(Some(cx.waker())))).await?;
        // Forgets the request if this future is dropped before its reply.
        let mut waiting = Waiting {
            shared,
            id,
            armed: true,
        };
        let frame = shared.encode(MessageKind::Request, id, content)?;
        let mut registered = match shared.try_send(frame)? {
            None => true,
            Some(frame) => {
                shared.send_waiting(frame).await?;
                false
            }
        };
        let reply = poll_fn(|cx| {
            if std::mem::take(&mut registered) {
                Poll::Pending
            } else {
                shared.poll_reply(id, cx)
            }
        })
        .await;
        // Answered (or failed by connection loss): the entry is gone.
        waiting.armed = false;
        let reply = reply?;
        match reply {
            Reply::Result(content) => Ok(content),
            Reply::Exception(text) => {
                let message = shared
                    .codec
                    .decode_content::<String>(&text)
                    .unwrap_or_else(|_| String::from_utf8_lossy(&text).into_owned());
                Err(ChannelError::Remote {
                    origin: shared.origin(),
                    message,
                })
            }
        }
    }

    /// Waits for the peer's next request.
    ///
    /// Requests are delivered in the order they arrived. Only one task may
    /// wait at a time.
    ///
    /// # Errors
    ///
    /// [`ChannelError::RecvBusy`] if another `recv` on this channel is
    /// waiting (that one is not affected);
    /// [`ChannelError::ConnectionLost`] once the connection is lost (requests
    /// still queued then are dropped: they could not be answered).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a request is taken from the queue only when this returns
    /// it.
    pub async fn recv(&self) -> Result<Request<C>> {
        let shared = self.shared();
        shared.begin_recv()?;
        let _busy = Receiving(shared);
        let msg = poll_fn(|cx| shared.poll_recv(cx)).await?;
        Ok(Request::new(self.clone(), msg.id, msg.content))
    }

    /// Closes the connection: what was already written is still sent, then
    /// the connection ends. Returns once it has, when every request still
    /// waiting has failed with [`ChannelError::ConnectionLost`] (cause
    /// [`ChannelError::Closed`]). Later calls fail the same way.
    ///
    /// A peer that does not take what was written within
    /// [`ChannelOptions::close_grace`] (5 s by default) cannot hold it up:
    /// the connection is then aborted (what was not sent is dropped). The
    /// same holds when the last handle is dropped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the close goes on; only the wait is abandoned.
    pub async fn close(&self) {
        let shared = self.shared();
        shared.close();
        shared.wait_closed_within_grace().await;
    }

    /// Returns once the connection is lost, for whatever reason.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn closed(&self) -> ChannelError {
        self.shared().wait_lost().await;
        self.shared()
            .lost_error()
            .unwrap_or_else(|| ChannelError::lost(None))
    }

    /// Whether the connection is lost (or closing).
    pub fn is_closed(&self) -> bool {
        self.shared().check_usable().is_err()
    }

    /// Why the connection was lost, once it was: the error every call now
    /// gets.
    pub fn lost_error(&self) -> Option<ChannelError> {
        self.shared().lost_error()
    }

    /// The codec.
    pub fn codec(&self) -> &C {
        &self.shared().codec
    }

    /// The peer's address (asyncio's `get_extra_info("peername")`).
    pub fn peer_addr(&self) -> Option<Endpoint> {
        self.shared().transport().and_then(|t| t.peer_addr())
    }

    /// Our end's address (asyncio's `get_extra_info("sockname")`).
    pub fn local_addr(&self) -> Option<Endpoint> {
        self.shared().transport().and_then(|t| t.local_addr())
    }

    /// Bytes written to the transport but not yet sent (see
    /// [`Transport::write_buffer_size`](transport_api::Transport::write_buffer_size));
    /// 0 once the connection is lost.
    pub fn write_buffer_size(&self) -> usize {
        self.shared()
            .transport()
            .map_or(0, |t| t.write_buffer_size())
    }

    /// Our requests waiting for their replies (an abandoned request is
    /// forgotten at once).
    pub fn pending_requests(&self) -> usize {
        self.shared().pending_count()
    }

    /// Received requests waiting for [`recv`](Self::recv) (at most
    /// [`ChannelOptions::max_queued_requests`]).
    pub fn queued_requests(&self) -> usize {
        self.shared().queued_count()
    }

    /// Received requests held back because the queue was full when they
    /// arrived (up to 1 MiB of them, then reading pauses, plus what the
    /// transport had already delivered); they move on to the queue as
    /// `recv` makes room.
    pub fn held_requests(&self) -> usize {
        self.shared().held_count()
    }

    /// Aborts the connection: what was not sent yet is dropped, and the
    /// connection is lost at once (the peer sees a reset where the
    /// transport can send one). Returns once it is lost.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn abort(&self) {
        self.shared().abort();
        self.shared().wait_lost().await;
    }
}

/// Forgets a request whose caller stopped waiting for its reply.
struct Waiting<'a, C: Codec> {
    shared: &'a Shared<C>,
    id: u64,
    armed: bool,
}

impl<C: Codec> Drop for Waiting<'_, C> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.cancel_request(self.id);
        }
    }
}

/// Ends a `recv` (normally or by cancellation).
struct Receiving<'a, C: Codec>(&'a Shared<C>);

impl<C: Codec> Drop for Receiving<'_, C> {
    fn drop(&mut self) {
        self.0.end_recv();
    }
}

impl<C: Codec> fmt::Debug for Channel<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.inner.shared, f)
    }
}
