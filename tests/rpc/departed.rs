//! Peers that go away while the server cannot read from them: a flood of
//! calls to handlers that never finish fills the connection's limits, its
//! queue and its held-back budget, so reading pauses; then the flooder
//! leaves. The server must notice an abort (and drop the handlers) although
//! it reads nothing from that peer any more and writes nothing to it; a
//! close (all a Unix socket can do) leaves what was sent to be read, and
//! the handlers wait until the server closes the connection.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use agentwire::channel::{ChannelOptions, Json};
use agentwire::rpc::{self, Connection};
use tokio::sync::mpsc;
use transport_api::{Address, Server, Transport};
use transport_tcp::UnixAddr;

use crate::support::raw_peer::{request_frame, Deaf};
use crate::support::{hang_router, Hangs};

/// How the flooder leaves, and what the server must then do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Leaving {
    /// An abort the server can see although it reads nothing: the
    /// connection is lost at once.
    Abort,
    /// A close (a Unix socket's abort is one): what it sent waits to be
    /// read, so the connection stays until the server closes it.
    Close,
}

/// A flood of 100,000 calls to a handler that never finishes, from a peer
/// that then aborts its end: the server's end of the connection is lost
/// and every handler it started is dropped.
pub async fn a_flooder_that_leaves_is_noticed<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    flood_then_leave(addr, Leaving::Abort).await;
}

/// The same flood from a peer that closes its Unix socket: a close is not
/// a departure (what it sent is still to be read), so the connection and
/// its handlers stay after a peer check, and closing the connection on the
/// server's side (as `shutdown` does) ends them without a hang, although
/// reading was paused with the peer gone.
pub async fn a_flooder_that_closes_keeps_its_handlers_until_closed(addr: UnixAddr) {
    flood_then_leave(addr, Leaving::Close).await;
}

async fn flood_then_leave<A>(addr: A, leaving: Leaving)
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
    if leaving == Leaving::Close {
        // Longer than the driver's look at a paused peer (250 ms).
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(!flooded.is_closed(), "a close taken for a departure");
        assert_eq!(hangs.dropped.load(Ordering::SeqCst), 0);
        flooded.close().await;
    }
    flooded.channel().closed().await;
    while hangs.dropped.load(Ordering::SeqCst) < LIMIT {
        tokio::task::yield_now().await;
    }
    assert_eq!(hangs.started.load(Ordering::SeqCst), LIMIT);
    assert_eq!(flooded.running_handlers(), 0);
    server.close();
}
