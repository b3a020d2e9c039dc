//! Address parsing, printing and conversions: every malformed form is an
//! error naming the input, and nothing panics.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use transport_api::{Address, Error};
use transport_tcp::{Host, TcpAddr, TlsAddr, UnixAddr};

/// Asserts `result` is `InvalidAddress` naming `input`, with the input in the
/// message too.
fn assert_names<T: std::fmt::Debug>(input: &str, result: Result<T, Error>) {
    match result {
        Err(err @ Error::InvalidAddress { .. }) => {
            let Error::InvalidAddress { input: named, .. } = &err else {
                unreachable!()
            };
            assert_eq!(named, input);
            assert!(
                err.to_string().contains(&format!("{input:?}")),
                "message does not name {input:?}: {err}"
            );
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        }
        other => panic!("{input:?}: expected InvalidAddress, got {other:?}"),
    }
}

#[test]
fn tcp_good_forms_round_trip() {
    for s in [
        "tcp://127.0.0.1:5555",
        "tcp://0.0.0.0:0",
        "tcp://[::1]:80",
        "tcp://[2001:db8::17]:65535",
        "tcp://localhost:1",
        "tcp://agents.example.org:4000",
    ] {
        let addr: TcpAddr = s.parse().expect(s);
        assert_eq!(addr.to_string(), s);
        assert_eq!(addr.scheme(), "tcp");
    }
    let v6: TcpAddr = "tcp://[::1]:80".parse().unwrap();
    assert_eq!(v6.host(), &Host::Ip(Ipv6Addr::LOCALHOST.into()));
    assert_eq!(v6.port(), 80);
    assert_eq!(
        v6.socket_addr(),
        Some("[::1]:80".parse::<SocketAddr>().unwrap())
    );
    let name: TcpAddr = "tcp://localhost:7".parse().unwrap();
    assert_eq!(name.host(), &Host::Name("localhost".into()));
    assert!(name.host().is_loopback());
    assert_eq!(name.socket_addr(), None);
}

#[test]
fn tcp_malformed_forms_name_the_input() {
    for s in [
        // missing port
        "tcp://localhost",
        "tcp://localhost:",
        "tcp://127.0.0.1",
        "tcp://[::1]",
        // port out of range or not a number
        "tcp://localhost:65536",
        "tcp://localhost:99999",
        "tcp://localhost:184467440737095516160",
        "tcp://localhost:-1",
        "tcp://localhost:+80",
        "tcp://localhost:8o",
        // empty host
        "tcp://:80",
        "tcp://[]:80",
        "tcp://",
        // unbalanced brackets
        "tcp://[::1:80",
        "tcp://::1]:80",
        "tcp://[::1]]:80",
        "tcp://[[::1]:80",
        // other
        "tcp://::1:80",
        "tcp://[::1]80",
        "tcp://[not-ip]:80",
        "tcp://300.1.1.1:80",
        "tcp://bad host:80",
        "tcp://localhost:80/0",
        "udp://localhost:80",
        "localhost:80",
        "",
    ] {
        assert_names(s, s.parse::<TcpAddr>());
    }
}

#[test]
fn unix_forms() {
    let addr: UnixAddr = "ipc://[/tmp/agents/a.sock]".parse().unwrap();
    assert_eq!(addr.path(), Path::new("/tmp/agents/a.sock"));
    assert_eq!(addr.to_string(), "ipc://[/tmp/agents/a.sock]");
    assert_eq!(addr.scheme(), "ipc");
    let too_long = format!("ipc://[/{}]", "d".repeat(120));
    for s in [
        "ipc://[]",
        "ipc://",
        "ipc:///tmp/a.sock",
        "ipc://[/tmp/a.sock",
        "ipc:///tmp/a.sock]",
        "ipc://[/tmp/a.sock]/0",
        "ipc://[/tmp/a\0b]",
        "tcp://[/tmp/a.sock]",
        "/tmp/a.sock",
        too_long.as_str(),
    ] {
        assert_names(s, s.parse::<UnixAddr>());
    }
    assert_names("ipc://[]", UnixAddr::new(""));
}

#[test]
fn tls_forms() {
    let addr: TlsAddr = "tls://[::1]:443".parse().unwrap();
    assert_eq!(addr.to_string(), "tls://[::1]:443");
    assert_eq!(addr.scheme(), "tls");
    assert_eq!(addr.port(), 443);
    assert!(addr.server_config().is_none() && addr.client_config().is_none());
    for s in [
        "tls://localhost",
        "tls://:443",
        "tls://[::1:443",
        "tls://h:70000",
        "tcp://h:443",
    ] {
        assert_names(s, s.parse::<TlsAddr>());
    }
    let err = TlsAddr::new(TcpAddr::from((Ipv4Addr::LOCALHOST, 1)))
        .with_server_name("not a name!")
        .unwrap_err();
    assert!(err.to_string().contains("not a name!"), "{err}");
}

#[test]
fn conversions() {
    let sa: SocketAddr = "127.0.0.1:9000".parse().unwrap();
    assert_eq!(TcpAddr::from(sa).to_string(), "tcp://127.0.0.1:9000");
    assert_eq!(
        TcpAddr::from((Ipv6Addr::LOCALHOST, 9)).to_string(),
        "tcp://[::1]:9"
    );
    assert_eq!(
        TcpAddr::new(Host::Name("example.org".into()), 1).host_port(),
        "example.org:1"
    );
    assert_eq!(
        TcpAddr::from_host_port("[::1]:5").unwrap(),
        "tcp://[::1]:5".parse().unwrap()
    );
    assert_eq!(
        UnixAddr::from(PathBuf::from("/run/a.sock")).to_string(),
        "ipc://[/run/a.sock]"
    );
    assert_eq!(
        UnixAddr::from(Path::new("rel.sock")).path(),
        Path::new("rel.sock")
    );
    let tls = TlsAddr::from(TcpAddr::from(sa));
    assert_eq!(tls.to_string(), "tls://127.0.0.1:9000");
    assert!(TcpAddr::from(sa).nodelay(), "TCP_NODELAY is on by default");
    assert!(!TcpAddr::from(sa).with_nodelay(false).nodelay());
}

proptest! {
    /// Any text: parsing never panics; what parses prints back the same way
    /// and parses to the same address.
    #[test]
    fn parsing_never_panics(s in "\\PC{0,40}") {
        for input in [s.clone(), format!("tcp://{s}"), format!("ipc://{s}"), format!("tls://{s}")] {
            if let Ok(a) = input.parse::<TcpAddr>() {
                prop_assert_eq!(a.to_string().parse::<TcpAddr>().unwrap(), a);
            }
            if let Ok(a) = input.parse::<UnixAddr>() {
                prop_assert_eq!(a.to_string().parse::<UnixAddr>().unwrap(), a);
            }
            if let Ok(a) = input.parse::<TlsAddr>() {
                prop_assert_eq!(a.to_string().parse::<TlsAddr>().unwrap().to_string(), a.to_string());
            }
        }
    }

    /// Generated `host:port` pairs parse iff the port fits in 16 bits.
    #[test]
    fn ports(port in 0u64..200_000, v6 in any::<bool>()) {
        let host = if v6 { "[::1]" } else { "127.0.0.1" };
        let input = format!("tcp://{host}:{port}");
        match input.parse::<TcpAddr>() {
            Ok(a) => prop_assert_eq!(u64::from(a.port()), port),
            Err(Error::InvalidAddress { input: named, .. }) => {
                prop_assert!(port > 65535);
                prop_assert_eq!(named, input);
            }
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }
}
