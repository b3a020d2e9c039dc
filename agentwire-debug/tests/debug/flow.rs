//! Flow control on held links: what the simulation holds back counts
//! against the writer, both ways, so a held link makes neither side buffer
//! without bound, and everything arrives intact once it is released.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentwire::api::{Address, Protocol, Server, SharedTransport, Transport, TransportExt};
use agentwire_debug::{Link, Sim};
use bytes::Bytes;
use transport_local::LocalNetwork;

const CHUNK: usize = 16 * 1024;
/// Far more than any buffer on the way may hold.
const TOTAL: usize = 4 * 1024 * 1024;
/// How long a test waits for what must happen (never reached when it works).
const WAIT: Duration = Duration::from_secs(20);

/// What a [`Sink`] saw.
#[derive(Default)]
struct Seen {
    data: Vec<u8>,
    flow: Vec<&'static str>,
    transport: Option<SharedTransport>,
    /// How many bytes had arrived when the peer's half-close did.
    eof_at: Option<usize>,
}

/// Keeps its transport and everything it receives.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Seen>>);

impl Sink {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.0.lock().expect("not poisoned")
    }

    fn received(&self) -> usize {
        self.seen().data.len()
    }

    async fn transport(&self) -> SharedTransport {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(t) = self.seen().transport.clone() {
                    return t;
                }
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the connection is made")
    }

    async fn wait_received(&self, n: usize) {
        tokio::time::timeout(WAIT, async {
            while self.received() < n {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("everything arrives once the link is released");
    }
}

impl Protocol for Sink {
    fn connection_made(&mut self, transport: SharedTransport) {
        self.seen().transport = Some(transport);
    }
    fn data_received(&mut self, data: Bytes) {
        self.seen().data.extend_from_slice(&data);
    }
    fn eof_received(&mut self) -> bool {
        let mut seen = self.seen();
        seen.eof_at = Some(seen.data.len());
        true
    }
    fn pause_writing(&mut self) {
        self.seen().flow.push("pause");
    }
    fn resume_writing(&mut self) {
        self.seen().flow.push("resume");
    }
}

fn chunk(i: usize) -> Bytes {
    Bytes::from(vec![(i % 251) as u8; CHUNK])
}

fn expected(n: usize) -> Vec<u8> {
    (0..n / CHUNK).flat_map(|i| chunk(i).to_vec()).collect()
}

/// Whether `t` takes a write now, after letting every other task run.
async fn writable_now(t: &SharedTransport) -> bool {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
    tokio::time::timeout(Duration::ZERO, t.writable())
        .await
        .is_ok_and(|r| r.is_ok())
}

/// Writes chunks while `t` takes them; returns how many bytes it wrote.
async fn write_until_blocked(t: &SharedTransport, high: usize) -> usize {
    let mut sent = 0;
    while writable_now(t).await {
        assert!(sent < TOTAL, "wrote {TOTAL} bytes into a held link");
        t.write(chunk(sent / CHUNK)).expect("writes");
        sent += CHUNK;
        assert!(
            t.write_buffer_size() <= high + CHUNK,
            "buffered {} bytes, more than the high-water mark {high} + one write",
            t.write_buffer_size()
        );
    }
    sent
}

/// Writes the rest, honouring `writable()`.
async fn write_rest(t: &SharedTransport, mut sent: usize) {
    while sent < TOTAL {
        tokio::time::timeout(WAIT, t.writable())
            .await
            .expect("the writer is released")
            .expect("still writable");
        t.write(chunk(sent / CHUNK)).expect("writes");
        sent += CHUNK;
    }
}

/// A raw connection from node `a` to a sink served by node `b`, through a
/// `Sim` whose link a–b is held.
async fn held_pair() -> (Sim, Sink, Sink, impl Sized) {
    let sim = Sim::builder().framed(false).build();
    let net = LocalNetwork::new();
    let queue = net.get_queue("b").expect("a valid queue id");
    let server_side = Sink::default();
    let factory = server_side.clone();
    let server = sim
        .node("b")
        .address(queue.clone())
        .create_server(move || factory.clone())
        .await
        .expect("serves");
    sim.hold("a", "b");
    let client_side = Sink::default();
    let (_t, _) = sim
        .node("a")
        .address(queue)
        .create_connection(client_side.clone())
        .await
        .expect("connects");
    (sim, client_side, server_side, (server, net))
}

#[tokio::test(flavor = "current_thread")]
async fn a_held_link_holds_back_the_writer() {
    let (sim, client, server, _keep) = held_pair().await;
    let t = client.transport().await;
    let high = t.write_buffer_limits().high();

    let sent = write_until_blocked(&t, high).await;
    assert!(sent > 0, "the first write was refused");
    assert_eq!(server.received(), 0, "data crossed a held link");
    assert_eq!(client.seen().flow, ["pause"]);
    // `write_if_ready` agrees with `writable()`.
    assert!(t.write_if_ready(chunk(0)).expect("still open").is_some());

    sim.release("a", "b");
    write_rest(&t, sent).await;
    server.wait_received(TOTAL).await;
    assert!(server.seen().data == expected(TOTAL), "the data changed");
    let flow = client.seen().flow.clone();
    assert!(
        flow.len() >= 2
            && flow
                .iter()
                .enumerate()
                .all(|(i, e)| *e == if i % 2 == 0 { "pause" } else { "resume" }),
        "pause and resume do not alternate: {flow:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_held_link_holds_back_the_peer_writer() {
    let (sim, client, server, _keep) = held_pair().await;
    client.transport().await;
    let t = server.transport().await;
    let high = t.write_buffer_limits().high();

    // The server writes towards a held link: the simulation queues what the
    // backend hands it up to its own high-water mark, then stops reading,
    // so the server's buffer fills and the server is paused.
    let sent = write_until_blocked(&t, high).await;
    assert!(
        sent <= 2 * high + 2 * CHUNK,
        "the server wrote {sent} bytes into a held link"
    );
    assert_eq!(client.received(), 0, "data crossed a held link");

    sim.release("a", "b");
    write_rest(&t, sent).await;
    client.wait_received(TOTAL).await;
    assert!(client.seen().data == expected(TOTAL), "the data changed");
}

#[tokio::test(flavor = "current_thread")]
async fn the_last_handle_dropped_closes_the_connection() {
    let (sim, client, server, _keep) = held_pair().await;
    sim.release("a", "b");
    let t = client.transport().await;
    t.write(Bytes::from_static(b"last words")).expect("writes");
    // The test's own handle and the protocol's are the only ones left.
    drop(t);
    client.seen().transport = None;
    server.wait_received(10).await;
    let peer = server.transport().await;
    tokio::time::timeout(WAIT, async {
        while !peer.is_closing() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the server's side ends");
    assert_eq!(server.seen().data, b"last words");
}

#[tokio::test(flavor = "current_thread")]
async fn the_peers_half_close_comes_after_its_data() {
    let sim = Sim::builder()
        .framed(false)
        .default_link(Link::new().latency(Duration::from_millis(5)))
        .build();
    let server_side = Sink::default();
    let factory = server_side.clone();
    let server = sim
        .node("b")
        .address(
            "tcp://127.0.0.1:0"
                .parse::<agentwire::tcp::TcpAddr>()
                .expect("a URL"),
        )
        .create_server(move || factory.clone())
        .await
        .expect("serves");
    let client = Sink::default();
    let (t, _) = sim
        .node("a")
        .address(server.addr().inner().clone())
        .create_connection(client.clone())
        .await
        .expect("connects");
    let peer = server_side.transport().await;
    for i in 0..3 {
        peer.write(chunk(i)).expect("writes");
    }
    peer.write_eof().expect("TCP half-closes");
    tokio::time::timeout(WAIT, async {
        while client.seen().eof_at.is_none() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the half-close arrives");
    assert_eq!(
        client.seen().eof_at,
        Some(3 * CHUNK),
        "the half-close overtook the data before it"
    );
    // Kept open: we may still answer, and the peer reads it.
    t.write(Bytes::from_static(b"answer")).expect("still open");
    server_side.wait_received(6).await;
    assert_eq!(server_side.seen().data, b"answer");
}

#[tokio::test(flavor = "current_thread")]
async fn raising_the_limits_releases_a_held_writer() {
    let (_sim, client, _server, _keep) = held_pair().await;
    let t = client.transport().await;
    let high = t.write_buffer_limits().high();
    let sent = write_until_blocked(&t, high).await;
    assert!(sent > 0, "the first write was refused");

    let waiting = t.clone();
    let blocked = tokio::spawn(async move { waiting.writable().await });
    tokio::task::yield_now().await;
    assert!(!blocked.is_finished(), "writable() did not wait");
    // Room for everything written and more: the waiting writer goes on,
    // though the link is still held.
    t.set_write_buffer_limits(
        agentwire::api::WriteBufferLimits::new(64 * high, 32 * high).expect("valid limits"),
    );
    tokio::time::timeout(WAIT, blocked)
        .await
        .expect("the writer is released")
        .expect("the task ran")
        .expect("still writable");
}
