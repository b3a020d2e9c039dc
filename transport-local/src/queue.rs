//! [`LocalQueue`]: a named place that a server binds and clients connect to.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use async_trait::async_trait;
use transport_api::{boxed_factory, Address, Error, Protocol, ProtocolHandle, Result};

use crate::{LocalQueueServer, LocalQueueTransport};

struct Inner {
    id: String,
    server: Mutex<Option<LocalQueueServer>>,
    connections: AtomicU64,
    /// The registry that lists this queue, told when the queue goes.
    registry: Weak<Registry>,
}

/// A network's map from ids to the queues that something still holds.
pub(crate) type Registry = Mutex<BTreeMap<String, WeakQueue>>;

/// A registry's entry: it does not keep the queue alive.
pub(crate) struct WeakQueue(Weak<Inner>);

impl WeakQueue {
    pub(crate) fn upgrade(&self) -> Option<LocalQueue> {
        self.0.upgrade().map(|inner| LocalQueue { inner })
    }

    /// Whether the queue still exists (without making a handle that could
    /// be the last one, dropped under the registry's lock).
    pub(crate) fn is_live(&self) -> bool {
        self.0.strong_count() > 0
    }
}

pub(crate) fn lock_registry(registry: &Registry) -> MutexGuard<'_, BTreeMap<String, WeakQueue>> {
    registry.lock().unwrap_or_else(|p| p.into_inner())
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Nothing holds this queue any more (a bound server holds its
        // queue, so this one is unbound): its id leaves the registry,
        // unless a newer queue took it after the cache was cleared.
        if let Some(registry) = self.registry.upgrade() {
            let mut map = lock_registry(&registry);
            if map.get(&self.id).is_some_and(|q| !q.is_live()) {
                map.remove(&self.id);
            }
        }
    }
}

/// A named in-process queue (aiomas's `LocalQueue`): the address of a local
/// server. Get one from [`get_queue`](crate::get_queue) or
/// [`LocalNetwork::get_queue`](crate::LocalNetwork::get_queue); the same id
/// in the same network gives the same queue. Prints as `local://<id>`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> transport_api::Result<()> {
/// use transport_local::LocalNetwork;
/// let net = LocalNetwork::new();
/// let lq = net.get_queue("server")?;
/// assert_eq!(lq.to_string(), "local://server");
/// assert!(lq.server().is_none());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct LocalQueue {
    inner: Arc<Inner>,
}

/// Checks a queue id: non-empty and without `/` (which separates the queue
/// from the agent id in URLs like `local://q/0`).
///
/// # Errors
///
/// [`Error::InvalidAddress`] naming the id.
pub fn validate_queue_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid_address(
            id,
            "a local queue id must not be empty",
        ));
    }
    if id.contains('/') {
        return Err(Error::invalid_address(
            id,
            "a local queue id must not contain '/'",
        ));
    }
    Ok(())
}

impl LocalQueue {
    /// A new queue, listed in `registry` (which the caller updates).
    pub(crate) fn new(id: String, registry: Weak<Registry>) -> Self {
        LocalQueue {
            inner: Arc::new(Inner {
                id,
                server: Mutex::new(None),
                connections: AtomicU64::new(0),
                registry,
            }),
        }
    }

    pub(crate) fn downgrade(&self) -> WeakQueue {
        WeakQueue(Arc::downgrade(&self.inner))
    }

    fn slot(&self) -> MutexGuard<'_, Option<LocalQueueServer>> {
        self.inner.server.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The queue's id.
    pub fn queue_id(&self) -> &str {
        &self.inner.id
    }

    /// The server bound to this queue, if any.
    pub fn server(&self) -> Option<LocalQueueServer> {
        self.slot().clone()
    }

    /// Binds `server` to this queue.
    ///
    /// # Errors
    ///
    /// [`Error::AddrInUse`] naming the queue if a server is already bound.
    pub fn set_server(&self, server: LocalQueueServer) -> Result<()> {
        let mut slot = self.slot();
        if slot.is_some() {
            return Err(Error::AddrInUse {
                addr: self.to_string(),
                source: None,
            });
        }
        server.set_serving(true);
        *slot = Some(server);
        Ok(())
    }

    /// Unbinds the server, if any (without closing it).
    pub fn unset_server(&self) {
        if let Some(server) = self.slot().take() {
            server.set_serving(false);
        }
    }

    /// Unbinds `server` if it is the one bound.
    pub(crate) fn unset_server_if(&self, server: &LocalQueueServer) {
        let mut slot = self.slot();
        if slot.as_ref().is_some_and(|s| s.same(server)) {
            *slot = None;
        }
    }

    pub(crate) fn next_connection_number(&self) -> u64 {
        self.inner.connections.fetch_add(1, Ordering::Relaxed)
    }

    /// Connects `client` to the bound server (see
    /// [`LocalQueueServer::new_connection`]).
    ///
    /// # Errors
    ///
    /// [`Error::ConnectionRefused`] naming the queue when no server is bound.
    pub fn new_connection<P: Protocol>(
        &self,
        client: P,
    ) -> Result<(LocalQueueTransport, ProtocolHandle<P>)> {
        match self.server() {
            Some(server) => server.new_connection(client),
            None => Err(Error::ConnectionRefused {
                addr: self.to_string(),
                source: None,
            }),
        }
    }

    /// Whether two values are the same queue (not just the same id).
    pub fn ptr_eq(&self, other: &LocalQueue) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl fmt::Display for LocalQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "local://{}", self.inner.id)
    }
}

impl fmt::Debug for LocalQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalQueue")
            .field("id", &self.inner.id)
            .field("bound", &self.slot().is_some())
            .finish()
    }
}

#[async_trait]
impl Address for LocalQueue {
    type Transport = LocalQueueTransport;
    type Server = LocalQueueServer;

    fn scheme(&self) -> &'static str {
        "local"
    }

    async fn create_server<P, F>(&self, factory: F) -> Result<LocalQueueServer>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        LocalQueueServer::start(self.clone(), boxed_factory(factory))
    }

    async fn create_connection<P: Protocol>(
        &self,
        protocol: P,
    ) -> Result<(LocalQueueTransport, ProtocolHandle<P>)> {
        self.new_connection(protocol)
    }
}
