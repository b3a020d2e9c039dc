//! The cache of [`Container::connect`]'s connections: one entry per remote
//! container, under the lock that a `connect` holds while it makes an
//! attempt.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::time::Instant;

#[cfg(all(feature = "mqtt", feature = "tls"))]
use transport_mqtt::MqttAddr;
#[cfg(feature = "tls")]
use transport_tcp::{tls::rustls::ClientConfig, TlsAddr};

use crate::channel::{retryable, ChannelError, Codec};
use crate::container::agents::MIN_PRUNE_AT;
#[cfg(doc)]
use crate::container::Container;
use crate::container::ContainerAddr;
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

/// An attempt to connect that failed: when it began, with what settings,
/// and its error.
pub(super) struct Failed {
    pub(super) began: Instant,
    pub(super) settings: Settings,
    pub(super) error: RpcError,
}

impl Failed {
    /// Whether a connect with `settings` that asked for the entry at
    /// `asked` takes this failure as that of its own attempt: the attempt
    /// began since, and it is the one this connect would make (or it was
    /// refused, which says the remote container is not up, whatever the
    /// settings).
    pub(super) fn is_shared_with(&self, asked: Instant, settings: &Settings) -> bool {
        let refused = matches!(
            &self.error,
            RpcError::Connection {
                source: ChannelError::Transport(error),
            } if retryable(error)
        );
        self.began >= asked && (refused || self.settings.same(settings))
    }
}

/// What an attempt to connect depends on besides whether the remote
/// container is up: the URL of the container as given (credentials and
/// options included, which its cache key leaves out) and the TLS client
/// configuration.
#[derive(Clone)]
pub(super) struct Settings {
    url: String,
    #[cfg(feature = "tls")]
    tls: Option<Arc<ClientConfig>>,
}

impl Settings {
    /// The settings of an attempt to connect to the container at `url`
    /// (without the agent id), resolved to `addr`.
    pub(super) fn new(url: &str, addr: &ContainerAddr) -> Self {
        #[cfg(not(feature = "tls"))]
        let _ = addr; // only TLS has settings beyond the URL
        Settings {
            url: url.to_owned(),
            #[cfg(feature = "tls")]
            tls: tls_config(addr).cloned(),
        }
    }

    /// Whether an attempt with these settings is one with `other`.
    fn same(&self, other: &Settings) -> bool {
        #[cfg(feature = "tls")]
        let same_tls = match (&self.tls, &other.tls) {
            (None, None) => true,
            (Some(ours), Some(theirs)) => Arc::ptr_eq(ours, theirs),
            _ => false,
        };
        #[cfg(not(feature = "tls"))]
        let same_tls = true;
        same_tls && self.url == other.url
    }
}

/// The TLS client configuration that connecting to `addr` uses, if any.
#[cfg(feature = "tls")]
fn tls_config(addr: &ContainerAddr) -> Option<&Arc<ClientConfig>> {
    if let Some(tls) = addr.downcast_ref::<TlsAddr>() {
        return tls.client_config();
    }
    #[cfg(feature = "mqtt")]
    if let Some(mqtt) = addr.downcast_ref::<MqttAddr>() {
        return mqtt.tls_config();
    }
    None
}
