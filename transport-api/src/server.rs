//! [`Server`] and the [`ConnectionTracker`] that backends build `wait_closed` on.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::Address;

/// A listening server (asyncio's `asyncio.Server`).
#[async_trait]
pub trait Server: fmt::Debug + Send + Sync + 'static {
    /// The type of address the server is bound to.
    type Addr: Address;

    /// The address the server is bound to; for TCP with port 0, the real port.
    fn addr(&self) -> Self::Addr;

    /// Stops accepting connections. Established connections go on until they
    /// close. Idempotent.
    fn close(&self);

    /// Returns once the server is closed and every connection it accepted has
    /// finished (its protocol got `connection_lost`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    async fn wait_closed(&self);

    /// Whether the server accepts connections.
    fn is_serving(&self) -> bool;
}

#[derive(Debug, Clone, Copy, Default)]
struct TrackerState {
    closed: bool,
    active: usize,
}

/// Counts a server's live connections and tells when it is closed and they
/// have all finished. Cheap to clone; `Send + Sync`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use transport_api::ConnectionTracker;
/// let tracker = ConnectionTracker::new();
/// let token = tracker.track();
/// tracker.close();
/// assert_eq!(tracker.active(), 1);
/// drop(token);
/// tracker.wait_closed().await; // returns: closed and no connections left
/// # }
/// ```
#[derive(Clone)]
pub struct ConnectionTracker {
    state: Arc<watch::Sender<TrackerState>>,
}

impl ConnectionTracker {
    /// A tracker with no connections, not closed.
    pub fn new() -> Self {
        let (tx, _) = watch::channel(TrackerState::default());
        ConnectionTracker {
            state: Arc::new(tx),
        }
    }

    /// Registers a connection; it counts until the token is dropped.
    pub fn track(&self) -> ConnectionToken {
        self.state.send_modify(|s| s.active += 1);
        ConnectionToken {
            state: Arc::clone(&self.state),
        }
    }

    /// Marks the server closed.
    pub fn close(&self) {
        self.state.send_modify(|s| s.closed = true);
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.state.borrow().closed
    }

    /// The number of live connections.
    pub fn active(&self) -> usize {
        self.state.borrow().active
    }

    /// Waits until closed with no live connections.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn wait_closed(&self) {
        let mut rx = self.state.subscribe();
        // The sender lives in `self`, so the channel cannot close under us.
        let _ = rx.wait_for(|s| s.closed && s.active == 0).await;
    }
}

impl Default for ConnectionTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ConnectionTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = *self.state.borrow();
        f.debug_struct("ConnectionTracker")
            .field("closed", &s.closed)
            .field("active", &s.active)
            .finish()
    }
}

/// Keeps one connection counted by its [`ConnectionTracker`] until dropped.
pub struct ConnectionToken {
    state: Arc<watch::Sender<TrackerState>>,
}

impl Drop for ConnectionToken {
    fn drop(&mut self) {
        self.state.send_modify(|s| s.active -= 1);
    }
}

impl fmt::Debug for ConnectionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionToken").finish_non_exhaustive()
    }
}
