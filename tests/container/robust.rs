//! Containers against peers that misbehave or go away: shutdown with a
//! peer that does not read, and a remote container restarted on the same
//! address again and again.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use agentwire::rpc::Router;
use agentwire::Container;
use bytes::Bytes;
use tokio::sync::mpsc;
use transport_api::{Address, SharedTransport, Transport};

use crate::support::raw_peer::{request_frame, Deaf};
use crate::support::{calc, Backend};

/// Connects a [`Deaf`] peer to `addr` and sends it `frames`.
async fn deaf_peer<A: Address>(addr: A, frames: Vec<Bytes>) -> (A::Transport, SharedTransport) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (transport, _) = addr
        .create_connection(Deaf(tx))
        .await
        .expect("deaf peer connects");
    let shared = rx.recv().await.expect("connected");
    for frame in frames {
        transport.write(frame).expect("deaf peer writes");
    }
    (transport, shared)
}

/// `shutdown()` returns whatever a peer does: here one that never reads
/// its replies (small ones on a local queue, a flood of large ones on
/// sockets, so that closing cannot flush them). Handlers still running end
/// with their connections.
pub async fn shutdown_with_a_peer_that_does_not_read(backend: Backend) {
    let b = backend.container("b").await;
    let token = Arc::new(());
    let held = Arc::clone(&token);
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let agent = Router::new()
        .method("hold", move |(): ()| {
            let held = Arc::clone(&held);
            let started = started_tx.clone();
            async move {
                let _ = started.send(());
                std::future::pending::<()>().await;
                drop(held);
                Ok::<_, Infallible>(())
            }
        })
        .method("big", |(): ()| async move {
            Ok::<_, Infallible>("x".repeat(1 << 20))
        });
    b.register("Stubborn", agent).expect("register");
    let mut frames: Vec<Bytes> = (0..3)
        .map(|id| request_frame(id, "agents/0/hold", &serde_json::json!([])))
        .collect();
    let replies: u64 = match backend {
        // Three small replies that the peer never takes.
        Backend::Local(_) => 3,
        // More than the kernel's socket buffers hold (24 MiB).
        _ => 24,
    };
    let path = if replies == 3 {
        "validate_aid"
    } else {
        "agents/0/big"
    };
    let args = if replies == 3 {
        serde_json::json!(["0"])
    } else {
        serde_json::json!([])
    };
    frames.extend((0..replies).map(|id| request_frame(100 + id, path, &args)));
    let _peer = match &backend {
        Backend::Local(net) => {
            let queue = net.get_queue("b").expect("queue");
            deaf_peer(queue, frames).await.1
        }
        Backend::Tcp => {
            let addr: transport_tcp::TcpAddr = b.url().parse().expect("tcp url");
            deaf_peer(addr, frames).await.1
        }
        Backend::Unix(_) => {
            let addr: transport_tcp::UnixAddr = b.url().parse().expect("ipc url");
            deaf_peer(addr, frames).await.1
        }
        other => panic!("this scenario runs on local queues, TCP and Unix sockets, not {other:?}"),
    };
    for _ in 0..3 {
        started.recv().await.expect("a hold handler runs");
    }

    tokio::time::timeout(Duration::from_secs(15), b.shutdown())
        .await
        .expect("shutdown returns within its grace period");
    // No handler survives: each held a clone of the token (one more clone
    // is the agent's own).
    while Arc::strong_count(&token) > 2 {
        tokio::task::yield_now().await;
    }
}

/// A remote container restarted 50 times on one address: `connect()` right
/// after each restart succeeds (a cached connection to the old one is never
/// handed out as live, and a dead one is replaced).
pub async fn connect_after_restarts(backend: Backend) {
    let a = backend.container("a").await;
    let mut b = Container::create_with(backend.restartable_url("b").as_str(), backend.options())
        .await
        .expect("container starts");
    let url = b.url().to_owned();
    b.register("Calc", calc()).expect("register");
    let agent = format!("{url}/0");
    let proxy = a.connect(&agent).await.expect("first connect");
    assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
    for round in 0..50i64 {
        b.shutdown().await;
        b = Container::create_with(url.as_str(), backend.options())
            .await
            .expect("restarts on the same address");
        b.register("Calc", calc()).expect("register");
        let proxy = a
            .connect(&agent)
            .await
            .unwrap_or_else(|e| panic!("connect after restart {round}: {e}"));
        assert_eq!(
            proxy.call::<_, i64>("add", (round, 1)).await.expect("add"),
            round + 1
        );
    }
    a.shutdown().await;
    b.shutdown().await;
}

/// Two containers at a tight limit (two handlers per connection) whose
/// agents call each other back, 50 calls each way at once: all complete, as
/// a handler waiting for its own call's reply frees its slot (the calls go
/// out over one connection and come back over the other).
pub async fn agents_calling_back_at_the_limit(backend: Backend) {
    const CALLS: i64 = 50;
    let tight = |options: agentwire::ContainerOptions| {
        let channel = options
            .get_channel_options()
            .clone()
            .max_concurrent_requests(2)
            .max_queued_requests(4);
        options.channel_options(channel)
    };
    let a = Container::create_with(backend.url("a").as_str(), tight(backend.options()))
        .await
        .expect("a starts");
    let b = Container::create_with(backend.url("b").as_str(), tight(backend.options()))
        .await
        .expect("b starts");
    /// `leaf(n)` is `n + 1`; `outer(n)` asks the other container's leaf.
    fn agent(home: Container, other_leaf: String) -> Router {
        Router::new()
            .method(
                "leaf",
                |(n,): (i64,)| async move { Ok::<_, Infallible>(n + 1) },
            )
            .method("outer", move |(n,): (i64,)| {
                let (home, other_leaf) = (home.clone(), other_leaf.clone());
                async move {
                    let leaf = home.connect(&other_leaf).await.map_err(|e| e.to_string())?;
                    leaf.call::<_, i64>("leaf", (n,))
                        .await
                        .map_err(|e| e.to_string())
                }
            })
    }
    let a_url = format!("{}/0", a.url());
    let b_url = format!("{}/0", b.url());
    a.register("Pinger", agent(a.clone(), b_url.clone()))
        .expect("register");
    b.register("Pinger", agent(b.clone(), a_url.clone()))
        .expect("register");
    let to_b = a.connect(&b_url).await.expect("a connects to b");
    let to_a = b.connect(&a_url).await.expect("b connects to a");
    let from_a = (0..CALLS).map(|n| {
        let p = to_b.clone();
        async move { p.call::<_, i64>("outer", (n,)).await }
    });
    let from_b = (0..CALLS).map(|n| {
        let p = to_a.clone();
        async move { p.call::<_, i64>("outer", (n,)).await }
    });
    let (x, y) = tokio::join!(
        futures_util::future::join_all(from_a),
        futures_util::future::join_all(from_b)
    );
    for (n, (x, y)) in x.into_iter().zip(y).enumerate() {
        assert_eq!(x.expect("a's call"), n as i64 + 1);
        assert_eq!(y.expect("b's call"), n as i64 + 1);
    }
    a.shutdown().await;
    b.shutdown().await;
}

/// A container dropped without `shutdown` stops serving its agents: the
/// connections it accepted end (a caller's call fails instead of reaching
/// the dropped agents), and a container started again on the same address
/// is the one `connect` then reaches.
pub async fn dropped_container_stops_serving(backend: Backend) {
    let a = backend.container("a").await;
    let b = Container::create_with(backend.restartable_url("b").as_str(), backend.options())
        .await
        .expect("container starts");
    let url = b.url().to_owned();
    b.register("Old", calc()).expect("register");
    let agent = format!("{url}/0");
    let proxy = a.connect(&agent).await.expect("connect");
    assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
    drop(b);
    let err = proxy
        .call::<_, i64>("add", (1, 2))
        .await
        .expect_err("the dropped container's connection ends");
    assert!(err.is_connection(), "{err:?}");
    let b = Container::create_with(url.as_str(), backend.options())
        .await
        .expect("restarts on the same address");
    b.register("New", calc()).expect("register");
    let proxy = a.connect(&agent).await.expect("connect to the new one");
    assert_eq!(proxy.class_name(), Some("New"));
    a.shutdown().await;
    b.shutdown().await;
}

/// Both ends shut down, each twice and concurrently, while hundreds of
/// calls (a third of them never answered) and connects are under way:
/// every call and connect ends, nothing panics, and the caller cannot
/// connect afterwards.
pub async fn shutdown_storm(backend: Backend) {
    let a = backend.container("a").await;
    let b = backend.container("b").await;
    let agent = Router::new().method("hold", |(n,): (u64,)| async move {
        if n % 3 == 0 {
            std::future::pending::<()>().await;
        }
        tokio::task::yield_now().await;
        Ok::<_, Infallible>(n)
    });
    let info = b.register("Holder", agent).expect("register");
    let url = info.url().to_owned();
    let proxy = a.connect(&url).await.expect("connect");
    let mut tasks = Vec::new();
    for n in 0..300u64 {
        let proxy = proxy.clone();
        tasks.push(tokio::spawn(async move {
            let _ = proxy.call::<_, u64>("hold", (n,)).await;
        }));
        let (a2, url2) = (a.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            if let Ok(p) = a2.connect(&url2).await {
                let _ = p.call::<_, u64>("hold", (n + 1,)).await;
            }
        }));
    }
    tokio::task::yield_now().await;
    let (b1, b2, a1) = (b.clone(), b.clone(), a.clone());
    tasks.push(tokio::spawn(async move { b1.shutdown().await }));
    tasks.push(tokio::spawn(async move { b2.shutdown().await }));
    tasks.push(tokio::spawn(async move { a1.shutdown().await }));
    a.shutdown().await;
    for t in tasks {
        t.await.expect("no task panics");
    }
    b.shutdown().await;
    assert!(a.connect(&url).await.is_err());
}

/// The URL of a container nobody serves on `backend`.
async fn unserved_url(backend: &Backend) -> String {
    match backend {
        // A free port: take one, then let it go.
        Backend::Tcp | Backend::Tls => {
            let probe = backend.container("probe").await;
            let url = probe.url().to_owned();
            probe.shutdown().await;
            url
        }
        _ => backend.url("nobody"),
    }
}

/// A `connect` that retries without end (the remote container is not up)
/// ends with an error when its container is shut down meanwhile.
pub async fn shutdown_ends_a_connect_that_retries(backend: Backend) {
    let a = backend.container("a").await;
    let nobody = unserved_url(&backend).await;
    let connecting = tokio::spawn({
        let a = a.clone();
        async move { a.connect_with_timeout(&format!("{nobody}/0"), None).await }
    });
    // Let it try (and fail) a few times.
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.shutdown().await;
    let result = tokio::time::timeout(Duration::from_secs(10), connecting)
        .await
        .expect("the connect ends with the shutdown")
        .expect("task");
    assert!(result.is_err(), "{result:?}");
}

/// Two `shutdown` calls at once: the second returns when the first does,
/// once the connections are closed, not before.
pub async fn a_second_shutdown_waits_for_the_first(backend: Backend) {
    let a = backend.container("a").await;
    let b = backend.container("b").await;
    let agent = a.register("Calc", calc()).expect("register");
    let proxy = b.connect(agent.url()).await.expect("connect");
    // The first call starts (its connections closing) before the second.
    let second = async {
        b.shutdown().await;
        proxy.connection().channel().lost_error().is_some()
    };
    let ((), closed) = tokio::join!(b.shutdown(), second);
    assert!(
        closed,
        "the connection is closed when the second shutdown returns"
    );
    a.shutdown().await;
}

/// Twenty-four `connect`s under way when their container shuts down: to
/// the container's own address, to another container, and to an address
/// nobody serves, with one attempt, short and long retries, and retries
/// without end; the shutdown begins after a different number of trips
/// through the runtime each round. Each ends: with a proxy (made before
/// the shutdown, dead after it), with the error it had before the
/// shutdown began, or with `ShutDown`. (They ended with a lost connection
/// instead, on every backend; attack pass 8.)
pub async fn connects_under_way_end_with_shut_down(backend: Backend) {
    let timeouts = [
        Some(Duration::ZERO),
        Some(Duration::from_millis(100)),
        Some(Duration::from_secs(60)),
        None,
    ];
    let nobody = unserved_url(&backend).await;
    for round in 0..6 {
        let a = backend.container("a").await;
        let b = backend.container("b").await;
        let own = a.register("Calc", calc()).expect("register");
        let other = b.register("Calc", calc()).expect("register");
        let connects: Vec<_> = (0..24)
            .map(|i| {
                let a = a.clone();
                let url = match i % 3 {
                    0 => own.url().to_owned(),
                    1 => other.url().to_owned(),
                    _ => format!("{nobody}/0"),
                };
                let timeout = timeouts[i % timeouts.len()];
                tokio::spawn(async move {
                    let result = a.connect_with_timeout(&url, timeout).await;
                    // On this thread nothing runs between the end of the
                    // connect and this look.
                    (result, a.is_shut_down(), url)
                })
            })
            .collect();
        for _ in 0..round * 3 {
            tokio::task::yield_now().await;
        }
        tokio::time::timeout(Duration::from_secs(20), a.shutdown())
            .await
            .expect("shutdown returns");
        for connect in connects {
            let ended = tokio::time::timeout(Duration::from_secs(20), connect);
            let (result, shut, url) = ended.await.expect("the connect ends").expect("task");
            match result {
                Ok(proxy) => {
                    let call = proxy.call::<_, i64>("add", (1, 2));
                    let after = tokio::time::timeout(Duration::from_secs(20), call).await;
                    assert!(
                        after.expect("the call ends").is_err(),
                        "round {round}: {url}: a call after the shutdown"
                    );
                }
                Err(agentwire::ContainerError::ShutDown) => assert!(shut),
                Err(e) => assert!(
                    !shut,
                    "round {round}: {url}: {e:?} once the shutdown had begun"
                ),
            }
        }
        b.shutdown().await;
    }
}
