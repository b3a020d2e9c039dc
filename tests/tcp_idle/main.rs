//! What an idle connection costs: the live heap of many TCP (and Unix)
//! connections, both ends, after one small request and its echo.
//!
//! A counting global allocator measures the heap before the connections are
//! opened and once every one of them is idle again (its request echoed back,
//! both write buffers empty, every driver task waiting). The difference per
//! connection covers both ends: driver tasks, shared state, buffers, socket
//! registrations and the client handles this test keeps.
//!
//! The binary has a single `#[test]`, so no other test allocates while it
//! measures. TLS is measured and printed too (rustls keeps buffers of its
//! own); only TCP and Unix sockets are held to [`BUDGET`].
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tcp/support.rs"]
#[allow(dead_code)]
mod tcp_support;

use std::alloc::System;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use cap::Cap;
use tokio::sync::Notify;
use transport_api::{Address, Protocol, Server, SharedTransport, Transport};

use tcp_support::{client_config, pki, server_config, tcp0, tls_server_addr, unix_addr, within};

/// Counts the live heap (bytes allocated and not yet freed).
#[global_allocator]
static HEAP: Cap<System> = Cap::new(System, usize::MAX);

/// Connections opened per measurement.
const CONNECTIONS: usize = 200;

/// The most heap one idle connection, both ends together, may keep.
const BUDGET: usize = 64 * 1024;

/// The one request each client sends (and gets back).
const REQUEST: &[u8] = b"one small request, echoed back\n";

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

/// What all clients received, and a signal once it is everything.
#[derive(Default)]
struct Progress {
    received: AtomicUsize,
    all_echoed: Notify,
}

/// Counts the bytes echoed back to it; keeps nothing else.
struct Client(Arc<Progress>);

impl Protocol for Client {
    fn connection_made(&mut self, _: SharedTransport) {}

    fn data_received(&mut self, data: Bytes) {
        let before = self.0.received.fetch_add(data.len(), Ordering::SeqCst);
        if before + data.len() == CONNECTIONS * REQUEST.len() {
            self.0.all_echoed.notify_one();
        }
    }
}

/// Opens [`CONNECTIONS`] connections to a server at `addr`, sends one
/// request on each, waits until all are idle and returns the live heap they
/// add, per connection (both ends).
async fn idle_cost<A: Address>(addr: A, client_addr: impl Fn(&A::Server) -> A) -> usize {
    let server = addr.create_server(Echo::default).await.unwrap();
    let client_addr = client_addr(&server);
    let progress = Arc::new(Progress::default());
    let mut transports = Vec::with_capacity(CONNECTIONS);

    let before = HEAP.allocated();
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
    within("every echo", progress.all_echoed.notified()).await;
    // Every byte came back, so both write buffers are empty; let each
    // driver finish its round and go back to waiting.
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
    assert!(transports.iter().all(|t| t.write_buffer_size() == 0));
    let after = HEAP.allocated();

    for t in &transports {
        t.close();
    }
    server.close();
    within("wait_closed", server.wait_closed()).await;
    after.saturating_sub(before) / CONNECTIONS
}

/// Runs `measure` on a fresh single-threaded runtime, which it drops after:
/// nothing of one measurement is left for the next.
fn on_runtime<F: std::future::Future<Output = usize>>(measure: impl FnOnce() -> F) -> usize {
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
    eprintln!(
        "idle heap per connection, both ends: tcp {tcp} B, unix {unix} B, tls {tls} B \
         (budget {BUDGET} B for tcp and unix)"
    );
    assert!(tcp <= BUDGET, "an idle TCP connection keeps {tcp} B");
    assert!(unix <= BUDGET, "an idle Unix connection keeps {unix} B");
}
