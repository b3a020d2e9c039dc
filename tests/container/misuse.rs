//! A fifth attack pass: every option at its extremes (0, `usize::MAX`,
//! `Duration::ZERO` and `Duration::MAX`), and agent URLs and ids in odd but
//! legal forms or overflowing: an error that names the value, or sane
//! behaviour; never a panic, a hang or an overflow.

use std::time::Duration;

use agentwire::channel::{ChannelOptions, Json};
use agentwire::{ConnectOptions, Container, ContainerError, ContainerOptions};
use transport_local::LocalNetwork;

use crate::support::{calc, local_pair};

async fn ends<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} hangs"))
}

fn channel_variants() -> Vec<(&'static str, ChannelOptions<Json>)> {
    let base = || ChannelOptions::new().codec(Json);
    vec![
        ("max_concurrent 0", base().max_concurrent_requests(0)),
        (
            "max_concurrent MAX",
            base().max_concurrent_requests(usize::MAX),
        ),
        ("max_pending 0", base().max_pending_requests(0)),
        ("max_pending MAX", base().max_pending_requests(usize::MAX)),
        ("max_queued MAX", base().max_queued_requests(usize::MAX)),
        ("max_frame MAX", base().max_frame_size(usize::MAX)),
        ("close_grace 0", base().close_grace(Duration::ZERO)),
        ("close_grace MAX", base().close_grace(Duration::MAX)),
        (
            "retry 0",
            base().retry_interval(Duration::ZERO, Duration::ZERO),
        ),
        (
            "retry MAX",
            base().retry_interval(Duration::MAX, Duration::MAX),
        ),
        ("everything MAX", {
            base()
                .max_concurrent_requests(usize::MAX)
                .max_pending_requests(usize::MAX)
                .max_queued_requests(usize::MAX)
                .max_frame_size(usize::MAX)
                .close_grace(Duration::MAX)
                .connect_timeout(Some(Duration::MAX))
        }),
    ]
}

/// Containers whose channel options are at their extremes still connect,
/// call (200 calls at once), and shut down, with shutdown graces of zero
/// and of `Duration::MAX`.
#[tokio::test]
async fn extreme_channel_options_work() {
    for grace in [Duration::ZERO, Duration::MAX] {
        for (name, channel) in channel_variants() {
            let options = ContainerOptions::new()
                .local_network(LocalNetwork::new())
                .channel_options(channel)
                .shutdown_grace(grace);
            let (a, b) = local_pair(options).await;
            let info = b.register("Calc", calc()).expect("register");
            let proxy = ends(name, a.connect(info.url())).await.expect(name);
            let calls = (0..200i64).map(|n| {
                let proxy = proxy.clone();
                async move { proxy.call::<_, i64>("add", (n, 1)).await }
            });
            let sums = ends(name, futures_util::future::join_all(calls)).await;
            for (n, sum) in sums.into_iter().enumerate() {
                assert_eq!(sum.expect(name), n as i64 + 1, "{name}");
            }
            ends(name, a.shutdown()).await;
            ends(name, b.shutdown()).await;
        }
    }
}

/// A maximum frame size of 0 (and 1) refuses every message with an error
/// that says the frame is too large; a channel that takes no requests
/// (`max_queued_requests(0)`) answers `validate_aid` with an error. Neither
/// hangs.
#[tokio::test]
async fn options_that_forbid_everything_fail_with_errors() {
    let no_frame = |size| ChannelOptions::new().codec(Json).max_frame_size(size);
    let cases = [
        (no_frame(0), "no frame fits", "maximum frame size of"),
        (no_frame(1), "no frame fits", "maximum frame size of"),
        (
            ChannelOptions::new().codec(Json).max_queued_requests(0),
            "takes no requests",
            "refused",
        ),
    ];
    for (channel, why, says) in cases {
        let options = ContainerOptions::new()
            .local_network(LocalNetwork::new())
            .channel_options(channel);
        let a = Container::create_with("local://a", options)
            .await
            .expect("starts");
        let info = a.register("Calc", calc()).expect("register");
        let err = ends("connect", a.connect(info.url())).await.expect_err(why);
        assert!(err.to_string().contains(says), "{err}");
        ends("shutdown", a.shutdown()).await;
    }
}

/// Connect timeouts of zero and `Duration::MAX` (and retry pauses of zero
/// and `Duration::MAX`) to an address nobody serves: zero is one attempt,
/// and a longer one ends with the container's shutdown.
#[tokio::test]
async fn extreme_connect_timeouts() {
    for retry in [Duration::ZERO, Duration::MAX] {
        let options = ContainerOptions::new()
            .local_network(LocalNetwork::new())
            .channel_options(
                ChannelOptions::new()
                    .codec(Json)
                    .retry_interval(retry, retry),
            );
        let a = Container::create_with("local://a", options)
            .await
            .expect("starts");
        let once = ConnectOptions::new().timeout(Some(Duration::ZERO));
        let err = ends("one attempt", a.connect_with("local://nobody/0", &once))
            .await
            .expect_err("nobody");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
        assert!(err.to_string().contains("local://nobody/0"), "{err}");
        let long = ConnectOptions::new().timeout(Some(Duration::MAX));
        let connecting = tokio::spawn({
            let a = a.clone();
            async move { a.connect_with("local://nobody/0", &long).await }
        });
        tokio::task::yield_now().await;
        ends("shutdown", a.shutdown()).await;
        let r = ends("a connect ended by shutdown", connecting)
            .await
            .expect("task");
        assert!(r.is_err(), "{r:?}");
    }
}

/// Agent URLs in odd forms: each is an error that names the URL (or, where
/// it is an agent that exists, a proxy), never a panic.
#[tokio::test]
async fn odd_agent_urls() {
    let net = LocalNetwork::new();
    let options = ContainerOptions::new().local_network(net.clone());
    let a = Container::create_with("local://a", options.clone())
        .await
        .expect("starts");
    let info = a.register("Calc", calc()).expect("register");
    assert_eq!(info.url(), "local://a/0");
    let not_found = [
        "local://a/00",
        "local://a/+0",
        "local://a/-1",
        "local://a/%30",
        "local://a/ 0",
        "local://a/0 ",
        "local://a/1",
        "local://a/18446744073709551616",
        "local://a/340282366920938463463374607431768211456",
        "local://a/99999999999999999999999999999999999999999999",
        "local://a/0x0",
    ];
    for url in not_found {
        let err = ends(url, a.connect(url)).await.expect_err(url);
        assert!(
            matches!(&err, ContainerError::AgentNotFound { .. }),
            "{url}: {err:?}"
        );
        assert!(err.to_string().contains(url), "{url}: {err}");
    }
    // Schemes are case-insensitive (RFC 3986).
    for url in ["LOCAL://a/0", "Local://a/0"] {
        let proxy = ends(url, a.connect(url)).await.expect(url);
        assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect(url), 3);
    }
    let invalid = [
        "local://a/",
        "local://a",
        "local:///0",
        "local://a/0/",
        "local://a/0/x",
        "local:/a/0",
        "://a/0",
        "",
        "/",
        "local://",
        "local:///",
        "tcp://[fe80::1%25lo]:1/0",
        "tcp://[fe80::1%lo]:1/0",
        "tcp://[::1]:99999/0",
        "tcp://[::1]:-1/0",
        "tcp://:1/0",
        "tcp://127.0.0.1/0",
        "ipc://[]/0",
        "ipc://[/0",
    ];
    for url in invalid {
        let result = ends(url, a.connect(url)).await;
        let err = match result {
            Ok(p) => panic!("{url}: a proxy {p:?}"),
            Err(e) => e,
        };
        assert!(
            matches!(
                &err,
                ContainerError::InvalidAddress { .. } | ContainerError::Connect { .. }
            ),
            "{url}: {err:?}"
        );
        if !url.is_empty() {
            assert!(err.to_string().contains(url), "{url}: {err}");
        }
    }
    // Odd container names are fine where the backend takes them.
    for name in ["a%2Fb", "UPPER", "sp ace", "ünï", "a.b:c"] {
        let c = Container::create_with(format!("local://{name}"), options.clone())
            .await
            .expect(name);
        let agent = c.register("Calc", calc()).expect("register");
        let proxy = a.connect(agent.url()).await.expect(name);
        assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect(name), 3);
        c.shutdown().await;
    }
    a.shutdown().await;
}

/// Calls to agent paths with ids that overflow, or are not canonical, are
/// remote errors, and the connection goes on.
#[tokio::test]
async fn overflowing_agent_paths_are_remote_errors() {
    let options = ContainerOptions::new().local_network(LocalNetwork::new());
    let a = Container::create_with("local://a", options)
        .await
        .expect("starts");
    let info = a.register("Calc", calc()).expect("register");
    let proxy = a.connect(info.url()).await.expect("connect");
    let conn = proxy.connection();
    for path in [
        "agents/18446744073709551616/add",
        "agents/-0/add",
        "agents//add",
        "agents/0//add",
        "agents/0/",
        "agents/",
        "agents",
        "/agents/0/add",
    ] {
        let err = conn.call::<_, i64>(path, (1, 2)).await.expect_err(path);
        assert!(err.is_remote(), "{path}: {err:?}");
    }
    let valid: Option<String> = conn
        .call("validate_aid", ("18446744073709551616",))
        .await
        .expect("validate_aid");
    assert_eq!(valid, None);
    assert_eq!(
        conn.call::<_, i64>("agents/0/add", (1, 2))
            .await
            .expect("add"),
        3
    );
    a.shutdown().await;
}

/// Containers whose codecs differ cannot talk: the side that cannot decode
/// a frame closes the connection, and the other learns it at once as a
/// connection error saying the peer closed it (not a bare "connection
/// lost", and never a hang), both ways, on local queues and TCP.
#[tokio::test(flavor = "current_thread")]
async fn containers_with_different_codecs_fail_clearly() {
    use agentwire::channel::Bincode;

    let network = LocalNetwork::new();
    let json = ContainerOptions::new().local_network(network.clone());
    let bincode = ContainerOptions::new()
        .local_network(network)
        .codec(Bincode);
    let urls = [
        ("local://j", "local://b"),
        ("tcp://127.0.0.1:0", "tcp://127.0.0.1:0"),
    ];
    for (j, b) in urls {
        let j = Container::create_with(j, json.clone())
            .await
            .expect("JSON container");
        let b = Container::create_with(b, bincode.clone())
            .await
            .expect("bincode container");
        let in_j = j.register("Calc", calc()).expect("register");
        let in_b = b
            .register("Calc", agentwire::Router::<Bincode>::new())
            .expect("register");
        let from_j = ends("connect", j.connect(in_b.url())).await;
        let from_b = ends("connect", b.connect(in_j.url())).await;
        for (what, result) in [
            ("JSON to bincode", from_j.err()),
            ("bincode to JSON", from_b.err()),
        ] {
            let err = result.unwrap_or_else(|| panic!("{what}: connected"));
            let text = crate::support::error_chain(&err);
            let connection_error = matches!(
                &err,
                ContainerError::Connect { source, .. } if source.is_connection()
            );
            assert!(connection_error, "{what}: {text}");
            assert!(
                text.contains("the peer closed the connection"),
                "{what}: {text}"
            );
        }
        j.shutdown().await;
        b.shutdown().await;
    }
}
