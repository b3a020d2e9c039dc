//! [`Container`]: agents behind one server, and connections to other
//! containers' agents.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::future::join_all;
use transport_api::{AnyServer, Server};
#[cfg(feature = "tls")]
use transport_tcp::TlsAddr;

use super::agents::{Registry, RootService};
use super::connect::Cache;
use super::{AgentInfo, ContainerAddr, ContainerError, ContainerOptions, IntoContainerAddr};
use crate::channel::{Codec, Json};
use crate::clock::Clock;
use crate::rpc::{self, Connection, Service, WireConfig};

pub(crate) struct Inner<C: Codec> {
    pub(super) addr: ContainerAddr,
    pub(super) url: String,
    pub(super) options: ContainerOptions<C>,
    pub(super) registry: Arc<Registry<C>>,
    pub(super) service: Arc<dyn Service<C>>,
    server: Mutex<Option<AnyServer>>,
    pub(super) outgoing: Mutex<Cache<C>>,
    /// Serializers and identity of this container's connections.
    pub(super) wire: WireConfig,
}

impl<C: Codec> Drop for Inner<C> {
    /// Without [`Container::shutdown`]: stop accepting, and close every
    /// connection without waiting, so that the dropped container's agents
    /// are no longer served (nor reached by a `connect` to a container
    /// started again on the same address).
    ///
    /// The connections start closing before the address is given up: once
    /// a container can start there again (on another thread, at once), no
    /// call through the dropped one's connections is answered any more.
    /// (One accepted meanwhile is refused: the registry is shut down.)
    fn drop(&mut self) {
        self.registry.shut_down();
        for conn in self.take_connections() {
            conn.close_now();
        }
        if let Some(server) = lock(&self.server).take() {
            server.close();
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

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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
/// Its agents reach each other through the container's connection to its
/// own address, as in aiomas. That connection carries only the
/// container's own calls, so the bounds that protect it from peers do not
/// hold up the calls its handlers make over it: agents of one container
/// may call each other nested as deep and as wide as their code does.
/// (The container shows both ends that they are its own with a one-time
/// random token, root method `agentwire_loopback`; a peer that calls it
/// gets `false`.)
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
                outgoing: Mutex::default(),
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

    /// Shuts the container down (aiomas's `shutdown`): closes the server and
    /// every connection, incoming and outgoing, and returns once they are
    /// closed. Calls still in flight on them fail with
    /// [`RpcError::Connection`](crate::rpc::RpcError::Connection), here and at the peers, and the handlers
    /// still running end with their connections. Later `connect` and
    /// `register` calls fail with [`ContainerError::ShutDown`]. Idempotent.
    ///
    /// Never waits on a peer for long: connections get the
    /// [`shutdown_grace`](ContainerOptions::shutdown_grace) period (default
    /// one second) to flush what was written to them; those still open then
    /// (a peer that does not read, say) are aborted. A second call while
    /// the first is under way returns when the first does.
    ///
    /// Called by a handler answering on one of the container's connections,
    /// it closes that connection last, right after it has returned: the
    /// handler goes on (and its answer may still reach the caller) instead
    /// of ending with its connection in the middle of this call. Later
    /// calls return once that connection is closed too.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped before it returns, the first call's work goes
    /// on in a task of its own (bounded by twice the grace period), and
    /// later calls still return only once it is done.
    pub async fn shutdown(&self) {
        let registry = &self.inner.registry;
        if !registry.shut_down() {
            registry.wait_shut_down_done().await;
            return;
        }
        let mut conns = self.inner.take_connections();
        // Called by a handler of one of them: that one is closed last,
        // after this call returns (closing it here would drop the handler,
        // and this call with it, before it returns).
        let own = Connection::<C>::serving_now()
            .and_then(|me| conns.iter().position(|c| c.ptr_eq(&me)))
            .map(|i| conns.swap_remove(i));
        // The others start closing before the address is given up, as when
        // a container is dropped: a container started there again never
        // finds this one still answering on them.
        for conn in &conns {
            conn.close_now();
        }
        let server = lock(&self.inner.server).take();
        if let Some(server) = &server {
            server.close();
        }
        let in_handler = own.is_some();
        let grace = self.inner.options.get_shutdown_grace();
        let mut rest = Unfinished {
            conns,
            own,
            server,
            grace,
            done: Some(ShutDownDone(Arc::clone(registry))),
        };
        close_within(&rest.conns, grace).await;
        rest.conns.clear();
        if in_handler {
            // `rest` closes the handler's connection in a task of its own.
            return;
        }
        if let Some(server) = &rest.server {
            let _ = tokio::time::timeout(grace, server.wait_closed()).await;
        }
        rest.done.take();
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shut_down(&self) -> bool {
        self.inner.registry.is_shut_down()
    }
}

/// Marks a shutdown's work done however it ends (also if the future doing
/// it is dropped), so that later `shutdown` calls never wait for nothing.
struct ShutDownDone<C: Codec>(Arc<Registry<C>>);

impl<C: Codec> Drop for ShutDownDone<C> {
    fn drop(&mut self) {
        self.0.shut_down_done();
    }
}

/// What a shutdown has still to do: close connections and wait for the
/// server. Dropped with work left (its future given up on, or called from a
/// handler, which must return before its own connection closes), it does
/// the rest in a task of its own, bounded by twice the grace period; later
/// `shutdown` calls wait for that.
struct Unfinished<C: Codec> {
    conns: Vec<Connection<C>>,
    own: Option<Connection<C>>,
    server: Option<AnyServer>,
    grace: std::time::Duration,
    /// `None` once the work is done.
    done: Option<ShutDownDone<C>>,
}

impl<C: Codec> Drop for Unfinished<C> {
    fn drop(&mut self) {
        let Some(done) = self.done.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to finish on: the connections close without a
            // bound on the flush, as when a container is dropped.
            return;
        };
        let mut conns = std::mem::take(&mut self.conns);
        conns.extend(self.own.take());
        let (server, grace) = (self.server.take(), self.grace);
        drop(runtime.spawn(async move {
            close_within(&conns, grace).await;
            if let Some(server) = &server {
                let _ = tokio::time::timeout(grace, server.wait_closed()).await;
            }
            drop(done);
        }));
    }
}

/// Closes `conns`, giving them `grace` to flush what was written to them;
/// those still open then are aborted.
async fn close_within<C: Codec>(conns: &[Connection<C>], grace: std::time::Duration) {
    let closed = join_all(conns.iter().map(|c| c.close()));
    if tokio::time::timeout(grace, closed).await.is_err() {
        let aborted = join_all(conns.iter().map(|c| c.abort()));
        // Aborting needs no peer; bound it all the same.
        let _ = tokio::time::timeout(grace, aborted).await;
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
            // Accepted while shutting down, or after the container was
            // dropped (a TLS handshake that ended after the listener
            // closed): closed before it serves anything, as `Drop` closes
            // the others. (A close in a task of its own let it answer
            // `validate_aid` meanwhile, also once a container had started
            // again at the address: a connect to that one got a proxy over
            // the dropped one's dying connection.)
            conn.close_now();
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

/// A new container's id (never 0, which is "no container").
fn next_container_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::container::ConnectOptions;
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
