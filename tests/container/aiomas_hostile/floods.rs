//! Floods of calls from real aiomas clients and to a Python container,
//! and peers that leave with calls pending.

use super::*;

/// 2,000 calls at once from one aiomas client (`asyncio.gather`), to a
/// method that answers at once and to one that waits, at a limit of 8
/// handlers and 16 queued requests: every call is answered.
async fn python_gathers_2000_calls<C: Codec>(codec: C, name: &str) {
    let gauge = Arc::new(Gauge::default());
    let c = container(codec, &gauge).await;
    let mut py = Driven::start(name).await;
    assert_eq!(
        py.cmd(&format!("open {}", host_port(c.url()))).await,
        "ok open"
    );
    // sum(i + 1 for i in range(2000))
    for path in ["agents/0/add", "agents/0/slow"] {
        assert_eq!(
            py.cmd(&format!("gather {path} 2000")).await,
            "ok gather 2000 2001000",
            "{path}"
        );
    }
    // And through aiomas's Container (validate_aid first).
    assert_eq!(
        py.cmd(&format!("connect {}/0", c.url())).await,
        "ok connect"
    );
    assert_eq!(py.cmd("gather slow 2000").await, "ok gather 2000 2001000");
    py.exit();
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_gathers_2000_calls_json() {
    python_gathers_2000_calls(Json, "JSON").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_gathers_2000_calls_msgpack() {
    python_gathers_2000_calls(MsgPack, "MsgPack").await;
}

/// An aiomas client with `calls` calls pending (the container's default
/// limits: 256 handlers run, 1,024 requests wait in its queue, the rest
/// are held back) vanishes: every handler ends, no queued call starts, and
/// the container serves the next client.
///
/// With 3,000 calls, reading from the client used to pause as soon as the
/// queue was full, before its end of the connection was read: the
/// container never noticed that the client was gone, and its 256 handlers
/// (waiting for something that never comes) lived on until shutdown.
async fn python_vanishes_with_pending_calls<C: Codec>(codec: C, name: &str) {
    let gauge = Arc::new(Gauge::default());
    let c = Container::create_with(("127.0.0.1", 0), ContainerOptions::new().codec(codec))
        .await
        .expect("container");
    c.register("Stress", agent::<C>(&gauge)).expect("register");
    for (round, calls) in [100, 600, 3000].into_iter().enumerate() {
        let running = calls.min(256);
        let before = gauge.started.load(Ordering::SeqCst);
        let mut py = Driven::start(name).await;
        assert_eq!(
            py.cmd(&format!("open {}", host_port(c.url()))).await,
            "ok open"
        );
        assert_eq!(
            py.cmd(&format!("fire agents/0/hold {calls}")).await,
            format!("ok fire {calls}")
        );
        gauge
            .until("the handlers run", |started, _| started == before + running)
            .await;
        py.exit();
        gauge.until("every handler ends", |_, live| live == 0).await;
        assert_eq!(
            gauge.started.load(Ordering::SeqCst),
            before + running,
            "round {round}: no queued call starts after the client left"
        );
    }

    let mut next = Driven::start(name).await;
    assert_eq!(
        next.cmd(&format!("open {}", host_port(c.url()))).await,
        "ok open"
    );
    assert_eq!(
        next.cmd("gather agents/0/slow 100").await,
        "ok gather 100 5050"
    );
    next.exit();
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_vanishes_with_pending_calls_json() {
    python_vanishes_with_pending_calls(Json, "JSON").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_vanishes_with_pending_calls_msgpack() {
    python_vanishes_with_pending_calls(MsgPack, "MsgPack").await;
}

/// A Rust container calls a Python aiomas container (`driven.py serve`):
/// 2,000 calls at once (beyond the 1,024 that may wait for replies), all
/// answered; then 100 calls that Python never answers, and Python dies:
/// every one of them fails at once with a connection error, and the next
/// `connect` to a Python container started again on that port works.
async fn rust_floods_and_loses_a_python_container<C: Codec>(codec: C, name: &str) {
    aiomas::venv().await;
    let port = free_port().to_string();
    let start = || {
        let mut child = Kill(
            Command::new(aiomas::python())
                .current_dir(aiomas::fixtures_dir())
                .args(["driven.py", name, "serve", "127.0.0.1", &port])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("python starts"),
        );
        let rx = aiomas::lines(&mut child);
        (child, rx)
    };
    let (py, rx) = start();
    let url = tokio::task::spawn_blocking(move || {
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("READY");
        (line, rx)
    })
    .await
    .expect("reader");
    let (line, rx) = url;
    let url = line.strip_prefix("READY ").expect("READY url").to_owned();

    let c = Container::create_with(
        ("127.0.0.1", 0),
        ContainerOptions::new()
            .codec(codec)
            .connect_timeout(Some(Duration::ZERO)),
    )
    .await
    .expect("container");
    let proxy = c.connect(&url).await.expect("connect");
    let calls = (0..2000i64).map(|i| {
        let p = proxy.clone();
        async move { p.call::<_, i64>("add", (i, 1)).await }
    });
    let sums = futures_util::future::join_all(calls).await;
    let total: i64 = sums.into_iter().map(|r| r.expect("answered")).sum();
    assert_eq!(total, 2_001_000);

    let held: Vec<_> = (0..100i64)
        .map(|i| {
            let p = proxy.clone();
            tokio::spawn(async move { p.call::<_, ()>("hold", (i,)).await })
        })
        .collect();
    tokio::task::spawn_blocking(move || loop {
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("HELD");
        if line == "HELD 100" {
            break;
        }
    })
    .await
    .expect("reader");
    drop(py);
    for call in held {
        let err = tokio::time::timeout(Duration::from_secs(20), call)
            .await
            .expect("fails at once")
            .expect("task")
            .expect_err("never answered");
        assert!(err.is_connection(), "{err:?}");
    }
    let (py, rx) = start();
    tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
        .await
        .expect("reader")
        .expect("READY again");
    let proxy = c.connect(&url).await.expect("connect again");
    assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
    c.shutdown().await;
    drop(py);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_floods_and_loses_a_python_container_json() {
    rust_floods_and_loses_a_python_container(Json, "JSON").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_floods_and_loses_a_python_container_msgpack() {
    rust_floods_and_loses_a_python_container(MsgPack, "MsgPack").await;
}

/// 100 aiomas clients connect at once, make 20 calls each at once and
/// leave, three times: all answered, and the container keeps serving (the
/// connections it keeps for shutdown are forgotten as they close).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_python_clients_come_and_go() {
    let gauge = Arc::new(Gauge::default());
    let c = container(Json, &gauge).await;
    let mut py = Driven::start("JSON").await;
    // sum(i + 1 for i in range(20)) * 100
    for round in 0..3 {
        assert_eq!(
            py.cmd(&format!("many {} 100 20", host_port(c.url()))).await,
            "ok many 21000",
            "round {round}"
        );
    }
    py.exit();
    tokio::time::timeout(Duration::from_secs(15), c.shutdown())
        .await
        .expect("shutdown returns");
}

/// The same as `python_vanishes_with_pending_calls` without Python, on
/// every backend a raw peer can reach: a peer sends 3,000 calls to
/// handlers that wait (more than the 256 that run and the 1,024 that
/// queue) and closes its end; every handler ends.
async fn peer_leaves_with_a_burst_pending<A: transport_api::Address>(addr: A, c: Container) {
    use crate::support::raw_peer::{request_frame, Deaf};
    use transport_api::Transport;
    let gauge = Arc::new(Gauge::default());
    c.register("Stress", agent::<Json>(&gauge))
        .expect("register");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (transport, _) = addr.create_connection(Deaf(tx)).await.expect("connects");
    let _shared = rx.recv().await.expect("connected");
    for id in 0..3000u64 {
        transport
            .write(request_frame(id, "agents/0/hold", &serde_json::json!([id])))
            .expect("writes");
    }
    gauge
        .until("256 handlers run", |started, _| started == 256)
        .await;
    transport.close();
    gauge.until("every handler ends", |_, live| live == 0).await;
    assert_eq!(gauge.started.load(Ordering::SeqCst), 256);
    tokio::time::timeout(Duration::from_secs(15), c.shutdown())
        .await
        .expect("shutdown returns");
}

#[tokio::test]
async fn peer_leaves_with_a_burst_pending_local() {
    let net = transport_local::LocalNetwork::new();
    let c = Container::create_with(
        "local://burst",
        ContainerOptions::new().local_network(net.clone()),
    )
    .await
    .expect("container");
    peer_leaves_with_a_burst_pending(net.get_queue("burst").expect("queue"), c).await;
}

#[tokio::test]
async fn peer_leaves_with_a_burst_pending_tcp() {
    let c = Container::create(("127.0.0.1", 0))
        .await
        .expect("container");
    let addr: transport_tcp::TcpAddr = c.url().parse().expect("tcp url");
    peer_leaves_with_a_burst_pending(addr, c).await;
}

#[tokio::test]
async fn peer_leaves_with_a_burst_pending_unix() {
    let dir = crate::support::TempDir::new();
    let addr = dir.sock();
    let c = Container::create(addr.clone()).await.expect("container");
    peer_leaves_with_a_burst_pending(addr, c).await;
}

/// 2,000 calls at once from an aiomas container, at a limit of 8 handlers
/// and 16 queued requests, each of whose handlers calls the caller's own
/// agent back over the same connection (passed as an argument): all are
/// answered, as a handler waiting for its callback frees its slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_calls_that_call_python_back_at_the_limit() {
    let c = Container::create_with(("127.0.0.1", 0), tight(ContainerOptions::new()))
        .await
        .expect("container");
    let agent = Router::new().method(
        "callback",
        |(who, n): (agentwire::rpc::Proxy, i64)| async move {
            who.call::<_, i64>("ping", (n,))
                .await
                .map_err(|e| e.to_string())
        },
    );
    let info = c.register("Caller", agent).expect("register");
    let mut py = Driven::start("JSON").await;
    assert_eq!(
        py.cmd(&format!("connect {}", info.url())).await,
        "ok connect"
    );
    assert_eq!(py.cmd("callbacks 2000").await, "ok callbacks 2000 2001000");
    py.exit();
    c.shutdown().await;
}

/// An aiomas client (which has no frame limit) sends a 15 MB argument,
/// then one above the container's 16 MiB frame limit: the first is
/// answered, the second closes that connection (Python sees it reset), and
/// the container serves a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sends_frames_around_the_limit() {
    let gauge = Arc::new(Gauge::default());
    let c = container(Json, &gauge).await;
    let mut py = Driven::start("JSON").await;
    let open = format!("open {}", host_port(c.url()));
    assert_eq!(py.cmd(&open).await, "ok open");
    assert_eq!(py.cmd("big agents/0/len 15000000").await, "ok big 15000000");
    assert_eq!(
        py.cmd("big agents/0/len 17000000").await,
        "err big ConnectionResetError"
    );
    assert_eq!(py.cmd(&open).await, "ok open");
    assert_eq!(py.cmd("call agents/0/add [1, 2]").await, "ok call 3");
    py.exit();
    c.shutdown().await;
}
