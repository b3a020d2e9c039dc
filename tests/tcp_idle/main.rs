//! What an idle connection costs: the live heap of many TCP (and Unix)
//! connections, both ends, after one small request and its echo, and again
//! after a burst of traffic (buffers grown by it must shrink back).
//!
//! A counting global allocator measures the heap before the connections are
//! opened and each time every one of them is idle again (all it sent echoed
//! back, both write buffers empty, every driver task waiting). The
//! difference per connection covers both ends: driver tasks, shared state,
//! buffers, socket registrations and the client handles this test keeps.
//!
//! The binary has a single `#[test]`, so no other test allocates while it
//! measures. TLS is measured and printed too (rustls keeps buffers of its
//! own); only TCP and Unix sockets are held to [`BUDGET`].
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tcp/support.rs"]
#[allow(dead_code)]
mod tcp_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use peak_alloc::PeakAlloc;
use tokio::sync::Notify;
use transport_api::{Address, Protocol, Server, SharedTransport, Transport};

use tcp_support::{client_config, pki, server_config, tcp0, tls_server_addr, unix_addr, within};

/// Counts the live heap (bytes allocated and not yet freed).
#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

/// Connections opened per measurement.
const CONNECTIONS: usize = 200;

/// The most heap one idle connection, both ends together, may keep.
const BUDGET: usize = 64 * 1024;

/// The one request each client sends (and gets back).
const REQUEST: &[u8] = b"one small request, echoed back\n";

/// A small write of the burst: copied into the write buffer's runs.
static SMALL: [u8; 4096] = [7; 4096];
/// A large write of the burst: queued as it is.
static LARGE: [u8; 64 * 1024] = [8; 64 * 1024];
/// Writes of the burst each client sends after its request.
const BURST_SMALL: usize = 32;
const BURST_LARGE: usize = 2;
/// Bytes of one burst.
const BURST: usize = BURST_SMALL * SMALL.len() + BURST_LARGE * LARGE.len();

/// Echoes what it receives.
#[derive(Default)]
struct Echo(Option<SharedTransport>);

impl Protocol for Echo {
    fn connection_made(&mut self, transport: SharedTransport) {
        self.0 = Some(transport);
    }

    fn data_received(&mut self, data: Bytes) {
        if let Some(t) = &self.0 {
            t.write(data).expect("echo");
        }
    }
}

/// What all clients received, and a signal once it is all they sent.
#[derive(Default)]
struct Progress {
    received: AtomicUsize,
    expected: AtomicUsize,
    all_echoed: Notify,
}

impl Progress {
    /// Expects `n` more bytes, and waits until they all came back.
    async fn echoed(&self, n: usize) {
        self.expected.fetch_add(n, Ordering::SeqCst);
        let notified = self.all_echoed.notified();
        if self.received.load(Ordering::SeqCst) < self.expected.load(Ordering::SeqCst) {
            within("every echo", notified).await;
        }
    }
}

/// Counts the bytes echoed back to it; keeps nothing else.
struct Client(Arc<Progress>);

impl Protocol for Client {
    fn connection_made(&mut self, _: SharedTransport) {}

    fn data_received(&mut self, data: Bytes) {
        let received = self.0.received.fetch_add(data.len(), Ordering::SeqCst) + data.len();
        if received == self.0.expected.load(Ordering::SeqCst) {
            self.0.all_echoed.notify_one();
        }
    }
}

/// The live heap per idle connection (both ends), measured twice.
#[derive(Debug, Clone, Copy)]
struct Cost {
    /// After one small request and its echo.
    after_request: usize,
    /// After a burst of [`BURST`] bytes more, echoed too.
    after_burst: usize,
}

/// Opens [`CONNECTIONS`] connections to a server at `addr`, sends one
/// request on each, and then a burst; measures the live heap they add once
/// all are idle after each.
async fn idle_cost<A: Address>(addr: A, client_addr: impl Fn(&A::Server) -> A) -> Cost {
    let server = addr.create_server(Echo::default).await.unwrap();
    let client_addr = client_addr(&server);
    let progress = Arc::new(Progress::default());
    let mut transports = Vec::with_capacity(CONNECTIONS);
    let per_connection = |before: usize| HEAP.current_usage().saturating_sub(before) / CONNECTIONS;

    let before = HEAP.current_usage();
    for _ in 0..CONNECTIONS {
        let (t, _) = within(
            "connect",
            client_addr.create_connection(Client(Arc::clone(&progress))),
        )
        .await
        .unwrap();
        t.write(Bytes::from_static(REQUEST)).unwrap();
        transports.push(t);
    }
    progress.echoed(CONNECTIONS * REQUEST.len()).await;
    settle(&transports).await;
    let after_request = per_connection(before);

    for t in &transports {
        for _ in 0..BURST_SMALL {
            t.write(Bytes::from_static(&SMALL)).unwrap();
        }
        for _ in 0..BURST_LARGE {
            t.write(Bytes::from_static(&LARGE)).unwrap();
        }
    }
    progress.echoed(CONNECTIONS * BURST).await;
    settle(&transports).await;
    let after_burst = per_connection(before);

    for t in &transports {
        t.close();
    }
    server.close();
    within("wait_closed", server.wait_closed()).await;
    Cost {
        after_request,
        after_burst,
    }
}

/// Everything came back, so both write buffers are empty; lets each driver
/// finish its round and go back to waiting.
async fn settle<T: Transport>(transports: &[T]) {
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
    assert!(transports.iter().all(|t| t.write_buffer_size() == 0));
}

/// Runs `measure` on a fresh single-threaded runtime, which it drops after:
/// nothing of one measurement is left for the next.
fn on_runtime<F: std::future::Future<Output = Cost>>(measure: impl FnOnce() -> F) -> Cost {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(measure())
}

#[test]
fn idle_connections_are_small() {
    let tcp = on_runtime(|| idle_cost(tcp0(), |s| s.addr()));
    let unix = on_runtime(|| idle_cost(unix_addr("idle"), |s| s.addr()));
    // Certificates and configurations are made before measuring.
    let (server, client) = (server_config(pki()), client_config(pki()));
    let tls = on_runtime(|| {
        idle_cost(tls_server_addr(server), move |s| {
            s.addr().with_client_config(client.clone())
        })
    });
    eprintln!("idle heap per connection, both ends (budget {BUDGET} B for tcp and unix):");
    for (kind, cost) in [("tcp", tcp), ("unix", unix), ("tls", tls)] {
        eprintln!(
            "  {kind:4}: {} B after one request, {} B after a {BURST} B burst",
            cost.after_request, cost.after_burst
        );
    }
    for (kind, cost) in [("TCP", tcp), ("Unix", unix)] {
        assert!(
            cost.after_request <= BUDGET,
            "an idle {kind} connection keeps {} B after one request",
            cost.after_request
        );
        assert!(
            cost.after_burst <= BUDGET,
            "an idle {kind} connection keeps {} B after a burst",
            cost.after_burst
        );
    }
}
