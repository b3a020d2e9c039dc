//! [`LocalNetwork`]: a registry of named queues, and the process-wide default.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, MutexGuard, OnceLock};

use transport_api::Result;

use crate::queue::{lock_registry, validate_queue_id, Registry, WeakQueue};
use crate::LocalQueue;

/// A namespace of [`LocalQueue`]s: the same id gives the same queue within one
/// network, and networks never see each other's queues. Tests that run in
/// parallel each own one; [`LocalNetwork::global`] is the process-wide default
/// behind [`get_queue`](crate::get_queue). Cheap to clone (clones share the
/// registry); `Send + Sync`.
///
/// The registry lists the queues that something holds (a handle, or a
/// server bound to it): a queue nobody holds any more leaves it, so ids
/// that come and go do not pile up.
#[derive(Clone, Default)]
pub struct LocalNetwork {
    queues: Arc<Registry>,
}

impl LocalNetwork {
    /// A new, empty network.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide network.
    pub fn global() -> &'static LocalNetwork {
        static GLOBAL: OnceLock<LocalNetwork> = OnceLock::new();
        GLOBAL.get_or_init(LocalNetwork::new)
    }

    fn queues(&self) -> MutexGuard<'_, BTreeMap<String, WeakQueue>> {
        lock_registry(&self.queues)
    }

    /// The queue named `id`: the one something still holds, or a new one.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`](transport_api::Error::InvalidAddress) naming
    /// the id if it is empty or contains `/`.
    pub fn get_queue(&self, id: &str) -> Result<LocalQueue> {
        validate_queue_id(id)?;
        let mut queues = self.queues();
        if let Some(lq) = queues.get(id).and_then(WeakQueue::upgrade) {
            return Ok(lq);
        }
        let lq = LocalQueue::new(id.to_owned(), Arc::downgrade(&self.queues));
        // A dead entry (its queue is being dropped on another thread) is
        // replaced; that queue's drop then leaves the live one alone.
        queues.insert(id.to_owned(), lq.downgrade());
        Ok(lq)
    }

    /// Forgets every queue: later [`get_queue`](Self::get_queue) calls create
    /// new ones. Queues already handed out keep working.
    pub fn clear_queue_cache(&self) {
        self.queues().clear();
    }

    /// The ids of the queues in the registry, in order.
    pub fn queue_ids(&self) -> Vec<String> {
        self.queues()
            .iter()
            .filter(|(_, q)| q.is_live())
            .map(|(id, _)| id.clone())
            .collect()
    }
}

impl fmt::Debug for LocalNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalNetwork")
            .field("queues", &self.queue_ids())
            .finish()
    }
}
