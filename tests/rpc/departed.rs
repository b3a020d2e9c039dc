//! Peers that go away while the server cannot read from them: a flood of
//! calls to handlers that never finish fills the connection's limits, its
//! queue and its held-back budget, so reading pauses; then the flooder
//! leaves. The server must notice (and drop the handlers) although it reads
//! nothing from that peer any more and writes nothing to it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use agentwire::channel::{ChannelOptions, Json};
use agentwire::rpc::{self, Connection};
use tokio::sync::mpsc;
use transport_api::{Address, Server, Transport};

use crate::support::raw_peer::{request_frame, Deaf};
use crate::support::{hang_router, Hangs};

/// A flood of 100,000 calls to a handler that never finishes, from a peer
/// that then aborts its end: the server's end of the connection is lost
/// and every handler it started is dropped.
pub async fn a_flooder_that_leaves_is_noticed<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    const LIMIT: usize = 4;
    const FLOOD: u64 = 100_000;
    let hangs = Arc::new(Hangs::default());
    let options = ChannelOptions::new()
        .codec(Json)
        .max_concurrent_requests(LIMIT)
        .max_queued_requests(LIMIT);
    let (conn_tx, mut conn_rx) = mpsc::unbounded_channel();
    let server = rpc::start_server(
        &addr,
        Arc::new(hang_router(&hangs)),
        options,
        move |c: Connection| {
            let _ = conn_tx.send(c);
        },
    )
    .await
    .expect("server starts");
    let (deaf_tx, mut deaf_rx) = mpsc::unbounded_channel();
    let (flooder, _) = server
        .addr()
        .create_connection(Deaf(deaf_tx))
        .await
        .expect("flooder connects");
    let _flooder_transport = deaf_rx.recv().await.expect("connected");
    let flooded = conn_rx.recv().await.expect("server side of the flood");
    // 100,000 x ~30 B: more than the held-back budget (1 MiB).
    let args = serde_json::json!([]);
    for id in 0..FLOOD {
        flooder
            .write(request_frame(id, "hang", &args))
            .expect("flood write");
        if id % 1000 == 0 {
            tokio::task::yield_now().await;
        }
    }
    // The server takes what its limits allow, then pauses reading.
    while hangs.started.load(Ordering::SeqCst) < LIMIT {
        tokio::task::yield_now().await;
    }
    let held = flooded.channel().held_requests();
    assert!(held > 0, "reading paused with requests held back");
    flooder.abort();
    flooded.channel().closed().await;
    while hangs.dropped.load(Ordering::SeqCst) < LIMIT {
        tokio::task::yield_now().await;
    }
    assert_eq!(hangs.started.load(Ordering::SeqCst), LIMIT);
    assert_eq!(flooded.running_handlers(), 0);
    server.close();
}
