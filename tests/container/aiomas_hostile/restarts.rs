//! Containers restarted (or dropped and created again) under a connected
//! peer: a Rust one under a Python client, a Python one under a Rust
//! container's cached connection.

use super::*;

/// A Rust container restarted on the same TCP address while an aiomas
/// client holds a connection to it: Python sees the connection lost, its
/// next call fails, and a new connection reaches the new container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_container_restarted_under_a_python_client() {
    let gauge = Arc::new(Gauge::default());
    // A port below the ephemeral range: one from `bind(0)` may be taken by
    // another test's connection while the container is down.
    let mut c = Container::create_with(("127.0.0.1", free_port()), tight(ContainerOptions::new()))
        .await
        .expect("container");
    c.register("Stress", agent::<Json>(&gauge))
        .expect("register");
    let url = c.url().to_owned();
    let addr = host_port(&url);
    let mut py = Driven::start("JSON").await;
    assert_eq!(py.cmd(&format!("open {addr}")).await, "ok open");
    for round in 0..3 {
        assert_eq!(
            py.cmd("call agents/0/add [1, 2]").await,
            "ok call 3",
            "round {round}"
        );
        c.shutdown().await;
        assert_eq!(py.cmd("closed").await, "closed ConnectionResetError");
        assert_eq!(
            py.cmd("call agents/0/add [1, 2]").await,
            "err call ConnectionResetError"
        );
        c = Container::create_with(url.as_str(), tight(ContainerOptions::new()))
            .await
            .expect("restarts on the same address");
        c.register("Stress", agent::<Json>(&gauge))
            .expect("register");
        assert_eq!(py.cmd(&format!("open {addr}")).await, "ok open");
    }
    py.exit();
    c.shutdown().await;
}

/// A Python aiomas container restarted on the same port, three times,
/// while a Rust container has a cached connection to it: the next
/// `connect` succeeds at once (no retries, no sleeps) and its calls reach
/// the new Python container.
async fn python_container_restarted_under_a_rust_one<C: Codec>(codec: C, name: &str) {
    let port = free_port();
    let (mut py, url) = python_container(name, port).await;
    let options = ContainerOptions::new()
        .codec(codec)
        .connect_timeout(Some(Duration::ZERO));
    let c = Container::create_with(("127.0.0.1", 0), options)
        .await
        .expect("container");
    let proxy = c.connect(&url).await.expect("connect");
    assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
    for round in 0..3i64 {
        drop(py);
        let (again, same) = python_container(name, port).await;
        assert_eq!(same, url);
        py = again;
        let proxy = c
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("connect after restart {round}: {e}"));
        assert_eq!(
            proxy.call::<_, i64>("add", (round, 1)).await.expect("add"),
            round + 1
        );
    }
    c.shutdown().await;
    drop(py);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_container_restarted_under_a_rust_one_json() {
    python_container_restarted_under_a_rust_one(Json, "JSON").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_container_restarted_under_a_rust_one_msgpack() {
    python_container_restarted_under_a_rust_one(MsgPack, "MsgPack").await;
}

/// A Unix-socket container restarted on the same path while an aiomas
/// client holds a connection to it: Python sees the connection lost, and a
/// new connection to the path reaches the new container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_container_restarted_under_a_python_client() {
    let dir = crate::support::TempDir::new();
    let path = dir.path().join("c.sock");
    let url = format!("ipc://[{}]", path.display());
    let gauge = Arc::new(Gauge::default());
    let start = || async {
        let c = Container::create_with(url.as_str(), ContainerOptions::new())
            .await
            .expect("container");
        c.register("Stress", agent::<Json>(&gauge))
            .expect("register");
        c
    };
    let mut c = start().await;
    let mut py = Driven::start("JSON").await;
    let open = format!("openunix {}", path.display());
    assert_eq!(py.cmd(&open).await, "ok open");
    for round in 0..3 {
        assert_eq!(
            py.cmd("call agents/0/add [1, 2]").await,
            "ok call 3",
            "round {round}"
        );
        c.shutdown().await;
        assert_eq!(py.cmd("closed").await, "closed ConnectionResetError");
        c = start().await;
        assert_eq!(py.cmd(&open).await, "ok open");
    }
    py.exit();
    c.shutdown().await;
}

/// A Python aiomas container on a Unix socket, killed (its socket file
/// stays behind) and started again on the same path, three times, while a
/// Rust container has a cached connection to it: the next `connect`
/// succeeds at once and reaches the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_unix_container_restarted_under_a_rust_one() {
    aiomas::venv().await;
    let dir = crate::support::TempDir::new();
    let path = dir.path().join("py.sock").display().to_string();
    let start = || async {
        let mut child = Kill(
            Command::new(aiomas::python())
                .current_dir(aiomas::fixtures_dir())
                .args(["driven.py", "JSON", "serve", "unix", &path])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("python starts"),
        );
        let rx = aiomas::lines(&mut child);
        let url = aiomas::ready_url(rx, "driven.py").await;
        (child, url)
    };
    let (mut py, url) = start().await;
    assert_eq!(url, format!("ipc://[{path}]/0"));
    let c = Container::create_with(
        ("127.0.0.1", 0),
        ContainerOptions::new().connect_timeout(Some(Duration::ZERO)),
    )
    .await
    .expect("container");
    let proxy = c.connect(&url).await.expect("connect");
    assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
    for round in 0..3i64 {
        drop(py);
        assert!(std::path::Path::new(&path).exists(), "a stale socket file");
        let (again, same) = start().await;
        assert_eq!(same, url);
        py = again;
        let proxy = c
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("connect after restart {round}: {e}"));
        assert_eq!(
            proxy.call::<_, i64>("add", (round, 1)).await.expect("add"),
            round + 1
        );
    }
    c.shutdown().await;
    drop(py);
}

/// A container dropped (no `shutdown`) and at once created again on the
/// same address, 50 times, on TCP, Unix sockets and local queues: each
/// creation succeeds (the dropped one's listener is gone by then).
async fn recreated_at_once_after_a_drop(url: String, options: ContainerOptions) {
    let mut c = Container::create_with(url.as_str(), options.clone())
        .await
        .expect("container");
    let url = c.url().to_owned();
    for round in 0..50 {
        drop(c);
        c = Container::create_with(url.as_str(), options.clone())
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreated_at_once_after_a_drop_tcp() {
    // A port below the ephemeral range: one from `bind(0)`, let go, may be
    // taken by a connection of a test running beside this one.
    let url = format!("tcp://127.0.0.1:{}", aiomas::free_port());
    recreated_at_once_after_a_drop(url, ContainerOptions::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreated_at_once_after_a_drop_unix() {
    let dir = crate::support::TempDir::new();
    let url = format!("ipc://[{}]", dir.path().join("c.sock").display());
    recreated_at_once_after_a_drop(url, ContainerOptions::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreated_at_once_after_a_drop_local() {
    let options = ContainerOptions::new().local_network(transport_local::LocalNetwork::new());
    recreated_at_once_after_a_drop("local://again".to_owned(), options).await;
}
