//! The wrapped third-party-style backend (tests/shared/wrapped.rs) under the
//! kit: that the kit runs it shows the kit is usable from outside the crate.

use std::sync::atomic::{AtomicUsize, Ordering};

use transport_api::conformance::Backend;
use transport_api::Server;
use transport_local::LocalNetwork;

#[path = "../shared/wrapped.rs"]
#[allow(dead_code)]
mod backend;
pub use backend::{WrappedAddr, WrappedServer};

/// The kit's view of the wrapped backend.
#[derive(Debug, Default)]
pub struct WrappedBackend {
    net: LocalNetwork,
    next: AtomicUsize,
}

impl Backend for WrappedBackend {
    type Addr = WrappedAddr;

    fn fresh_addr(&self) -> WrappedAddr {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        WrappedAddr::new(self.net.get_queue(&format!("wrapped-{n}")).unwrap())
    }

    fn client_addr(&self, server: &WrappedServer) -> WrappedAddr {
        server.addr()
    }

    fn refused_addr(&self) -> WrappedAddr {
        self.fresh_addr()
    }
}

transport_api::conformance_tests!(WrappedBackend::default());

/// The attacks, on a backend built from the public API alone.
mod attacks {
    transport_api::attack_tests!(super::WrappedBackend::default());
}

#[tokio::test(flavor = "current_thread")]
async fn run_all_reports_every_scenario_green() {
    let backend = WrappedBackend::default();
    if let Err(failures) = transport_api::conformance::run_all(&backend).await {
        panic!("{failures:#?}");
    }
}
