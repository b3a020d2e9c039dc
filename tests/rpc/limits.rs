//! Bounds and failures of RPC connections, generic over the backend:
//! bursts are slowed down rather than refused, a flooding peer that never
//! reads cannot grow the server's handlers or queue past their limits,
//! abandoned calls are forgotten, panicking handlers answer with an error,
//! and two peers whose handlers call each other back at their limits do not
//! deadlock.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use agentwire::channel::{ChannelOptions, Json};
use agentwire::rpc::{self, Connection, Router, RpcError};
use futures_util::future::join_all;
use tokio::sync::{mpsc, watch};
use transport_api::{Address, Server, Transport};

use crate::support::raw_peer::{request_frame, Deaf};
use crate::support::{calc, hang_router, BothWays, Hangs};

fn json() -> ChannelOptions<Json> {
    ChannelOptions::new().codec(Json)
}

/// Serves `router` at `addr` and connects a client that serves nothing.
async fn serve_and_connect<A>(addr: &A, router: Router<Json>) -> (A::Server, Connection)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let server = rpc::start_server(addr, Arc::new(router), json(), |_| {})
        .await
        .expect("server starts");
    let conn = Connection::open(&server.addr(), Arc::new(Router::<Json>::new()), json())
        .await
        .expect("connects");
    (server, conn)
}

/// 10,000 concurrent calls from one client with default options: every one
/// is answered (the client's window and the server's backpressure slow the
/// burst down; nothing is refused).
pub async fn ten_thousand_concurrent_calls<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let (server, conn) = serve_and_connect(&addr, calc::<Json>()).await;
    let calls = (0..10_000i64).map(|i| {
        let conn = conn.clone();
        async move { (i, conn.call::<_, i64>("add", (i, 1)).await) }
    });
    for (i, result) in join_all(calls).await {
        assert_eq!(result.expect("answered, not refused"), i + 1);
    }
    assert_eq!(conn.channel().pending_requests(), 0);
    conn.close().await;
    server.close();
}

/// A peer floods 100,000 requests and never reads the replies: the server
/// never runs more handlers or queues more requests than its limits, and a
/// second client is served meanwhile.
pub async fn flood_without_reading<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    const LIMIT: usize = 8;
    const QUEUE: usize = 16;
    const FLOOD: u64 = 100_000;
    let options = json()
        .max_concurrent_requests(LIMIT)
        .max_queued_requests(QUEUE);
    let (conn_tx, mut conn_rx) = mpsc::unbounded_channel();
    let server = rpc::start_server(
        &addr,
        Arc::new(calc::<Json>()),
        options,
        move |conn: Connection| {
            let _ = conn_tx.send(conn);
        },
    )
    .await
    .expect("server starts");
    let addr = server.addr();
    let (deaf_tx, mut deaf_rx) = mpsc::unbounded_channel();
    let (flooder, _) = addr
        .create_connection(Deaf(deaf_tx))
        .await
        .expect("flooder connects");
    let _flooder_transport = deaf_rx.recv().await.expect("connected");
    let flooded = conn_rx.recv().await.expect("server side of the flood");
    // Replies large enough (100,000 x ~270 B) that the kernel's socket
    // buffers cannot take them all.
    let args = serde_json::json!(["x".repeat(256)]);
    let check = |flooded: &Connection| {
        assert!(flooded.peak_running_handlers() <= LIMIT);
        assert!(flooded.channel().queued_requests() <= QUEUE);
    };
    for id in 0..FLOOD {
        flooder
            .write(request_frame(id, "echo", &args))
            .expect("flood write");
        if id % 1000 == 0 {
            tokio::task::yield_now().await;
            check(&flooded);
        }
    }
    // The server reaches its limits (every handler waits to write its
    // reply, the queue is full) and stays there.
    while flooded.running_handlers() < LIMIT || flooded.channel().queued_requests() < QUEUE {
        tokio::task::yield_now().await;
        check(&flooded);
    }
    for _ in 0..200 {
        tokio::task::yield_now().await;
        check(&flooded);
    }

    // Another client is served meanwhile.
    let other = Connection::open(&addr, Arc::new(Router::<Json>::new()), json())
        .await
        .expect("second client connects");
    assert_eq!(other.call::<_, i64>("add", (2, 3)).await.expect("add"), 5);
    check(&flooded);
    other.close().await;

    flooder.abort();
    flooded.channel().closed().await;
    // Handlers end with the connection (its serving loop drops them).
    while flooded.running_handlers() > 0 {
        tokio::task::yield_now().await;
    }
    server.close();
}

/// 10,000 calls whose callers give up (their futures dropped) while the
/// server holds them: the client forgets every one.
pub async fn dropped_calls_are_forgotten<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let (release, held) = watch::channel(false);
    let router: Router<Json> = Router::new()
        .method("hold", move |(): ()| {
            let mut held = held.clone();
            async move {
                let _ = held.wait_for(|released| *released).await;
                Ok::<_, Infallible>(())
            }
        })
        .method("ping", |(): ()| async move { Ok::<_, Infallible>("pong") });
    let (server, conn) = serve_and_connect(&addr, router).await;
    let calls: Vec<_> = (0..10_000)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.call::<_, ()>("hold", ()).await })
        })
        .collect();
    let window = ChannelOptions::<Json>::DEFAULT_MAX_PENDING_REQUESTS;
    while conn.channel().pending_requests() < window {
        tokio::task::yield_now().await;
    }
    for call in &calls {
        call.abort();
    }
    for call in calls {
        assert!(call.await.expect_err("aborted").is_cancelled());
    }
    assert_eq!(conn.channel().pending_requests(), 0);
    // Late replies to the forgotten calls are discarded; the connection
    // goes on.
    release.send_replace(true);
    assert_eq!(
        conn.call::<_, String>("ping", ()).await.expect("ping"),
        "pong"
    );
    assert_eq!(conn.channel().pending_requests(), 0);
    conn.close().await;
    server.close();
}

/// An argument whose decoding panics on 13 (a user's `Deserialize`).
struct Touchy(i64);

impl<'de> serde::Deserialize<'de> for Touchy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        assert!(n != 13, "boom decoding {n}");
        Ok(Touchy(n))
    }
}

/// A result whose encoding panics (a user's `Serialize`).
struct Explosive;

impl serde::Serialize for Explosive {
    fn serialize<S: serde::Serializer>(&self, _s: S) -> Result<S::Ok, S::Error> {
        panic!("boom encoding the result")
    }
}

/// A handler that panics before it returns its future, one whose future
/// panics, one whose argument panics while it is decoded and one whose
/// result panics while it is encoded: each call gets an error reply naming
/// the panic, and the next call on the same connection is answered.
pub async fn panicking_handlers<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    #[allow(clippy::unused_async)]
    async fn never() -> Result<(), Infallible> {
        Ok(())
    }
    let router: Router<Json> = Router::new()
        .method("touchy", |(t,): (Touchy,)| async move {
            Ok::<_, Infallible>(t.0)
        })
        .method("explosive", |(): ()| async move {
            Ok::<_, Infallible>(Explosive)
        })
        .method(
            "panic_now",
            |(): ()| -> std::future::Ready<Result<(), Infallible>> {
                panic!("boom before the future")
            },
        )
        .method("panic_later", |(n,): (i64,)| async move {
            if n > 0 {
                panic!("boom inside the future: {n}");
            }
            never().await
        })
        .method("add", |(a, b): (i64, i64)| async move {
            Ok::<_, Infallible>(a + b)
        });
    let (server, conn) = serve_and_connect(&addr, router).await;
    for (path, args, says) in [
        ("panic_now", serde_json::json!([]), "boom before the future"),
        (
            "panic_later",
            serde_json::json!([7]),
            "boom inside the future: 7",
        ),
        ("touchy", serde_json::json!([13]), "boom decoding 13"),
        (
            "explosive",
            serde_json::json!([]),
            "boom encoding the result",
        ),
    ] {
        let err = conn
            .call_with_kwargs::<_, _, ()>(path, ArgsOf(args), &serde_json::Map::new())
            .await
            .expect_err("a panic is an error reply");
        match &err {
            RpcError::Remote { message, .. } => {
                assert!(message.contains("panicked"), "{message}");
                assert!(message.contains(says), "{message}");
                if path != "explosive" {
                    // (The reply's encoding fails below the RPC layer,
                    // which no longer knows the path.)
                    assert!(message.contains(path), "{message}");
                }
            }
            other => panic!("expected a remote error, got {other:?}"),
        }
        assert_eq!(conn.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
    }
    assert_eq!(
        conn.call::<_, i64>("touchy", (12,)).await.expect("touchy"),
        12
    );
    conn.close().await;
    server.close();
}

/// Positional arguments from a JSON list.
struct ArgsOf(serde_json::Value);

impl agentwire::rpc::Args for ArgsOf {
    fn serialize_args<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&self.0, serializer)
    }
}

/// Both ends of one connection at their limit (two handlers each), every
/// handler calling the other end back over the same connection: all calls
/// complete, because a handler waiting for a reply frees its slot.
pub async fn callbacks_at_the_limit<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    const CALLS: i64 = 50;
    let options = || json().max_concurrent_requests(2).max_queued_requests(4);
    /// `outer(n)` calls the peer's `leaf(n)`; `leaf(n)` is `n + 1`.
    fn router(peer: Arc<OnceLock<Connection>>) -> Router<Json> {
        Router::new()
            .method(
                "leaf",
                |(n,): (i64,)| async move { Ok::<_, Infallible>(n + 1) },
            )
            .method("outer", move |(n,): (i64,)| {
                let peer = Arc::clone(&peer);
                async move {
                    let conn = peer
                        .get()
                        .ok_or_else(|| "no connection yet".to_owned())?
                        .clone();
                    conn.call::<_, i64>("leaf", (n,))
                        .await
                        .map_err(|e| e.to_string())
                }
            })
    }
    let BothWays {
        server,
        conn,
        server_conn,
    } = BothWays::open(&addr, router, options).await;
    let from_client = (0..CALLS).map(|n| {
        let conn = conn.clone();
        async move { conn.call::<_, i64>("outer", (n,)).await }
    });
    let from_server = (0..CALLS).map(|n| {
        let conn = server_conn.clone();
        async move { conn.call::<_, i64>("outer", (n,)).await }
    });
    let (a, b) = tokio::join!(join_all(from_client), join_all(from_server));
    for (n, (a, b)) in a.into_iter().zip(b).enumerate() {
        assert_eq!(a.expect("client's call"), n as i64 + 1);
        assert_eq!(b.expect("server's call"), n as i64 + 1);
    }
    let cap = 2 + ChannelOptions::<Json>::DEFAULT_MAX_PENDING_REQUESTS;
    assert!(conn.peak_running_handlers() <= cap);
    assert!(server_conn.peak_running_handlers() <= cap);
    conn.close().await;
    server.close();
}

/// Handlers that never finish fill every slot of a connection (its limit
/// reached, more requests queued); the peer then goes away: the handlers
/// are dropped with the connection, not kept forever.
pub async fn hanging_handlers_end_with_the_connection<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    const LIMIT: usize = 2;
    let hangs = Arc::new(Hangs::default());
    let server = rpc::start_server(
        &addr,
        Arc::new(hang_router(&hangs)),
        json().max_concurrent_requests(LIMIT),
        |_| {},
    )
    .await
    .expect("server starts");
    let conn = Connection::open(&server.addr(), Arc::new(Router::<Json>::new()), json())
        .await
        .expect("connects");
    let calls: Vec<_> = (0..LIMIT + 3)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.call::<_, ()>("hang", ()).await })
        })
        .collect();
    while hangs.started.load(Ordering::SeqCst) < LIMIT {
        tokio::task::yield_now().await;
    }
    conn.abort().await;
    for call in calls {
        assert!(call.await.expect("joins").is_err());
    }
    while hangs.dropped.load(Ordering::SeqCst) < LIMIT {
        tokio::task::yield_now().await;
    }
    assert_eq!(hangs.started.load(Ordering::SeqCst), LIMIT);
    server.close();
}

/// An error whose text is larger than a frame on the wire (control
/// characters escaped six times longer in JSON) still reaches the caller,
/// shortened, rather than as "dropped without a reply".
pub async fn oversized_error_text_is_shortened<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let options = json().max_frame_size(1024);
    let router: Router<Json> = Router::new().method("fail", |(n,): (usize,)| async move {
        Err::<(), _>(format!("bad{}", "\u{1}".repeat(n)))
    });
    let server = rpc::start_server(&addr, Arc::new(router), options.clone(), |_| {})
        .await
        .expect("server starts");
    let conn = Connection::open(&server.addr(), Arc::new(Router::<Json>::new()), options)
        .await
        .expect("connects");
    for n in [10, 300, 1000, 5000] {
        match conn.call::<_, ()>("fail", (n,)).await {
            Err(RpcError::Remote { message, .. }) => {
                assert!(message.starts_with("bad"), "{n}: {message}");
            }
            other => panic!("expected a remote error, got {other:?}"),
        }
    }
    conn.close().await;
    server.close();
}
