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

/// `url` with its scheme in `case`: `TCP://…`, `Tcp://…`.
fn scheme_case(url: &str, case: fn(&str) -> String) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    format!("{}://{rest}", case(scheme))
}

/// Schemes are case-insensitive (RFC 3986), for creating a container and
/// for connecting to its agents; TCP host names too. Queue ids are not
/// hosts: `local://Q` and `local://q` are two queues.
#[tokio::test]
async fn schemes_and_host_names_in_any_case() {
    support::run(async {
        let upper: fn(&str) -> String = |s| s.to_ascii_uppercase();
        let title: fn(&str) -> String = |s| {
            let mut t = s.to_ascii_lowercase();
            t[..1].make_ascii_uppercase();
            t
        };
        let dir = TempDir::new();
        let net = LocalNetwork::new();
        let options = ContainerOptions::new()
            .local_network(net.clone())
            .tls_server_config(support::pki::server_config(support::pki::pki()))
            .tls_client_config(support::pki::client_config(support::pki::pki()));
        let urls = [
            "Local://Case".to_owned(),
            "TCP://LocalHost:0".to_owned(),
            "Tls://127.0.0.1:0".to_owned(),
            format!("IPC://[{}]", dir.path().join("case.sock").display()),
        ];
        for url in urls {
            let c = Container::create_with(url.as_str(), options.clone())
                .await
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            let scheme = url.split_once("://").expect("a URL").0.to_ascii_lowercase();
            assert!(
                c.url().starts_with(&format!("{scheme}://")) && !c.url().contains("LocalHost"),
                "{url} made {}",
                c.url()
            );
            let agent = c.register("Calc", support::calc()).expect("register");
            for case in [upper, title] {
                let aurl = scheme_case(agent.url(), case).replace("localhost", "LOCALHOST");
                let proxy = c
                    .connect(&aurl)
                    .await
                    .unwrap_or_else(|e| panic!("{aurl}: {e}"));
                assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
            }
            c.shutdown().await;
        }
        assert!(net.get_queue("Case").expect("queue").server().is_none());
        // Errors name the URL as given.
        for bad in [
            "TCP://localhost",
            "Local://a/b",
            "IPC://no-brackets",
            "Pigeon://x",
        ] {
            let err = Container::create_with(bad, options.clone())
                .await
                .expect_err(bad);
            assert!(err.to_string().contains(bad), "{bad}: {err}");
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad}: {err}");
        }
    })
    .await;
}

/// A link-local IPv6 address of this host, from /proc/net/if_inet6: its
/// address, interface name and index (none without IPv6).
fn link_local() -> Option<(std::net::Ipv6Addr, String, u32)> {
    let table = std::fs::read_to_string("/proc/net/if_inet6").ok()?;
    table.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [hex, index, _, scope, flags, name] = f[..] else {
            return None;
        };
        // Link scope, and not tentative (still checking for duplicates).
        let flags = u32::from_str_radix(flags, 16).ok()?;
        if scope != "20" || flags & 0x40 != 0 {
            return None;
        }
        let ip = u128::from_str_radix(hex, 16).ok()?;
        Some((
            ip.into(),
            name.to_owned(),
            u32::from_str_radix(index, 16).ok()?,
        ))
    })
}

/// IPv6 zones: `%25` and an interface index or (on Linux) name. A
/// container on a link-local address, named by its interface, is reached
/// through the interface's index; bad zones are errors naming the URL.
#[tokio::test]
async fn ipv6_zones() {
    support::run(async {
        let schemes = ContainerOptions::new().get_schemes().clone();
        let addr = schemes
            .resolve("TCP://[fe80::1%252]:5555")
            .expect("a numeric zone");
        let tcp = addr.downcast_ref::<TcpAddr>().expect("tcp");
        assert_eq!(tcp.scope_id(), Some(2));
        assert_eq!(addr.to_string(), "tcp://[fe80::1%252]:5555");
        for bad in [
            "tcp://[fe80::1%eth0]:5555",
            "tcp://[fe80::1%25]:5555",
            "tcp://[fe80::1%25a/b]:5555",
        ] {
            let err = schemes.resolve(bad).expect_err(bad);
            assert!(err.to_string().contains(bad), "{bad}: {err}");
        }
        // An interface that does not exist: refused when binding, naming
        // the URL.
        let missing = "tcp://[fe80::1%25nosuchif9]:0";
        let err = Container::create(missing).await.expect_err(missing);
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert!(err.to_string().contains(missing), "{err}");

        let Some((ip, name, index)) = link_local() else {
            println!("ipv6_zones: NOT RUN on a link-local address: this host has none");
            return;
        };
        let c = Container::create(format!("tcp://[{ip}%25{name}]:0").as_str())
            .await
            .expect("a container on a link-local address");
        let agent = c.register("Calc", support::calc()).expect("register");
        assert!(
            agent.url().contains(&format!("%25{name}]")),
            "{}",
            agent.url()
        );
        let by_index = agent
            .url()
            .replace(&format!("%25{name}]"), &format!("%25{index}]"));
        let other = Container::create("tcp://127.0.0.1:0").await.expect("tcp");
        let proxy = other
            .connect(&by_index)
            .await
            .unwrap_or_else(|e| panic!("{by_index}: {e}"));
        assert_eq!(proxy.call::<_, i64>("add", (2, 2)).await.expect("add"), 4);
        other.shutdown().await;
        c.shutdown().await;
    })
    .await;
}
