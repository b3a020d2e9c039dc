//! A fifth attack pass on RPC connections: handlers that close, abort or
//! drop the very connection they are answering on, on either end, and
//! calls on a connection whose other end closed it from inside a handler.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use agentwire::channel::{ChannelOptions, Json};
use agentwire::rpc::{self, Connection, Router};
use transport_api::{Address, Server};

use crate::support::BothWays;

fn json() -> ChannelOptions<Json> {
    ChannelOptions::new().codec(Json)
}

async fn ends<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} hangs"))
}

/// What a handler does to its own connection.
fn suicidal(
    me: Arc<Mutex<Option<Connection>>>,
    last: Arc<Mutex<Option<Connection>>>,
) -> Router<Json> {
    let (m1, m2) = (Arc::clone(&me), Arc::clone(&me));
    Router::new()
        .method("close", move |(): ()| {
            let me = m1.lock().expect("unpoisoned").clone();
            async move {
                if let Some(me) = me {
                    me.close().await;
                }
                Ok::<_, Infallible>(1)
            }
        })
        .method("abort", move |(): ()| {
            let me = m2.lock().expect("unpoisoned").clone();
            async move {
                if let Some(me) = me {
                    me.abort().await;
                }
                Ok::<_, Infallible>(2)
            }
        })
        .method("drop", move |(): ()| {
            let last = Arc::clone(&last);
            async move {
                tokio::task::yield_now().await;
                drop(last.lock().expect("unpoisoned").take());
                tokio::task::yield_now().await;
                Ok::<_, Infallible>(3)
            }
        })
        .method("ping", |(): ()| async move { Ok::<_, Infallible>(0) })
}

/// A server's handler closes or aborts the connection it answers on: the
/// call ends (answered, or failed with a connection error), the connection
/// is closed at both ends, and the server goes on serving new ones.
pub async fn server_handlers_end_their_own_connection<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let me = Arc::new(Mutex::new(None));
    let on_conn = {
        let me = Arc::clone(&me);
        move |conn: Connection| {
            *me.lock().expect("unpoisoned") = Some(conn);
        }
    };
    let router = suicidal(Arc::clone(&me), Arc::new(Mutex::new(None)));
    let server = rpc::start_server(&addr, Arc::new(router), json(), on_conn)
        .await
        .expect("server starts");
    for method in ["close", "abort"] {
        let conn = Connection::open(&server.addr(), Arc::new(Router::<Json>::new()), json())
            .await
            .expect("connects");
        let r = ends(method, conn.call::<_, i32>(method, ())).await;
        if let Err(e) = r {
            assert!(e.is_connection(), "{method}: {e:?}");
        }
        let after = ends("a call after", conn.call::<_, i32>("ping", ())).await;
        assert!(after.expect_err("closed").is_connection(), "{method}");
        let server_side = me.lock().expect("unpoisoned").clone();
        assert!(server_side.expect("server side").is_closed(), "{method}");
    }
    serves_on(server).await;
}

/// A client's handler (run in the client connection's serving task) that
/// the server calls back closes, aborts or drops the last handle of the
/// client connection: the server's callback fails with a connection error
/// or is answered, nothing hangs, and the server's connection ends.
pub async fn client_handlers_end_their_own_connection<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    for method in ["close", "abort", "drop"] {
        let peer = Arc::new(OnceLock::<Connection>::new());
        let on_conn = {
            let peer = Arc::clone(&peer);
            move |conn: Connection| {
                let _ = peer.set(conn);
            }
        };
        let server = rpc::start_server(&addr, Arc::new(Router::<Json>::new()), json(), on_conn)
            .await
            .expect("server starts");
        let me = Arc::new(Mutex::new(None));
        let last = Arc::new(Mutex::new(None));
        let router = suicidal(Arc::clone(&me), Arc::clone(&last));
        let conn = Connection::open(&server.addr(), Arc::new(router), json())
            .await
            .expect("connects");
        if method == "drop" {
            *last.lock().expect("unpoisoned") = Some(conn);
        } else {
            *me.lock().expect("unpoisoned") = Some(conn);
        }
        let server_conn = loop {
            if let Some(c) = peer.get() {
                break c.clone();
            }
            tokio::task::yield_now().await;
        };
        // Answered, the connection lost, or (the handler dropped with its
        // connection's serving task, whose last handle it dropped) an
        // exception saying so.
        let r = ends(method, server_conn.call::<_, i32>(method, ())).await;
        if let Err(e) = &r {
            let dropped = e.remote_message().is_some_and(|m| m.contains("dropped"));
            assert!(e.is_connection() || dropped, "{method}: {e:?}");
        }
        // The client's end is gone (or going): the server's end ends too.
        let lost = ends("the server's end", async {
            loop {
                match server_conn.call::<_, i32>("ping", ()).await {
                    Err(e) if e.is_connection() => break,
                    Err(e) => panic!("{method}: {e:?}"),
                    Ok(_) => tokio::task::yield_now().await,
                }
            }
        });
        lost.await;
        server.close();
        ends("wait_closed", server.wait_closed()).await;
    }
}

/// `down(n)`: 0 at the bottom, else one more than the peer's `down(n - 1)`,
/// asked over the same connection.
fn ping_pong(peer: Arc<OnceLock<Connection>>) -> Router<Json> {
    Router::new().method("down", move |(n,): (u32,)| {
        let peer = peer.get().cloned();
        async move {
            if n == 0 {
                return Ok(0);
            }
            let peer = peer.ok_or("no peer yet")?;
            let below = peer
                .call::<_, u32>("down", (n - 1,))
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(below + 1)
        }
    })
}

/// Recursion client→server→client→… over one connection, 40 levels deep and
/// 10 chains at once, at a limit of two handlers per connection (and four
/// queued requests): every handler but the last waits for the reply to its
/// own call, which frees its slot, so all chains complete.
pub async fn recursion_over_one_connection<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    const DEPTH: u32 = 40;
    let options = || json().max_concurrent_requests(2).max_queued_requests(4);
    let BothWays { server, conn, .. } = BothWays::open(&addr, ping_pong, options).await;
    let chains: Vec<_> = (0..10)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.call::<_, u32>("down", (DEPTH,)).await })
        })
        .collect();
    for chain in chains {
        let depth = ends("a recursion", chain).await.expect("task");
        assert_eq!(depth.expect("down"), DEPTH);
    }
    conn.close().await;
    server.close();
}

/// Recursion deeper than the default window of pending calls: a chain
/// nested through handlers holds one slot of `max_pending_requests` per
/// level on each side until it unwinds, so 3,000 levels (1,500 per side)
/// wait forever at the default 1,024 and complete with a window of 2,048;
/// no other limit (handlers, queued requests) caps the depth.
pub async fn recursion_deeper_than_the_default_window<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    const DEPTH: u32 = 3_000;
    const WINDOW: usize = 2_048;
    let options = || {
        json()
            .max_pending_requests(WINDOW)
            .max_concurrent_requests(2)
    };
    let BothWays { server, conn, .. } = BothWays::open(&addr, ping_pong, options).await;
    let depth = ends("a deep recursion", conn.call::<_, u32>("down", (DEPTH,))).await;
    assert_eq!(depth.expect("down"), DEPTH);
    conn.close().await;
    server.close();
}

/// A server's `on_connection` that panics for the first connection: that
/// connection ends (its caller gets a connection error, not a hang), and
/// the server goes on accepting and serving the next ones.
pub async fn panicking_on_connection<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let on_conn = {
        let seen = Arc::clone(&seen);
        move |_: Connection| {
            if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                panic!("on_connection panics");
            }
        }
    };
    let router = suicidal(Arc::default(), Arc::default());
    let server = rpc::start_server(&addr, Arc::new(router), json(), on_conn)
        .await
        .expect("server starts");
    let first = Connection::open(&server.addr(), Arc::new(Router::<Json>::new()), json()).await;
    if let Ok(conn) = first {
        let r = ends(
            "a call on the connection whose on_connection panicked",
            async { conn.call::<_, i32>("ping", ()).await },
        )
        .await;
        assert!(r.is_err(), "{r:?}");
    }
    serves_on(server).await;
}

/// The server still accepts a new connection and answers `ping` on it;
/// then it is closed.
async fn serves_on<S: Server>(server: S) {
    let conn = Connection::open(&server.addr(), Arc::new(Router::<Json>::new()), json())
        .await
        .expect("the server still accepts");
    assert_eq!(
        ends("ping", conn.call::<_, i32>("ping", ()))
            .await
            .expect("ping"),
        0
    );
    conn.close().await;
    server.close();
}

/// The last handle of an opened connection is dropped while the server's
/// calls wait on its handlers: those calls fail with a connection error,
/// as after `close`, not with a remote "dropped without a reply" (the
/// connection used to abort its handlers, whose requests then answered on
/// a channel still open), and the handlers are dropped.
pub async fn dropping_the_last_handle_fails_the_peers_calls<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    use crate::support::{hang_router, Hangs};
    use std::sync::atomic::Ordering;
    let (conn_tx, mut conn_rx) = tokio::sync::mpsc::unbounded_channel();
    let server = rpc::start_server(
        &addr,
        Arc::new(Router::<Json>::new()),
        json(),
        move |conn: Connection| {
            let _ = conn_tx.send(conn);
        },
    )
    .await
    .expect("server starts");
    let hangs = Arc::new(Hangs::default());
    let conn = Connection::open(&server.addr(), Arc::new(hang_router(&hangs)), json())
        .await
        .expect("connects");
    let server_conn = ends("the server's end", conn_rx.recv())
        .await
        .expect("the server's end");
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let server_conn = server_conn.clone();
            tokio::spawn(async move { server_conn.call::<_, ()>("hang", ()).await })
        })
        .collect();
    ends("the handlers starting", async {
        while hangs.started.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    drop(conn);
    for call in calls {
        let err = ends("a call to a dropped connection", call)
            .await
            .expect("call task")
            .expect_err("its connection was dropped");
        assert!(err.is_connection(), "{err}");
    }
    ends("the handlers being dropped", async {
        while hangs.dropped.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    server.close();
}
