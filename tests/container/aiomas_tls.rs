//! The real aiomas 2.0.1 over TLS (tests/aiomas/tls_peer.py), with aiomas's
//! own SSL contexts (`make_ssl_server_context`/`make_ssl_client_context`:
//! TLS 1.2 only, ECDH+AESGCM, client certificates required, host names
//! checked): Python clients of our `tls://` containers with both codecs,
//! our containers calling a Python TLS container, certificates refused
//! both ways, TLS and plain TCP mixed up, and TLS clients that vanish
//! mid-handshake and mid-frame.
//!
//! aiomas names a TLS container's agents `tcp://host:port/id` (its URLs
//! have no TLS scheme; the container's SSL contexts decide): Python is
//! given our agents' URLs with `tcp://`, and we reach its agents with
//! `tls://`.

use std::convert::Infallible;
use std::io::ErrorKind;
use std::time::Duration;

use agentwire::channel::Codec;
use agentwire::rpc::{Proxy, Router};
use agentwire::{Container, ContainerError, ContainerOptions, RpcError};

use crate::support::aiomas::{self, free_port, lines, next_line, script, until_done, Kill};
use crate::support::pki::{
    client_config, client_config_with_cert, other_pki, pki, server_config, Pki,
};
use crate::support::{calc, error_chain, mtls_options, TempDir};

/// The test PKI as DER files for `tls_peer.py`: `ca`, `server`, `client`,
/// and `stranger` (a client of another CA).
fn cert_dir() -> TempDir {
    let dir = TempDir::new();
    let write = |name: &str, der: &[u8]| {
        std::fs::write(dir.path().join(format!("{name}.der")), der).expect("write a certificate");
    };
    let ours: &Pki = pki();
    write("ca", &ours.ca);
    for (name, who) in [
        ("server", &ours.server),
        ("client", &ours.client),
        ("stranger", &other_pki().client),
    ] {
        write(name, &who.chain[0]);
        write(&format!("{name}.key"), who.key().secret_der());
    }
    dir
}

/// Runs `tls_peer.py args` to its end (it prints `DONE` last); its lines.
async fn run_peer(args: &[&str]) -> Vec<String> {
    aiomas::venv().await;
    let mut child = script("tls_peer.py", args);
    let rx = lines(&mut child);
    let out = until_done(rx, "tls_peer.py").await;
    drop(child);
    out
}

/// `support::calc` for any codec.
fn calc_of<C: Codec>() -> Router<C> {
    Router::new()
        .method("add", |(a, b): (i64, i64)| async move {
            Ok::<_, Infallible>(a + b)
        })
        .method("echo", |(v,): (serde_json::Value,)| async move {
            Ok::<_, Infallible>(v)
        })
        .method("call_back", |(who, n): (Proxy<C>, i64)| async move {
            who.call::<_, i64>("ping", (n,))
                .await
                .map_err(|e| e.to_string())
        })
}

/// `url` with aiomas's scheme for TLS containers, `tcp://`.
fn as_aiomas(url: &str) -> String {
    url.replacen("tls://", "tcp://", 1)
}

/// What a Python client that connects and calls `add` and `echo` prints.
const SERVED: [&str; 3] = [
    "ok connect",
    "ok add 3",
    r#"ok echo {"a": [1, 2.5, "x", null, true], "ü": "é"}"#,
];

/// Python's `Container.connect(url, ...)` with aiomas's client context
/// and calls, against a mutual-TLS container of each codec.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_clients_call_tls_containers_with_both_codecs() {
    let certs = cert_dir();
    let dir = certs.path().to_str().expect("UTF-8 path");
    let json = Container::create_with("tls://127.0.0.1:0", mtls_options())
        .await
        .expect("JSON container");
    let msgpack = Container::create_with(
        "tls://127.0.0.1:0",
        mtls_options().codec(agentwire::channel::MsgPack),
    )
    .await
    .expect("MsgPack container");
    let a = json.register("Calc", calc_of()).expect("register");
    let b = msgpack.register("Calc", calc_of()).expect("register");
    for (codec, url) in [("JSON", a.url()), ("MsgPack", b.url())] {
        let out = run_peer(&["call", codec, dir, &as_aiomas(url), "client", "more"]).await;
        let more = ["ok big 3145728", "ok gather 45150", "ok callback 42"];
        assert_eq!(out[..3], SERVED, "{codec}");
        assert_eq!(out[3..], more, "{codec}");
    }
    // A server that asks for no client certificate serves them too.
    let plain_auth = ContainerOptions::new().tls_server_config(server_config(pki()));
    let c = Container::create_with("tls://127.0.0.1:0", plain_auth)
        .await
        .expect("TLS container");
    let agent = c.register("Calc", calc()).expect("register");
    let out = run_peer(&["call", "JSON", dir, &as_aiomas(agent.url()), "client"]).await;
    assert_eq!(out, SERVED);
    json.shutdown().await;
    msgpack.shutdown().await;
    c.shutdown().await;
}

/// A Python TLS container (aiomas's server context: TLS 1.2, client
/// certificates required), called by our containers over `tls://`, with
/// both codecs; without a client certificate it refuses us, clearly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_containers_call_a_python_tls_container() {
    aiomas::venv().await;
    let certs = cert_dir();
    let dir = certs.path().to_str().expect("UTF-8 path");
    for codec in ["JSON", "MsgPack"] {
        let port = free_port().to_string();
        let mut child = script("tls_peer.py", &["serve", codec, dir, &port]);
        let rx = lines(&mut child);
        let url = aiomas::ready_url(rx, "tls_peer.py").await;
        assert_eq!(url, format!("tcp://127.0.0.1:{port}/0"));
        let url = url.replacen("tcp://", "tls://", 1);
        if codec == "JSON" {
            calls_python_over_tls(&url, mtls_options()).await;
        } else {
            calls_python_over_tls(&url, mtls_options().codec(agentwire::channel::MsgPack)).await;
        }
        drop(child);
    }
}

async fn calls_python_over_tls<C: agentwire::channel::Codec>(
    url: &str,
    options: ContainerOptions<C>,
) {
    let c = Container::create_with("tls://127.0.0.1:0", options)
        .await
        .expect("container");
    let proxy = c.connect(url).await.expect("connect to aiomas over TLS");
    assert_eq!(proxy.class_name(), Some("Calc"));
    assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
    let err = proxy
        .call::<_, ()>("fail", ("über",))
        .await
        .expect_err("fail");
    let message = err.remote_message().expect("a remote error");
    assert!(message.contains("ValueError: über"), "{message}");
    // Much at once over TLS: 3 MiB, and 300 calls in flight.
    let big = "x".repeat(3 << 20);
    let echoed: String = proxy.call("echo", (&big,)).await.expect("echo");
    assert_eq!(echoed.len(), big.len());
    let calls = (0..300i64).map(|i| proxy.call::<_, i64>("add", (i, 1)));
    let sums = futures_util::future::try_join_all(calls)
        .await
        .expect("adds");
    assert_eq!(sums.iter().sum::<i64>(), 45150);
    c.shutdown().await;

    // Certificates aiomas's server refuses, and a server we do not trust:
    // the handshake fails, with an error naming the address and why. (A
    // refusing asyncio server closes the connection without sending its
    // TLS alert: what we see is the end of the stream, or the alert.)
    let base = url.strip_suffix("/0").expect("agent 0");
    for (what, config, why) in [
        ("no certificate", client_config(pki()), ["eof", "alert"]),
        (
            "a stranger's certificate",
            client_config_with_cert(pki(), &other_pki().client),
            ["eof", "alert"],
        ),
        (
            "a stranger's roots",
            client_config(other_pki()),
            ["not trusted", "not trusted"],
        ),
    ] {
        let options = ContainerOptions::new().tls_client_config(config);
        let c = Container::create_with("tcp://127.0.0.1:0", options)
            .await
            .expect("container");
        let err = tokio::time::timeout(Duration::from_secs(20), c.connect(url))
            .await
            .expect("no hang")
            .expect_err(what);
        let msg = error_chain(&err);
        assert!(
            msg.contains(&format!("TLS handshake with {base} failed"))
                && why.iter().any(|w| msg.contains(w)),
            "{what}: {msg}"
        );
        c.shutdown().await;
    }
    let c = Container::create("tcp://127.0.0.1:0")
        .await
        .expect("container");

    // The URL as aiomas names it (`tcp://`): plain TCP to a TLS port, an
    // error, not a wait.
    let tcp_url = url.replacen("tls://", "tcp://", 1);
    let err = tokio::time::timeout(Duration::from_secs(20), c.connect(&tcp_url))
        .await
        .expect("no hang")
        .expect_err("plain TCP to a TLS port");
    assert!(err.to_string().contains(&tcp_url), "{err}");
    assert!(
        matches!(err, ContainerError::Connect { .. }) && err.kind() == ErrorKind::ConnectionReset,
        "{err:?}"
    );
    c.shutdown().await;
}

/// Certificates our server refuses (another CA's; none), with aiomas's
/// TLS 1.2 context and with Python's default one (TLS 1.3): Python's error
/// names our TLS alert, and our container goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_python_clients_see_why_and_the_container_goes_on() {
    let certs = cert_dir();
    let dir = certs.path().to_str().expect("UTF-8 path");
    let c = Container::create_with("tls://127.0.0.1:0", mtls_options())
        .await
        .expect("mTLS container");
    let agent = c.register("Calc", calc()).expect("register");
    let url = as_aiomas(agent.url());
    for (who, alert) in [
        ("stranger", "ALERT_UNKNOWN_CA"),
        ("none", "ALERT_CERTIFICATE_REQUIRED"),
        ("stranger-tls13", "ALERT_UNKNOWN_CA"),
        ("none-tls13", "ALERT_CERTIFICATE_REQUIRED"),
    ] {
        let out = run_peer(&["call", "JSON", dir, &url, who]).await;
        assert!(
            out.first()
                .is_some_and(|l| l.starts_with("err connect SSLError: ") && l.contains(alert)),
            "{who}: {out:?}"
        );
        // (With TLS 1.3 the alert comes after Python's side of the
        // handshake; aiomas's shutdown then raises it once more.)
        assert!(
            out.iter()
                .skip(1)
                .all(|l| l.starts_with("err shutdown SSLError: ")),
            "{who}: {out:?}"
        );
    }
    let out = run_peer(&["call", "JSON", dir, &url, "client"]).await;
    assert_eq!(out, SERVED);
    c.shutdown().await;
}

/// Plain TCP to our TLS port and TLS to our plain port: an error for
/// Python, no hang, and the container goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_plain_mixed_up_fail_without_hanging() {
    let certs = cert_dir();
    let dir = certs.path().to_str().expect("UTF-8 path");
    let tls = Container::create_with("tls://127.0.0.1:0", mtls_options())
        .await
        .expect("TLS container");
    let tls_agent = tls.register("Calc", calc()).expect("register");
    let tcp = Container::create("tcp://127.0.0.1:0")
        .await
        .expect("TCP container");
    let tcp_agent = tcp.register("Calc", calc()).expect("register");

    // aiomas's `validate_aid` request is no ClientHello: we close the
    // connection, which aiomas reports as a reset.
    let out = run_peer(&["plain", "JSON", &as_aiomas(tls_agent.url())]).await;
    assert_eq!(out, ["err connect ConnectionResetError: "]);
    // A ClientHello's first bytes, read as a frame header, announce more
    // than the largest frame: we close the connection at once.
    let out = run_peer(&["tls-to-plain", "JSON", dir, tcp_agent.url()]).await;
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(
        out[0].starts_with("err connect ConnectionResetError")
            || out[0].starts_with("err connect SSLError"),
        "{out:?}"
    );

    // Both go on serving.
    let out = run_peer(&["call", "JSON", dir, &as_aiomas(tls_agent.url()), "client"]).await;
    assert_eq!(out, SERVED);
    let out = run_peer(&["plain", "JSON", tcp_agent.url()]).await;
    assert_eq!(out, SERVED);
    tls.shutdown().await;
    tcp.shutdown().await;
}

/// A Python TLS client that stops mid-handshake or mid-frame: while it is
/// stuck and after it vanishes, the container serves others, and its
/// shutdown does not wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_clients_that_vanish_mid_handshake_and_mid_frame() {
    aiomas::venv().await;
    let certs = cert_dir();
    let dir = certs.path().to_str().expect("UTF-8 path");
    for (when, said) in [("handshake", "MID-HANDSHAKE True"), ("frame", "MID-FRAME")] {
        let c = Container::create_with("tls://127.0.0.1:0", mtls_options())
            .await
            .expect("mTLS container");
        let agent = c.register("Calc", calc()).expect("register");
        let port = agent
            .url()
            .rsplit_once(':')
            .and_then(|(_, p)| p.split('/').next())
            .expect("a port")
            .to_owned();
        let mut stuck = script("tls_peer.py", &["vanish", when, dir, "127.0.0.1", &port]);
        let rx = lines(&mut stuck);
        let (rx, line) = next_line(rx, "tls_peer.py").await;
        assert_eq!(line, said, "{when}");
        // Stuck: others are served.
        let out = run_peer(&["call", "JSON", dir, &as_aiomas(agent.url()), "client"]).await;
        assert_eq!(out, SERVED, "{when}, stuck");
        // Gone: others are served.
        drop(stuck);
        drop(rx);
        let out = run_peer(&["call", "JSON", dir, &as_aiomas(agent.url()), "client"]).await;
        assert_eq!(out, SERVED, "{when}, gone");
        tokio::time::timeout(Duration::from_secs(20), c.shutdown())
            .await
            .expect("shutdown ends");

        // Stuck during the shutdown: it ends anyway.
        let c = Container::create_with("tls://127.0.0.1:0", mtls_options())
            .await
            .expect("mTLS container");
        let agent = c.register("Calc", calc()).expect("register");
        let port = agent
            .url()
            .rsplit_once(':')
            .and_then(|(_, p)| p.split('/').next())
            .expect("a port")
            .to_owned();
        let mut stuck = script("tls_peer.py", &["vanish", when, dir, "127.0.0.1", &port]);
        let rx = lines(&mut stuck);
        let (_rx, line) = next_line(rx, "tls_peer.py").await;
        assert_eq!(line, said, "{when}");
        tokio::time::timeout(Duration::from_secs(20), c.shutdown())
            .await
            .unwrap_or_else(|_| panic!("shutdown with a client stuck mid-{when} ends"));
        drop(stuck);
    }
}

/// A Rust client whose TLS call is in flight when the Python TLS container
/// dies: a connection error, not a wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_tls_container_dying_mid_call_is_a_connection_error() {
    aiomas::venv().await;
    let certs = cert_dir();
    let dir = certs.path().to_str().expect("UTF-8 path");
    let port = free_port().to_string();
    let mut child: Kill = script("tls_peer.py", &["serve", "JSON", dir, &port]);
    let rx = lines(&mut child);
    let url = aiomas::ready_url(rx, "tls_peer.py")
        .await
        .replacen("tcp://", "tls://", 1);
    let c = Container::create_with("tls://127.0.0.1:0", mtls_options())
        .await
        .expect("container");
    let proxy = c.connect(&url).await.expect("connect");
    assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
    let _ = child.0.kill();
    let _ = child.0.wait();
    let after = tokio::time::timeout(Duration::from_secs(20), proxy.call::<_, i64>("add", (1, 2)))
        .await
        .expect("the call ends");
    assert!(
        matches!(after, Err(RpcError::Connection { .. })),
        "{after:?}"
    );
    c.shutdown().await;
}
