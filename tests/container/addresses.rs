//! `Container::create` from every kind of address, and malformed input.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use agentwire::{Container, ContainerError, ContainerOptions};
use transport_local::LocalNetwork;
use transport_tcp::{TcpAddr, UnixAddr};

use crate::support::{self, TempDir};

async fn check(c: Container, scheme: &str) {
    assert!(c.url().starts_with(&format!("{scheme}://")), "{}", c.url());
    let agent = c.register("Calc", support::calc()).expect("register");
    let proxy = c.connect(agent.url()).await.expect("connect to itself");
    assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
    c.shutdown().await;
}

#[tokio::test]
async fn from_local_queues() {
    support::run(async {
        let net = LocalNetwork::new();
        let options = ContainerOptions::new().local_network(net.clone());
        let lq = net.get_queue("q1").expect("queue");
        check(
            Container::create_with(lq, options.clone())
                .await
                .expect("lq"),
            "local",
        )
        .await;
        let c = Container::create_with("local://q2", options.clone())
            .await
            .expect("url");
        assert_eq!(c.url(), "local://q2");
        assert!(net.get_queue("q2").expect("queue").server().is_some());
        check(c, "local").await;
        // The process-wide network by default.
        let c = Container::create("local://agentwire-container-test-global")
            .await
            .expect("global");
        check(c, "local").await;
    })
    .await;
}

#[tokio::test]
async fn from_tcp_addresses() {
    support::run(async {
        let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        check(Container::create(any).await.expect("SocketAddr"), "tcp").await;
        check(
            Container::create(("127.0.0.1", 0))
                .await
                .expect("(str, port)"),
            "tcp",
        )
        .await;
        check(
            Container::create((Ipv4Addr::LOCALHOST, 0))
                .await
                .expect("(ip, port)"),
            "tcp",
        )
        .await;
        // As in Python's (host, port) pairs, an IPv6 address comes without
        // brackets.
        match Container::create(("::1", 0)).await {
            Ok(c) => {
                assert!(c.url().starts_with("tcp://[::1]:"), "{}", c.url());
                c.shutdown().await;
            }
            // No IPv6 here: binding may fail, but the address is valid.
            Err(err) => assert!(matches!(err, ContainerError::Bind { .. }), "{err:?}"),
        }
        let tcp: TcpAddr = "tcp://127.0.0.1:0".parse().expect("valid");
        check(Container::create(tcp).await.expect("TcpAddr"), "tcp").await;
        check(
            Container::create("tcp://127.0.0.1:0").await.expect("url"),
            "tcp",
        )
        .await;
        // A port in use.
        let c = Container::create("tcp://127.0.0.1:0").await.expect("url");
        let err = Container::create(c.url()).await.expect_err("in use");
        assert!(matches!(err, ContainerError::Bind { .. }), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
        c.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn from_unix_paths() {
    support::run(async {
        let dir = TempDir::new();
        let path: PathBuf = dir.path().join("a.sock");
        check(
            Container::create(path.as_path()).await.expect("&Path"),
            "ipc",
        )
        .await;
        check(
            Container::create(path.clone()).await.expect("PathBuf"),
            "ipc",
        )
        .await;
        let unix = UnixAddr::new(dir.path().join("b.sock")).expect("valid");
        check(Container::create(unix).await.expect("UnixAddr"), "ipc").await;
        let url = format!("ipc://[{}]", dir.path().join("c.sock").display());
        let c = Container::create(url.as_str()).await.expect("url");
        assert_eq!(c.url(), url);
        check(c, "ipc").await;
    })
    .await;
}

#[tokio::test]
async fn malformed_addresses_are_errors_naming_them() {
    support::run(async {
        for bad in [
            "tcp://localhost",
            "tcp://127.0.0.1:99999",
            "foo://x",
            "no scheme",
            "ipc://no-brackets",
            "local://a/b",
            "local://",
            "tls://127.0.0.1:0",
        ] {
            let err = Container::create(bad).await.expect_err(bad);
            assert!(
                matches!(err, ContainerError::InvalidAddress { .. }),
                "{bad}: {err:?}"
            );
            assert!(err.to_string().contains(bad), "{bad}: {err}");
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
        let err = Container::create(("", 0)).await.expect_err("empty host");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = Container::create(Path::new(""))
            .await
            .expect_err("empty path");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let net = LocalNetwork::new();
        let options = ContainerOptions::new().local_network(net);
        let c = Container::create_with("local://m", options)
            .await
            .expect("local");
        for bad in ["local://m", "local://m/", "nothing", "tcp://127.0.0.1/0"] {
            let err = c.connect(bad).await.expect_err(bad);
            assert!(
                matches!(err, ContainerError::InvalidAddress { .. }),
                "{bad}: {err:?}"
            );
        }
        c.shutdown().await;
        let resolved = ContainerOptions::new()
            .get_schemes()
            .resolve("tcp://127.0.0.1:1")
            .expect("a tcp URL");
        assert!(resolved.downcast_ref::<TcpAddr>().is_some());
    })
    .await;
}
