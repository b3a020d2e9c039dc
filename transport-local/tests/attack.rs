//! Hostile use of local queues on a multi-thread runtime: one transport
//! shared by many tasks, servers closed while connections are being made,
//! protocols that misbehave in their callbacks, odd queue ids.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use bytes::Bytes;
use transport_api::conformance::{Backend, Log, Recorder};
use transport_api::{Address, Error, Protocol, Server, SharedTransport, Transport};
use transport_local::{LocalNetwork, LocalQueue, LocalQueueServer};

/// A hang detector, not a timing assertion.
const HANG: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
struct Local {
    net: LocalNetwork,
    next: AtomicUsize,
}

/// The kit's attacks (one transport shared by eight tasks, protocols that
/// end, panic or block in their callbacks, the stream adapter used roughly).
mod kit {
    transport_api::attack_tests!(super::Local::default());
}

impl Backend for Local {
    type Addr = LocalQueue;

    fn fresh_addr(&self) -> LocalQueue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.net.get_queue(&format!("attack-{n}")).unwrap()
    }

    fn client_addr(&self, server: &LocalQueueServer) -> LocalQueue {
        server.addr()
    }

    fn refused_addr(&self) -> LocalQueue {
        self.fresh_addr()
    }
}

/// A protocol that only notes whether `connection_made` ran after the
/// server's `wait_closed` returned.
struct Late {
    wait_returned: Arc<AtomicBool>,
    late: Arc<AtomicUsize>,
}

impl Protocol for Late {
    fn connection_made(&mut self, transport: SharedTransport) {
        if self.wait_returned.load(Ordering::SeqCst) {
            self.late.fetch_add(1, Ordering::SeqCst);
        }
        transport.close();
    }
    fn data_received(&mut self, _: Bytes) {}
}

/// A connection whose server-side factory is running when `close()` is
/// called is either refused or accepted; if accepted, `wait_closed` waits
/// for it (it must not return while an accepted connection is still to
/// come).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wait_closed_covers_a_connection_accepted_during_close() {
    let lq = LocalNetwork::new().get_queue("closing").unwrap();
    let wait_returned = Arc::new(AtomicBool::new(false));
    let late = Arc::new(AtomicUsize::new(0));
    let (in_factory_tx, in_factory_rx) = mpsc::sync_channel::<()>(1);
    let (closed_tx, closed_rx) = mpsc::sync_channel::<()>(1);
    let closed_rx = std::sync::Mutex::new(closed_rx);
    let (w, l) = (Arc::clone(&wait_returned), Arc::clone(&late));
    let server = lq
        .create_server(move || {
            // Hold the connection in the factory until the server is closed.
            let _ = in_factory_tx.try_send(());
            let _ = closed_rx.lock().unwrap().recv_timeout(HANG);
            Late {
                wait_returned: Arc::clone(&w),
                late: Arc::clone(&l),
            }
        })
        .await
        .unwrap();
    let client_lq = lq.clone();
    let connecting = tokio::spawn(async move {
        client_lq
            .create_connection(Recorder::new(&Log::new()))
            .await
            .map(drop)
    });
    tokio::task::spawn_blocking(move || in_factory_rx.recv_timeout(HANG))
        .await
        .unwrap()
        .expect("the factory was never called");
    server.close();
    closed_tx.send(()).unwrap();
    tokio::time::timeout(HANG, server.wait_closed())
        .await
        .expect("wait_closed hung");
    wait_returned.store(true, Ordering::SeqCst);
    let outcome = tokio::time::timeout(HANG, connecting)
        .await
        .expect("connect hung")
        .unwrap();
    assert!(
        matches!(outcome, Ok(()) | Err(Error::ConnectionRefused { .. })),
        "{outcome:?}"
    );
    assert_eq!(
        late.load(Ordering::SeqCst),
        0,
        "a connection was accepted after wait_closed returned"
    );
}

/// Ids are text: any non-empty id without `/` names a queue (NUL, unicode,
/// a megabyte of it), and a rejected one is named in the error.
#[test]
fn odd_queue_ids() {
    let net = LocalNetwork::new();
    let huge = "x".repeat(1 << 20);
    for id in ["a\0b", "\u{1F980}-ü-ß", " ", "..", huge.as_str()] {
        let lq = net.get_queue(id).unwrap();
        assert_eq!(lq.queue_id(), id);
        assert!(lq.ptr_eq(&net.get_queue(id).unwrap()));
    }
    for id in ["", "/", "a/b", "\u{1F980}/"] {
        let err = net.get_queue(id).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidAddress { input, .. } if input == id),
            "{err:?}"
        );
    }
}

/// The registry does not keep queues that nobody holds (ids that came
/// from anywhere, 100k of them, are given back), but keeps a queue that a
/// server is bound to, and the same id still gives the same queue while
/// anything holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unused_queues_are_given_back() {
    let net = LocalNetwork::new();
    for n in 0..100_000 {
        drop(net.get_queue(&format!("q{n}")).unwrap());
    }
    assert!(
        net.queue_ids().is_empty(),
        "{} queues kept",
        net.queue_ids().len()
    );

    let held = net.get_queue("held").unwrap();
    let served = net.get_queue("served").unwrap();
    let server = served
        .create_server(|| Recorder::new(&Log::new()))
        .await
        .unwrap();
    drop(served);
    assert_eq!(net.queue_ids(), ["held", "served"]);
    assert!(held.ptr_eq(&net.get_queue("held").unwrap()));
    let (t, _) = net
        .get_queue("served")
        .unwrap()
        .create_connection(Recorder::new(&Log::new()))
        .await
        .unwrap();
    t.close();
    server.close();
    tokio::time::timeout(HANG, server.wait_closed())
        .await
        .unwrap();
    drop(server);
    assert_eq!(net.queue_ids(), ["held"]);
}

/// Clearing the registry while servers run: they go on serving clients
/// that hold their queue; the id then names a new, unbound queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clear_while_servers_run() {
    let net = LocalNetwork::new();
    let lq = net.get_queue("running").unwrap();
    let server = lq
        .create_server(|| Recorder::new(&Log::new()))
        .await
        .unwrap();
    net.clear_queue_cache();
    let (t, _) = lq
        .create_connection(Recorder::new(&Log::new()))
        .await
        .unwrap();
    t.close();
    let fresh = net.get_queue("running").unwrap();
    assert!(!fresh.ptr_eq(&lq));
    let err = fresh
        .create_connection(Recorder::new(&Log::new()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ConnectionRefused { .. }), "{err:?}");
    server.close();
    tokio::time::timeout(HANG, server.wait_closed())
        .await
        .unwrap();
}

/// Two servers on one queue: the second is `AddrInUse` naming it; a server
/// dropped without `close` keeps serving (documented), until closed
/// through the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_and_a_dropped_server() {
    let lq = LocalNetwork::new().get_queue("twice").unwrap();
    let server = lq
        .create_server(|| Recorder::new(&Log::new()))
        .await
        .unwrap();
    let err = lq
        .create_server(|| Recorder::new(&Log::new()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AddrInUse { .. }), "{err:?}");
    assert!(err.to_string().contains("local://twice"), "{err}");
    drop(server);
    let (t, _) = lq
        .create_connection(Recorder::new(&Log::new()))
        .await
        .unwrap();
    t.close();
    let server = lq.server().expect("a dropped server stays bound");
    server.close();
    tokio::time::timeout(HANG, server.wait_closed())
        .await
        .unwrap();
    assert!(lq.server().is_none());
}
