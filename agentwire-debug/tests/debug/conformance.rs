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

/// Server names on the embedded MQTT broker.
#[derive(Debug, Default)]
pub struct Mqtt;

impl Inner for Mqtt {
    type Addr = agentwire::mqtt::MqttAddr;
    fn fresh(&self, _: usize) -> Self::Addr {
        // Unique in the process: every test's backend counts from 0.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("sim-kit/{}/{n}", std::process::id());
        agentwire::mqtt::MqttAddr::new("127.0.0.1", crate::brokers::rumqttd(), &name)
            .expect("a valid address")
            .with_connect_timeout(Duration::from_millis(1500))
    }
    fn refused(&self) -> Self::Addr {
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

mod mqtt_slow {
    transport_api::conformance_tests!(super::SimBackend::<super::Mqtt>::slow());
}

mod tcp_slow {
    transport_api::conformance_tests!(super::SimBackend::<super::Tcp>::slow());
}

/// The kit's attacks for a multi-thread runtime, on slow links.
mod attacks {
    transport_api::attack_tests!(super::SimBackend::<super::Local>::slow());
}

/// A side that closes reads nothing more: what a slow link still carries
/// toward it when it closes is dropped, not delivered after the close.
/// (The kit's `integrity` scenario found it: a client that wrote, then
/// dropped its handle, got `data_received` and `eof_received` afterwards.)
#[tokio::test(flavor = "current_thread")]
async fn nothing_is_delivered_after_our_own_close() {
    use bytes::Bytes;
    use transport_api::conformance::{connect, Accepted, Event};
    use transport_api::Transport;

    // Real sleeps order the steps; the latency leaves wide margins.
    let latency = Duration::from_millis(300);
    let backend = SimBackend::<Local>::new(Link::new().latency(latency));
    let accepted = Accepted::default();
    let server = backend
        .fresh_addr()
        .create_server(accepted.factory())
        .await
        .expect("serves");
    let (client, log) = connect(&backend.client_addr(&server))
        .await
        .expect("connects");
    let server_log = accepted.wait_log(0).await.expect("accepted");
    server_log
        .wait_for("connection_made", |ev| !ev.is_empty())
        .await
        .expect("made");
    let server_t = server_log.require_transport("server").expect("kept");
    // On its way to the client for `latency`.
    server_t
        .write(Bytes::from_static(b"on its way"))
        .expect("writes");
    tokio::time::sleep(latency / 3).await;
    // The client's own write holds its close back behind it (past the
    // reply's arrival), and the client closes before the reply arrives.
    client.write(Bytes::from_static(b"bye")).expect("writes");
    client.close();
    let at_close = log.events().len();
    log.wait_lost().await.expect("the client's end");
    let after: Vec<Event> = log.events()[at_close..].to_vec();
    assert_eq!(after, [Event::Lost(None)], "after close: {log:?}");
    drop(server_t);
    server.close();
    server.wait_closed().await;
}
