//! The cache of [`Container::connect`]'s connections: one entry per remote
//! container, under the lock that a `connect` holds while it makes an
//! attempt.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::time::Instant;

use crate::channel::Codec;
use crate::container::agents::MIN_PRUNE_AT;
#[cfg(doc)]
use crate::container::Container;
use crate::rpc::{Connection, RpcError};

/// One cached connection per remote container.
pub(super) type Slot<C> = Arc<tokio::sync::Mutex<Entry<C>>>;

/// The cache of connections to remote containers, by their URLs.
///
/// Entries whose connection was lost (the remote container went away, or
/// never answered `validate_aid`) are forgotten from time to time: URLs to
/// connect to may come from peers, and each entry keeps a dead connection.
pub(crate) struct Cache<C: Codec> {
    pub(super) slots: BTreeMap<String, Slot<C>>,
    /// `slots`' length at which dead entries are next forgotten: twice
    /// what was left the last time, so that an entry costs O(1) amortised,
    /// not a look at every other one.
    prune_at: usize,
}

impl<C: Codec> Default for Cache<C> {
    fn default() -> Self {
        Cache {
            slots: BTreeMap::new(),
            prune_at: MIN_PRUNE_AT,
        }
    }
}

impl<C: Codec> Cache<C> {
    /// The entry of `key`, made if there is none (and then, now and then,
    /// dead entries forgotten first).
    pub(super) fn slot(&mut self, key: &str) -> Slot<C> {
        if let Some(slot) = self.slots.get(key) {
            return Arc::clone(slot);
        }
        if self.slots.len() >= self.prune_at {
            self.slots.retain(|_, slot| !is_dead(slot));
            self.prune_at = (2 * self.slots.len()).max(MIN_PRUNE_AT);
        }
        Arc::clone(self.slots.entry(key.to_owned()).or_default())
    }

    /// How many entries there are.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }
}

/// Whether the cache entry `slot` is of no use: nobody but the cache holds
/// it (others take it only under the cache's lock, as the caller holds
/// it), and it has no live connection.
fn is_dead<C: Codec>(slot: &Slot<C>) -> bool {
    Arc::strong_count(slot) == 1
        && slot
            .try_lock()
            .is_ok_and(|entry| entry.conn.as_ref().is_none_or(Connection::is_closed))
}

/// A cache entry, under the lock that a `connect` holds while it makes an
/// attempt (so that concurrent connects share one connection): the
/// connection, and the last attempt if it failed, so that a `connect` that
/// waited for the lock meanwhile can share its failure instead of
/// repeating it (see `Container::connection`).
pub(super) struct Entry<C: Codec> {
    pub(super) conn: Option<Connection<C>>,
    /// The last attempt, if it failed.
    pub(super) failed: Option<Failed>,
}

impl<C: Codec> Default for Entry<C> {
    fn default() -> Self {
        Entry {
            conn: None,
            failed: None,
        }
    }
}

/// An attempt to connect that failed: when it began, and its error.
pub(super) struct Failed {
    pub(super) began: Instant,
    pub(super) error: RpcError,
}
