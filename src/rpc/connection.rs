//! [`Connection`]: one channel that serves a [`Service`] and makes calls,
//! and [`start_server`].

use std::fmt;
use std::sync::{Arc, Weak};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::task::AbortHandle;
use transport_api::Address;

use super::args::{ArgsSer, NoKwargs};
use super::serve::serve;
use super::wire::{with_wire, InWire, Wire};
use super::Serializers;
use super::{Args, Proxy, RpcError, Service};
use crate::channel::{Channel, ChannelOptions, Codec, Json};

pub(crate) struct Inner<C: Codec> {
    channel: Channel<C>,
    /// The serving loop of a connection we opened: it ends with the last
    /// handle (a server's loop owns a handle itself and ends with the peer).
    serving: Option<AbortHandle>,
    /// What encoding and decoding this connection's values needs.
    wire: Arc<Wire>,
}

impl<C: Codec> Drop for Inner<C> {
    fn drop(&mut self) {
        if let Some(task) = &self.serving {
            // Close first: the aborted loop drops its handlers' requests,
            // and on a channel still open each would answer the peer
            // "dropped without a reply" (a remote error) instead of the
            // connection error a close gives the peer's calls.
            self.channel.shared().close();
            task.abort();
        }
    }
}

/// An RPC connection (aiomas's `rpc` connection): it serves a [`Service`]
/// to the peer and calls the peer's, both over one [`Channel`], so both
/// ends can call each other.
///
/// Calls are `[path, args, kwargs]` requests (aiomas's format; with the
/// [`Json`] codec, byte for byte). Many may be in flight at once, both ways.
///
/// A received call's handler starts where the call arrives, in the
/// connection's driver task, and most finish there at once; one that has
/// to wait goes on in the connection's serving task. At most
/// [`max_concurrent_requests`](ChannelOptions::max_concurrent_requests)
/// wait at once; at that limit the connection stops reading from the peer
/// until a handler finishes, so a flood slows the peer down instead of
/// growing our memory. (A handler that blocks its thread therefore stalls
/// its connection's reading too: run blocking work with
/// `tokio::task::spawn_blocking`.) Handlers belong to the connection: when it is lost they are
/// dropped. A handler that fails or panics answers with an error reply
/// (naming the panic), and the connection goes on.
///
/// Cheap to clone. A connection made with [`open`](Self::open) or
/// [`new`](Self::new) closes when its last handle (including
/// [`Proxy`]s) is dropped, or on [`close`](Self::close); one accepted by
/// [`start_server`] lives until either end closes it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::convert::Infallible;
/// use std::sync::{Arc, Weak};
/// use agentwire::channel::{ChannelOptions, Json};
/// use agentwire::rpc::{self, Connection, Router};
/// use transport_local::LocalNetwork;
///
/// let addr = LocalNetwork::new().get_queue("calc")?;
/// let router: Router = Router::new()
///     .method("add", |(a, b): (i64, i64)| async move { Ok::<_, Infallible>(a + b) });
/// let options = ChannelOptions::new().codec(Json);
/// let _server = rpc::start_server(&addr, Arc::new(router), options.clone(), |_| {}).await?;
///
/// let conn = Connection::open(&addr, Arc::new(Router::<Json>::new()), options).await?;
/// assert_eq!(conn.call::<_, i64>("add", (1, 2)).await?, 3);
/// let err = conn.call::<_, i64>("nope", ()).await.unwrap_err();
/// assert!(err.is_remote());
/// # Ok(()) }
/// ```
pub struct Connection<C: Codec = Json> {
    inner: Arc<Inner<C>>,
}

impl<C: Codec> Clone for Connection<C> {
    fn clone(&self) -> Self {
        Connection {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C: Codec> Connection<C> {
    /// Serves `service` on `channel` (in a task on the current runtime) and
    /// makes calls over it.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn new(channel: Channel<C>, service: Arc<dyn Service<C>>) -> Self {
        Connection::with_wire(channel, service, &WireConfig::default())
    }

    /// [`new`](Self::new) with `config`'s serializers and agents.
    pub(crate) fn with_wire(
        channel: Channel<C>,
        service: Arc<dyn Service<C>>,
        config: &WireConfig,
    ) -> Self {
        let inner = Arc::new_cyclic(|weak: &Weak<Inner<C>>| {
            let wire = config.wire(weak.clone());
            let task = tokio::spawn(serve(channel.clone(), service, Arc::clone(&wire)));
            Inner {
                channel,
                serving: Some(task.abort_handle()),
                wire,
            }
        });
        Connection { inner }
    }

    /// Connects to `addr` (retrying as `options` say), serving `service` to
    /// the peer.
    ///
    /// # Errors
    ///
    /// [`RpcError::Connection`] with the channel's error: kind
    /// `ConnectionRefused` when nobody listens, `NotFound` for a missing Unix
    /// socket, …
    pub async fn open<A: Address>(
        addr: &A,
        service: Arc<dyn Service<C>>,
        options: ChannelOptions<C>,
    ) -> Result<Self, RpcError> {
        Connection::open_with(addr, service, options, &WireConfig::default()).await
    }

    /// [`open`](Self::open) with `config`'s serializers and agents.
    pub(crate) async fn open_with<A: Address>(
        addr: &A,
        service: Arc<dyn Service<C>>,
        options: ChannelOptions<C>,
        config: &WireConfig,
    ) -> Result<Self, RpcError> {
        let channel = Channel::open_connection(addr, options)
            .await
            .map_err(|source| RpcError::Connection { source })?;
        Ok(Connection::with_wire(channel, service, config))
    }

    /// Calls `path` with positional `args` (a tuple, see [`Args`]) and no
    /// keyword arguments, and decodes the result as `R`.
    ///
    /// # Errors
    ///
    /// [`RpcError::Remote`] if the peer answered with an error (unknown
    /// path, bad arguments, the handler's error); [`RpcError::Connection`]
    /// if the connection is or gets lost; [`RpcError::Encode`] /
    /// [`RpcError::Decode`] if the arguments / result do not fit.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the call; the peer may still run it.
    pub async fn call<A: Args + Send, R: DeserializeOwned>(
        &self,
        path: &str,
        args: A,
    ) -> Result<R, RpcError> {
        self.call_with_kwargs(path, args, &NoKwargs).await
    }

    /// Like [`call`](Self::call), with keyword arguments: `kwargs` must
    /// serialize as a map (a struct or a map), as aiomas's `**kwargs`.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    ///
    /// # Cancel safety
    ///
    /// As [`call`](Self::call).
    pub async fn call_with_kwargs<A, K, R>(
        &self,
        path: &str,
        args: A,
        kwargs: &K,
    ) -> Result<R, RpcError>
    where
        A: Args + Send,
        K: Serialize + Sync + ?Sized,
        R: DeserializeOwned,
    {
        let channel = &self.inner.channel;
        let wire = &self.inner.wire;
        let content = (path, ArgsSer(&args), kwargs);
        let raw = channel
            .request_raw(&InWire {
                wire,
                value: &content,
            })
            .await
            .map_err(|e| RpcError::from_call(path, e))?;
        with_wire(wire, || channel.codec().decode_content(&raw)).map_err(|source| {
            RpcError::Decode {
                path: path.to_owned(),
                source,
            }
        })
    }

    /// A proxy for the methods under `prefix` (`"agents/0"`: its `add` is
    /// `agents/0/add`; `""`: the root).
    pub fn proxy(&self, prefix: impl Into<String>) -> Proxy<C> {
        Proxy::new(self.clone(), prefix.into())
    }

    /// The channel underneath.
    pub fn channel(&self) -> &Channel<C> {
        &self.inner.channel
    }

    /// Closes the connection; calls waiting on either side fail with a
    /// connection error. Returns once it is closed.
    pub async fn close(&self) {
        self.inner.channel.close().await;
    }

    /// Whether the connection is lost or closing (here, or by the peer:
    /// a connection the peer closed counts as closed before its loss is
    /// delivered).
    pub fn is_closed(&self) -> bool {
        self.inner.channel.is_closed()
    }

    /// Starts closing the connection, as [`close`](Self::close) does,
    /// without waiting for it to end.
    pub(crate) fn close_now(&self) {
        self.inner.channel.shared().close();
    }

    /// Aborts the connection (unsent data is dropped); returns once it is
    /// lost. Calls waiting on either side fail with a connection error.
    pub async fn abort(&self) {
        self.inner.channel.abort().await;
    }

    /// How many of the peer's calls this connection is handling now (those
    /// whose handler had to wait; one that finishes at once is never
    /// counted).
    pub fn running_handlers(&self) -> usize {
        self.inner.channel.shared().running_counts().0
    }

    /// The most calls this connection ever handled at once.
    pub fn peak_running_handlers(&self) -> usize {
        self.inner.channel.shared().running_counts().1
    }

    /// Whether `self` and `other` are handles to the same connection.
    pub fn ptr_eq(&self, other: &Connection<C>) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The peer's address as a URL, if known.
    pub fn peer_url(&self) -> Option<String> {
        self.inner.channel.peer_addr().map(|e| e.to_string())
    }
}

/// Starts an RPC server at `addr`: every accepted connection serves
/// `service`, and `on_connection` gets it (to call the peer back, or keep
/// track of it) before the first call is handled.
///
/// # Errors
///
/// [`RpcError::Connection`] with the transport's error, e.g. `AddrInUse`.
pub async fn start_server<A, C, F>(
    addr: &A,
    service: Arc<dyn Service<C>>,
    options: ChannelOptions<C>,
    on_connection: F,
) -> Result<A::Server, RpcError>
where
    A: Address,
    C: Codec,
    F: Fn(Connection<C>) + Send + Sync + 'static,
{
    start_server_with(addr, service, options, WireConfig::default(), on_connection).await
}

/// [`start_server`] with `config`'s serializers and agents.
pub(crate) async fn start_server_with<A, C, F>(
    addr: &A,
    service: Arc<dyn Service<C>>,
    options: ChannelOptions<C>,
    config: WireConfig,
    on_connection: F,
) -> Result<A::Server, RpcError>
where
    A: Address,
    C: Codec,
    F: Fn(Connection<C>) + Send + Sync + 'static,
{
    let on_channel = move |channel: Channel<C>| {
        let inner = Arc::new_cyclic(|weak: &Weak<Inner<C>>| Inner {
            channel: channel.clone(),
            serving: None,
            wire: config.wire(weak.clone()),
        });
        let wire = Arc::clone(&inner.wire);
        let conn = Connection { inner };
        on_connection(conn.clone());
        let service = Arc::clone(&service);
        async move {
            serve(channel, service, wire).await;
            drop(conn);
        }
    };
    Channel::start_server(addr, on_channel, options)
        .await
        .map_err(|source| RpcError::Connection { source })
}

impl<C: Codec> fmt::Debug for Connection<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("channel", &self.inner.channel)
            .finish()
    }
}

/// The serializers and agents of the connections a container (or a plain
/// RPC user) makes.
#[derive(Clone, Default)]
pub(crate) struct WireConfig {
    pub(crate) serializers: Arc<Serializers>,
    /// The container whose agents the connections serve (0: none).
    pub(crate) home: u64,
}

impl WireConfig {
    fn wire<C: Codec>(&self, conn: Weak<Inner<C>>) -> Arc<Wire> {
        Arc::new(Wire {
            serializers: Arc::clone(&self.serializers),
            home: self.home,
            conn: Box::new(conn),
        })
    }
}

impl<C: Codec> Connection<C> {
    /// The connection whose handler is running on this thread (the one
    /// calling this), if any.
    pub(crate) fn serving_now() -> Option<Connection<C>> {
        Connection::of_wire(&*super::serve::serving_wire()?)
    }

    /// The connection of a wire (see [`Wire::conn`]).
    pub(crate) fn of_wire(wire: &Wire) -> Option<Connection<C>> {
        let weak = wire.conn.downcast_ref::<Weak<Inner<C>>>()?;
        Some(Connection {
            inner: weak.upgrade()?,
        })
    }
}
