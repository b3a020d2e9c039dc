//! Local queues, each scenario in its own `LocalNetwork`.

use std::sync::atomic::{AtomicUsize, Ordering};

use transport_api::conformance::Backend;
use transport_api::Server;
use transport_local::{LocalNetwork, LocalQueue, LocalQueueServer};

/// Fresh queues in a network of the backend's own.
#[derive(Debug, Default)]
pub struct LocalBackend {
    net: LocalNetwork,
    next: AtomicUsize,
}

impl Backend for LocalBackend {
    type Addr = LocalQueue;

    fn fresh_addr(&self) -> LocalQueue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.net.get_queue(&format!("conformance-{n}")).unwrap()
    }

    fn client_addr(&self, server: &LocalQueueServer) -> LocalQueue {
        server.addr()
    }

    fn refused_addr(&self) -> LocalQueue {
        self.fresh_addr()
    }
}

transport_api::conformance_tests!(LocalBackend::default());
