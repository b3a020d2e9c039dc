//! [`Container`]: agents behind one server, and connections to other
//! containers' agents.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::future::join_all;
use transport_api::{AnyServer, Server};
#[cfg(feature = "tls")]
use transport_tcp::TlsAddr;

use super::addr::split_agent_url;
use super::agents::{Registry, RootService};
use super::{
    AgentInfo, ConnectOptions, ContainerAddr, ContainerError, ContainerOptions, IntoContainerAddr,
};
use crate::channel::{Codec, Json};
use crate::clock::Clock;
use crate::rpc::{self, Connection, Proxy, RpcError, Service, WireConfig};

/// One cached connection per remote container, by its URL.
type Slot<C> = Arc<tokio::sync::Mutex<Option<Connection<C>>>>;

pub(crate) struct Inner<C: Codec> {
    addr: ContainerAddr,
    pub(super) url: String,
    options: ContainerOptions<C>,
    pub(super) registry: Arc<Registry<C>>,
    service: Arc<dyn Service<C>>,
    server: Mutex<Option<AnyServer>>,
    outgoing: Mutex<BTreeMap<String, Slot<C>>>,
    /// Serializers and identity of this container's connections.
    pub(super) wire: WireConfig,
}

impl<C: Codec> Drop for Inner<C> {
    /// Without [`Container::shutdown`]: stop accepting, and close every
    /// connection without waiting, so that the dropped container's agents
    /// are no longer served (nor reached by a `connect` to a container
    /// started again on the same address).
    fn drop(&mut self) {
        self.registry.shut_down();
        if let Some(server) = lock(&self.server).take() {
            server.close();
        }
        for conn in self.take_connections() {
            conn.close_now();
        }
    }
}

impl<C: Codec> Inner<C> {
    /// Every connection, made by `connect` or accepted, taken for closing
    /// (the registry tracks them all; the cache only names the ones made
    /// by `connect`, and a `connect` under way may hold its entry).
    fn take_connections(&self) -> Vec<Connection<C>> {
        let cache = std::mem::take(&mut *lock(&self.outgoing));
        drop(cache);
        self.registry.take_tracked()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A container of agents (aiomas's `Container`): a server at one address,
/// the agents registered in it (ids `"0"`, `"1"`, …, URLs
/// `<container URL>/<id>`), and connections to other containers' agents.
///
/// The container serves the root method `validate_aid(aid)` (the agent's
/// class name, or null) and routes `agents/<id>/<method>` to its agents, as
/// aiomas does: a Python aiomas container can connect to it and the other
/// way round (with the default [`Json`] codec, over TCP).
///
/// Cheap to clone. Call [`shutdown`](Self::shutdown) when done: it closes
/// the server and every connection, and waits for them. (Dropping the
/// last handle closes them too, without waiting.)
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::convert::Infallible;
/// use agentwire::{Container, ContainerOptions, Router};
/// use transport_local::LocalNetwork;
///
/// let net = LocalNetwork::new();
/// let options = ContainerOptions::new().local_network(net.clone());
/// let a = Container::create_with("local://a", options.clone()).await?;
/// let b = Container::create_with("local://b", options).await?;
/// let calc = b.register("Calc", Router::new()
///     .method("add", |(x, y): (i64, i64)| async move { Ok::<_, Infallible>(x + y) }))?;
/// assert_eq!(calc.url(), "local://b/0");
///
/// let proxy = a.connect(calc.url()).await?;
/// assert_eq!(proxy.class_name(), Some("Calc"));
/// assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await?, 3);
/// a.shutdown().await;
/// b.shutdown().await;
/// # Ok(()) }
/// ```
pub struct Container<C: Codec = Json> {
    pub(super) inner: Arc<Inner<C>>,
}

impl<C: Codec> Clone for Container<C> {
    fn clone(&self) -> Self {
        Container {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl Container<Json> {
    /// Starts a container at `addr` with the default options ([`Json`],
    /// one connection attempt per `connect`, the process-wide local
    /// network). `addr` is any backend's [`Address`](transport_api::Address)
    /// or a URL, socket address or path: see [`IntoContainerAddr`]. For TCP
    /// port 0, the system picks a port and the container's URLs carry it.
    ///
    /// # Errors
    ///
    /// [`ContainerError::InvalidAddress`] naming a malformed address or URL
    /// (an unknown scheme; a `tls://` URL without
    /// [`ContainerOptions::tls_server_config`]);
    /// [`ContainerError::Bind`] if the server cannot start (kind
    /// `AddrInUse`, …).
    pub async fn create<M>(addr: impl IntoContainerAddr<M>) -> Result<Self, ContainerError> {
        Container::create_with(addr, ContainerOptions::new()).await
    }
}

impl<C: Codec> Container<C> {
    /// Starts a container at `addr` with `options`.
    ///
    /// # Errors
    ///
    /// As [`create`](Container::create).
    pub async fn create_with<M>(
        addr: impl IntoContainerAddr<M>,
        options: ContainerOptions<C>,
    ) -> Result<Self, ContainerError> {
        let addr = addr.into_container_addr(options.get_schemes())?;
        #[cfg(feature = "tls")]
        check_tls_server(&addr)?;
        let registry = Arc::new(Registry::new());
        let service: Arc<dyn Service<C>> = Arc::new(RootService::new(Arc::clone(&registry)));
        let wire = WireConfig {
            serializers: Arc::new(options.wire_serializers()),
            home: next_container_id(),
        };
        let (server, real) = bind(&addr, &service, &registry, &options, &wire).await?;
        Ok(Container {
            inner: Arc::new(Inner {
                url: real.to_string(),
                addr: real,
                options,
                registry,
                service,
                server: Mutex::new(Some(server)),
                outgoing: Mutex::new(BTreeMap::new()),
                wire,
            }),
        })
    }

    pub(crate) fn from_inner(inner: Arc<Inner<C>>) -> Self {
        Container { inner }
    }

    /// The container's address (for TCP port 0, with the real port);
    /// [`downcast_ref`](transport_api::AnyAddress::downcast_ref) gives the
    /// backend's own address type.
    pub fn addr(&self) -> &ContainerAddr {
        &self.inner.addr
    }

    /// The container's URL (`tcp://127.0.0.1:5555`); agent URLs are this,
    /// `/`, and the agent id.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The options.
    pub fn options(&self) -> &ContainerOptions<C> {
        &self.inner.options
    }

    /// The container's clock (aiomas's `container.clock`): what its agents
    /// sleep on; real time unless [`ContainerOptions::clock`] set another.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        self.inner.options.get_clock()
    }

    /// Registers an agent: `service` (usually a [`Router`](crate::Router))
    /// answers its methods, `class_name` is what `validate_aid` returns for
    /// it. Agents get ids `"0"`, `"1"`, … in order of registration.
    ///
    /// # Errors
    ///
    /// [`ContainerError::ShutDown`] after [`shutdown`](Self::shutdown).
    pub fn register(
        &self,
        class_name: impl Into<String>,
        service: impl Service<C>,
    ) -> Result<AgentInfo, ContainerError> {
        if self.inner.registry.is_shut_down() {
            return Err(ContainerError::ShutDown);
        }
        let class_name = class_name.into();
        let id = self
            .inner
            .registry
            .add(class_name.clone(), Arc::new(service));
        Ok(AgentInfo::new(
            format!("{}/{id}", self.inner.url),
            id,
            class_name,
        ))
    }

    /// How many agents are registered.
    pub fn agent_count(&self) -> usize {
        self.inner.registry.agent_count()
    }

    /// Connects to the agent at `url` (`tcp://127.0.0.1:5555/0`, …) and
    /// returns a proxy for it; the URL's scheme picks the backend (see
    /// [`Schemes`](super::Schemes)), after checking with the remote container's
    /// `validate_aid` that the agent exists (aiomas's `connect`). Retries a
    /// refused connection as [`ContainerOptions::connect_timeout`] says.
    ///
    /// There is one connection per remote container: proxies to agents of
    /// the same container share it, and it is made again if it was lost.
    /// The remote container can call this one's agents over it too.
    ///
    /// # Errors
    ///
    /// [`ContainerError::InvalidAddress`] for a malformed URL, an unknown
    /// scheme, or a `tls://` URL without a TLS client configuration;
    /// [`ContainerError::Connect`] if the remote container cannot be reached
    /// (kind `ConnectionRefused`, …; a refused TLS handshake is kind
    /// `InvalidData`, and a client certificate that a TLS 1.3 server refuses
    /// after the handshake is a lost connection, kind `ConnectionReset`;
    /// both with a message saying why) or `validate_aid` fails;
    /// [`ContainerError::AgentNotFound`] if it has no such agent;
    /// [`ContainerError::ShutDown`] after [`shutdown`](Self::shutdown),
    /// also when the shutdown began while this call was under way.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a connection made before the future was dropped stays
    /// cached.
    pub async fn connect(&self, url: &str) -> Result<Proxy<C>, ContainerError> {
        self.connect_with_timeout(url, self.inner.options.get_connect_timeout())
            .await
    }

    /// Like [`connect`](Self::connect), with its own retry timeout
    /// (`Some(Duration::ZERO)`: one attempt; `None`: forever).
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    ///
    /// # Cancel safety
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_with_timeout(
        &self,
        url: &str,
        timeout: Option<Duration>,
    ) -> Result<Proxy<C>, ContainerError> {
        self.connect_with(url, &ConnectOptions::new().timeout(timeout))
            .await
    }

    /// Like [`connect`](Self::connect), with [`ConnectOptions`] that differ
    /// from the container's: its own retry timeout, its own TLS client
    /// configuration (say, another certificate for this peer). They apply
    /// when the connection is made; a cached connection to the same remote
    /// container is reused as it is.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    ///
    /// # Cancel safety
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_with(
        &self,
        url: &str,
        options: &ConnectOptions,
    ) -> Result<Proxy<C>, ContainerError> {
        if self.is_shut_down() {
            return Err(ContainerError::ShutDown);
        }
        let timeout = options
            .get_timeout()
            .unwrap_or_else(|| self.inner.options.get_connect_timeout());
        let (base, aid) = split_agent_url(url)?;
        let addr = self.remote_addr(base, options)?;
        let failed = |source| ContainerError::Connect {
            url: url.to_owned(),
            source,
        };
        let mut conn = self.connection(&addr, timeout).await.map_err(failed)?;
        let checked = conn.call::<_, Option<String>>("validate_aid", (aid,)).await;
        // A shutdown that began meanwhile closed the connection (or is
        // closing it): no proxy that is dead on arrival, no reconnecting.
        if self.is_shut_down() {
            return Err(ContainerError::ShutDown);
        }
        let class = match checked {
            // The cached connection turned out dead (the remote container
            // restarted, say): once more on a fresh one.
            Err(e) if e.is_connection() => {
                self.forget(&addr, &conn);
                conn = self.connection(&addr, timeout).await.map_err(failed)?;
                conn.call::<_, Option<String>>("validate_aid", (aid,))
                    .await
                    .map_err(failed)?
            }
            other => other.map_err(failed)?,
        };
        if self.is_shut_down() {
            return Err(ContainerError::ShutDown);
        }
        match class {
            Some(class) => Ok(conn
                .proxy(format!("agents/{aid}"))
                .with_agent(url.to_owned(), class)),
            None => Err(ContainerError::AgentNotFound {
                url: url.to_owned(),
                aid: aid.to_owned(),
            }),
        }
    }

    /// The address of the remote container at `base`, by its scheme; for
    /// TLS, with the client configuration of `options`, else of the
    /// container's options, else of its own `TlsAddr`.
    fn remote_addr(
        &self,
        base: &str,
        options: &ConnectOptions,
    ) -> Result<ContainerAddr, ContainerError> {
        let addr = self.inner.options.get_schemes().resolve(base)?;
        #[cfg(feature = "tls")]
        if let Some(tls) = addr.downcast_ref::<TlsAddr>() {
            let own = self.inner.addr.downcast_ref::<TlsAddr>();
            let config = options
                .get_tls_client_config()
                .or(tls.client_config())
                .or(own.and_then(TlsAddr::client_config));
            let Some(config) = config else {
                return Err(ContainerError::invalid(
                    base,
                    "no TLS client configuration to connect with: set \
                     ContainerOptions::tls_client_config or ConnectOptions::tls_client_config",
                ));
            };
            let with = tls.clone().with_client_config(Arc::clone(config));
            return Ok(ContainerAddr::new(with));
        }
        #[cfg(not(feature = "tls"))]
        let _ = options; // only TLS has per-connect address settings
        Ok(addr)
    }

    /// The cached connection to the container at `addr`, made if needed.
    async fn connection(
        &self,
        addr: &ContainerAddr,
        timeout: Option<Duration>,
    ) -> Result<Connection<C>, RpcError> {
        let shut = || RpcError::Connection {
            source: crate::channel::ChannelError::lost(Some(crate::channel::ChannelError::Closed)),
        };
        if self.inner.registry.is_shut_down() {
            return Err(shut());
        }
        let key = addr.to_string();
        let entry = Arc::clone(lock(&self.inner.outgoing).entry(key.clone()).or_default());
        // However this ends without a connection (an error, or the caller
        // giving up), no entry stays behind for an address that was never
        // reached: URLs to connect to may come from peers. Declared before
        // `slot`, so that it runs once the slot is unlocked.
        let _cleanup = EmptySlotCleanup {
            container: self,
            key: &key,
            entry: &entry,
        };
        let mut slot = entry.lock().await;
        if self.inner.registry.is_shut_down() {
            // What the entry holds is tracked: the shutdown closes it.
            return Err(shut());
        }
        if let Some(conn) = &*slot {
            if !conn.is_closed() {
                return Ok(conn.clone());
            }
        }
        let options = self
            .inner
            .options
            .get_channel_options()
            .clone()
            .connect_timeout(timeout);
        let service = Arc::clone(&self.inner.service);
        // A shutdown ends the attempts (which may retry without end).
        let opened = tokio::select! {
            biased;
            () = self.inner.registry.wait_shut_down() => Err(shut()),
            conn = Connection::open_with(addr, service, options, &self.inner.wire) => conn,
        };
        let conn = opened?;
        // Kept for shutdown, unless it began: then closed here. (The
        // cache alone would not do: a shutdown skips the entries that a
        // `connect` holds, as this one is held.)
        if !self.inner.registry.track(conn.clone()) {
            conn.close().await;
            return Err(shut());
        }
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Removes the cache entry `entry` of `key` if it holds no connection
    /// and nobody else holds it (others take it only under the map's lock).
    fn drop_empty_slot(&self, key: &str, entry: &Slot<C>) {
        let mut outgoing = lock(&self.inner.outgoing);
        let ours = outgoing.get(key).is_some_and(|e| Arc::ptr_eq(e, entry));
        if ours
            && Arc::strong_count(entry) == 2
            && entry.try_lock().is_ok_and(|conn| conn.is_none())
        {
            outgoing.remove(key);
        }
    }

    /// Forgets the cached connection `conn` to the container at `addr`
    /// (if it is still the cached one).
    fn forget(&self, addr: &ContainerAddr, conn: &Connection<C>) {
        let slot = lock(&self.inner.outgoing).get(&addr.to_string()).cloned();
        if let Some(slot) = slot {
            if let Ok(mut slot) = slot.try_lock() {
                if slot.as_ref().is_some_and(|c| c.ptr_eq(conn)) {
                    *slot = None;
                }
            }
        }
    }

    /// Shuts the container down (aiomas's `shutdown`): closes the server and
    /// every connection, incoming and outgoing, and returns once they are
    /// closed. Calls still in flight on them fail with
    /// [`RpcError::Connection`], here and at the peers, and the handlers
    /// still running end with their connections. Later `connect` and
    /// `register` calls fail with [`ContainerError::ShutDown`]. Idempotent.
    ///
    /// Never waits on a peer for long: connections get the
    /// [`shutdown_grace`](ContainerOptions::shutdown_grace) period (default
    /// one second) to flush what was written to them; those still open then
    /// (a peer that does not read, say) are aborted. A second call while
    /// the first is under way returns when the first does.
    pub async fn shutdown(&self) {
        let registry = &self.inner.registry;
        if !registry.shut_down() {
            registry.wait_shut_down_done().await;
            return;
        }
        /// Marks the work done however the first call ends (also if its
        /// future is dropped), so later calls never wait for nothing.
        struct Done<'a, C: Codec>(&'a Registry<C>);
        impl<C: Codec> Drop for Done<'_, C> {
            fn drop(&mut self) {
                self.0.shut_down_done();
            }
        }
        let _done = Done(registry);
        let server = lock(&self.inner.server).take();
        if let Some(server) = &server {
            server.close();
        }
        let conns = self.inner.take_connections();
        let grace = self.inner.options.get_shutdown_grace();
        let closed = join_all(conns.iter().map(|c| c.close()));
        if tokio::time::timeout(grace, closed).await.is_err() {
            let aborted = join_all(conns.iter().map(|c| c.abort()));
            // Aborting needs no peer; bound it all the same.
            let _ = tokio::time::timeout(grace, aborted).await;
        }
        if let Some(server) = &server {
            let _ = tokio::time::timeout(grace, server.wait_closed()).await;
        }
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shut_down(&self) -> bool {
        self.inner.registry.is_shut_down()
    }
}

/// Starts the container's RPC server at `addr`; returns it and its real
/// address.
async fn bind<C: Codec>(
    addr: &ContainerAddr,
    service: &Arc<dyn Service<C>>,
    registry: &Arc<Registry<C>>,
    options: &ContainerOptions<C>,
    wire: &WireConfig,
) -> Result<(AnyServer, ContainerAddr), ContainerError> {
    let reg = Arc::clone(registry);
    let on_connection = move |conn: Connection<C>| {
        if !reg.track(conn.clone()) {
            // Accepted while shutting down.
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { conn.close().await });
            }
        }
    };
    let server = rpc::start_server_with(
        addr,
        Arc::clone(service),
        options.get_channel_options().clone(),
        wire.clone(),
        on_connection,
    )
    .await
    .map_err(|source| ContainerError::Bind {
        addr: addr.to_string(),
        source,
    })?;
    let real = server.addr();
    Ok((server, real))
}

/// A TLS container needs a server configuration: say so, naming the
/// address, before trying to bind.
#[cfg(feature = "tls")]
fn check_tls_server(addr: &ContainerAddr) -> Result<(), ContainerError> {
    match addr.downcast_ref::<TlsAddr>() {
        Some(tls) if tls.server_config().is_none() => Err(ContainerError::invalid(
            &addr.to_string(),
            "a TLS container needs a server configuration: set \
             ContainerOptions::tls_server_config or TlsAddr::with_server_config",
        )),
        _ => Ok(()),
    }
}

impl<C: Codec> fmt::Debug for Container<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Container")
            .field("url", &self.inner.url)
            .field("agents", &self.inner.registry.agent_count())
            .field("shut_down", &self.inner.registry.is_shut_down())
            .finish()
    }
}

/// Removes a cache entry left empty when dropped (see
/// [`Container::connection`]).
struct EmptySlotCleanup<'a, C: Codec> {
    container: &'a Container<C>,
    key: &'a str,
    entry: &'a Slot<C>,
}

impl<C: Codec> Drop for EmptySlotCleanup<'_, C> {
    fn drop(&mut self) {
        self.container.drop_empty_slot(self.key, self.entry);
    }
}

/// A new container's id (never 0, which is "no container").
fn next_container_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ContainerOptions;
    use transport_local::LocalNetwork;

    use crate::container::agents::MIN_PRUNE_AT as MIN_TRACKED;

    /// Connecting to addresses nobody serves leaves no cache entries behind
    /// (their number would grow with every URL tried).
    #[tokio::test]
    async fn failed_connects_leave_no_cache_entries() {
        let options = ContainerOptions::new().local_network(LocalNetwork::new());
        let a = Container::create_with("local://a", options)
            .await
            .expect("starts");
        for i in 0..100 {
            let url = format!("local://nobody-{i}/0");
            assert!(a.connect(&url).await.is_err());
        }
        assert_eq!(lock(&a.inner.outgoing).len(), 0);
        // Nor do connects given up on while they retry.
        let forever = ConnectOptions::new().timeout(None);
        for i in 0..100 {
            let url = format!("local://later-{i}/0");
            let connect = a.connect_with(&url, &forever);
            let given_up = tokio::time::timeout(Duration::from_millis(1), connect).await;
            assert!(given_up.is_err(), "still retrying");
        }
        assert_eq!(lock(&a.inner.outgoing).len(), 0);
        let b = a.register("B", crate::Router::new()).expect("register");
        a.connect(b.url()).await.expect("connects to itself");
        assert_eq!(lock(&a.inner.outgoing).len(), 1);
        a.shutdown().await;
    }

    /// Connections kept for shutdown are forgotten once closed: their
    /// number stays within twice the open ones (plus a small floor),
    /// however many came and went.
    #[tokio::test]
    async fn closed_connections_are_not_kept_for_shutdown() {
        let net = LocalNetwork::new();
        let options = ContainerOptions::new().local_network(net.clone());
        let a = Container::create_with("local://keeper", options.clone())
            .await
            .expect("starts");
        let mut most = 0;
        for i in 0..300 {
            let b = Container::create_with(&format!("local://gone-{i}"), options.clone())
                .await
                .expect("starts");
            let agent = b.register("B", crate::Router::new()).expect("register");
            a.connect(agent.url()).await.expect("connects");
            b.shutdown().await;
            most = most.max(a.inner.registry.tracked_count());
        }
        assert!(most <= 2 * MIN_TRACKED + 1, "kept {most}");
        a.shutdown().await;
    }
}
