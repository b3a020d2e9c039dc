//! The conformance kit over simulated links: a [`SimAddress`] is an
//! `Address` like any other, so it must keep every promise the traits make,
//! on instant links and on slow ones.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agentwire::tcp::TcpAddr;
use agentwire_debug::{Link, Sim, SimAddress};
use transport_api::conformance::Backend;
use transport_api::{Address, Server};
use transport_local::{LocalNetwork, LocalQueue};

/// The backend under the simulation.
pub trait Inner: Send + Sync + 'static {
    type Addr: Address;
    /// The `n`th fresh address.
    fn fresh(&self, n: usize) -> Self::Addr;
    /// An address where connections are refused.
    fn refused(&self) -> Self::Addr;
}

/// Local queues of a network of their own.
#[derive(Debug, Default)]
pub struct Local(LocalNetwork);

impl Inner for Local {
    type Addr = LocalQueue;
    fn fresh(&self, n: usize) -> LocalQueue {
        self.0
            .get_queue(&format!("sim-conformance-{n}"))
            .expect("a valid queue id")
    }
    fn refused(&self) -> LocalQueue {
        self.fresh(usize::MAX)
    }
}

/// TCP on the loopback.
#[derive(Debug, Default)]
pub struct Tcp;

impl Inner for Tcp {
    type Addr = TcpAddr;
    fn fresh(&self, _: usize) -> TcpAddr {
        "tcp://127.0.0.1:0".parse().expect("a valid URL")
    }
    fn refused(&self) -> TcpAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let addr = listener.local_addr().expect("has an address");
        drop(listener);
        addr.into()
    }
}

/// Fresh addresses of `I`, each served by a node of its own, through one
/// `Sim` that carries raw chunks (the kit writes bytes, not channel frames).
#[derive(Debug)]
pub struct SimBackend<I> {
    sim: Sim,
    inner: I,
    next: AtomicUsize,
}

impl<I: Inner + Default> SimBackend<I> {
    fn new(link: Link) -> Self {
        SimBackend {
            sim: Sim::builder().framed(false).default_link(link).build(),
            inner: I::default(),
            next: AtomicUsize::new(0),
        }
    }

    /// Instant links.
    pub fn instant() -> Self {
        Self::new(Link::new())
    }

    /// Links with 2 ms of latency and 1 ms of seeded jitter.
    pub fn slow() -> Self {
        Self::new(
            Link::new()
                .latency(Duration::from_millis(2))
                .jitter(Duration::from_millis(1)),
        )
    }
}

impl<I: Inner> Backend for SimBackend<I>
where
    <I::Addr as Address>::Server: Server<Addr = I::Addr>,
{
    type Addr = SimAddress<I::Addr>;

    fn fresh_addr(&self) -> Self::Addr {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.sim.node(format!("n{n}")).address(self.inner.fresh(n))
    }

    fn client_addr(&self, server: &<Self::Addr as Address>::Server) -> Self::Addr {
        server.addr()
    }

    fn refused_addr(&self) -> Self::Addr {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.sim.node(format!("n{n}")).address(self.inner.refused())
    }
}

mod instant {
    transport_api::conformance_tests!(super::SimBackend::<super::Local>::instant());
}

mod slow {
    transport_api::conformance_tests!(super::SimBackend::<super::Local>::slow());
}

mod tcp_slow {
    transport_api::conformance_tests!(super::SimBackend::<super::Tcp>::slow());
}

/// The kit's attacks for a multi-thread runtime, on slow links.
mod attacks {
    use std::future::Future;
    use std::time::Duration;

    use transport_api::conformance::hostile::{self, OnData, PanicIn};
    use transport_api::conformance::{stress, Outcome};

    use super::{Local, SimBackend};

    const HANG: Duration = Duration::from_secs(60);

    async fn run(name: &str, scenario: impl Future<Output = Outcome>) {
        match tokio::time::timeout(HANG, scenario).await {
            Ok(Ok(())) => {}
            Ok(Err(failure)) => panic!("{name}: {failure}"),
            Err(_) => panic!("{name}: hung"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_transport_shared_by_eight_tasks() {
        let b = SimBackend::<Local>::slow();
        for seed in 0..4 {
            run(&format!("seed {seed}"), stress::shared_transport(&b, seed)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn many_tasks_wait_for_room() {
        run(
            "writable",
            stress::many_tasks_wait_writable(&SimBackend::<Local>::slow()),
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn callbacks_that_end_their_own_connection() {
        let b = SimBackend::<Local>::slow();
        for on_data in [
            OnData::Close,
            OnData::Abort,
            OnData::DropTransport,
            OnData::Write64MiB,
        ] {
            run(
                &format!("{on_data:?}"),
                hostile::end_from_data_received(&b, on_data),
            )
            .await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn panicking_protocols() {
        let b = SimBackend::<Local>::instant();
        for p in [
            PanicIn::ServerMade,
            PanicIn::ServerLost,
            PanicIn::Factory,
            PanicIn::ClientMade,
        ] {
            run(&format!("{p:?}"), hostile::panicking_protocol(&b, p)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn close_while_the_peer_never_reads() {
        run(
            "close",
            hostile::close_while_peer_never_reads(&SimBackend::<Local>::slow()),
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_blocking_callback_does_not_stop_others() {
        run(
            "blocking",
            hostile::blocking_callback(&SimBackend::<Local>::instant()),
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn stream_adapter_used_roughly() {
        run(
            "stream",
            hostile::stream_abuse(&SimBackend::<Local>::slow()),
        )
        .await;
    }
}
