//! TLS containers: `tls://` URLs, a container given a `TlsAddr`, plain
//! containers connecting to TLS ones, per-connect client configurations,
//! and refused certificates. (Every generic scenario also runs over mutual
//! TLS: see `Backend::Tls`.)

use std::io::ErrorKind;

use agentwire::{ConnectOptions, Container, ContainerError, ContainerOptions};
use transport_local::LocalNetwork;
use transport_tcp::tls::rustls;
use transport_tcp::TlsAddr;

use crate::support::pki::{
    client_config, client_config_with_cert, other_pki, pki, server_config, tcp0,
};
use crate::support::{self, calc, mtls_options};

/// Whether a TLS alert from the peer is among `err`'s causes.
fn tls_alert_in_chain(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(rustls::Error::AlertReceived(_)) = e.downcast_ref::<rustls::Error>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// A TLS container that does not ask for client certificates.
async fn tls_container() -> Container {
    let options = ContainerOptions::new().tls_server_config(server_config(pki()));
    Container::create_with("tls://127.0.0.1:0", options)
        .await
        .expect("TLS container")
}

/// A local-queue container (no sockets of its own) with `options`.
async fn local_container(options: ContainerOptions) -> Container {
    Container::create_with("local://a", options.local_network(LocalNetwork::new()))
        .await
        .expect("local container")
}

#[tokio::test]
async fn tls_urls_round_trip() {
    support::run(async {
        let options = ContainerOptions::new()
            .tls_server_config(server_config(pki()))
            .tls_client_config(client_config(pki()));
        let a = Container::create_with("tls://127.0.0.1:0", options.clone())
            .await
            .expect("a");
        let b = Container::create_with("tls://127.0.0.1:0", options)
            .await
            .expect("b");
        assert!(b.url().starts_with("tls://127.0.0.1:"), "{}", b.url());
        assert!(!b.url().ends_with(":0"), "the real port: {}", b.url());
        assert!(b.addr().downcast_ref::<TlsAddr>().is_some());
        let agent = b.register("Calc", calc()).expect("register");
        assert_eq!(agent.url(), format!("{}/0", b.url()));
        let proxy = a.connect(agent.url()).await.expect("connect over TLS");
        assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);

        // A container given a TlsAddr uses the address's configurations,
        // its client one also to connect.
        let own = TlsAddr::new(tcp0())
            .with_server_config(server_config(pki()))
            .with_client_config(client_config(pki()));
        let c = Container::create(own).await.expect("from a TlsAddr");
        let proxy = c.connect(agent.url()).await.expect("connect");
        assert_eq!(proxy.call::<_, i64>("add", (2, 3)).await.expect("add"), 5);
        for x in [a, b, c] {
            x.shutdown().await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_tls_container_needs_a_server_configuration() {
    support::run(async {
        let err = Container::create("tls://127.0.0.1:0")
            .await
            .expect_err("no server configuration");
        assert!(
            matches!(err, ContainerError::InvalidAddress { .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("tls://127.0.0.1:0"), "{msg}");
        assert!(msg.contains("tls_server_config"), "{msg}");
    })
    .await;
}

#[tokio::test]
async fn plain_containers_connect_to_tls_containers() {
    support::run(async {
        let b = tls_container().await;
        let agent = b.register("Calc", calc()).expect("register");

        // A local-queue container with a client configuration.
        let a =
            local_container(ContainerOptions::new().tls_client_config(client_config(pki()))).await;
        let proxy = a.connect(agent.url()).await.expect("local → TLS");
        assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);

        // A TCP container without one: a clear error, then the client
        // configuration per connect. A stranger's roots first: refused.
        let t = Container::create("tcp://127.0.0.1:0").await.expect("tcp");
        let err = t.connect(agent.url()).await.expect_err("no client config");
        assert!(
            matches!(err, ContainerError::InvalidAddress { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("tls_client_config"), "{err}");
        let stranger = ConnectOptions::new().tls_client_config(client_config(other_pki()));
        let err = t
            .connect_with(agent.url(), &stranger)
            .await
            .expect_err("the server is not trusted");
        assert_eq!(err.kind(), ErrorKind::InvalidData, "{err:?}");
        assert!(err.to_string().contains("not trusted"), "{err}");
        let trusting = ConnectOptions::new().tls_client_config(client_config(pki()));
        let proxy = t
            .connect_with(agent.url(), &trusting)
            .await
            .expect("tcp → TLS with a per-connect client config");
        assert_eq!(proxy.call::<_, i64>("add", (2, 2)).await.expect("add"), 4);
        for x in [a, b, t] {
            x.shutdown().await;
        }
    })
    .await;
}

#[tokio::test]
async fn mutual_tls_from_a_plain_container() {
    support::run(async {
        let b = Container::create_with("tls://127.0.0.1:0", mtls_options())
            .await
            .expect("mTLS container");
        let agent = b.register("Calc", calc()).expect("register");
        let with_cert = client_config_with_cert(pki(), &pki().client);
        let a = local_container(ContainerOptions::new().tls_client_config(with_cert)).await;
        let proxy = a.connect(agent.url()).await.expect("with a client cert");
        assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
        a.shutdown().await;
        b.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_refused_client_certificate_is_a_clear_error() {
    support::run(async {
        let b = Container::create_with("tls://127.0.0.1:0", mtls_options())
            .await
            .expect("mTLS container");
        let agent = b.register("Calc", calc()).expect("register");
        for (what, config, why) in [
            (
                "no certificate",
                client_config(pki()),
                "requires a client certificate",
            ),
            (
                "a stranger's certificate",
                client_config_with_cert(pki(), &other_pki().client),
                "does not trust our certificate",
            ),
        ] {
            let a = local_container(ContainerOptions::new().tls_client_config(config)).await;
            let err = a.connect(agent.url()).await.expect_err(what);
            assert!(
                matches!(err, ContainerError::Connect { .. }),
                "{what}: {err:?}"
            );
            // In TLS 1.3 the client's handshake is done before the server
            // checks its certificate: the refusal ends the connection, and
            // the TLS alert is the cause of its loss.
            assert!(
                tls_alert_in_chain(&err),
                "{what}: a rustls alert among the causes: {err:?}"
            );
            let msg = err.to_string();
            for part in [agent.url(), "TLS", why] {
                assert!(msg.contains(part), "{what}: {part:?} in {msg}");
            }
            a.shutdown().await;
        }
        b.shutdown().await;
    })
    .await;
}

/// Three connects at once to one TLS container: the first two with a
/// client configuration that does not trust the server, the third with
/// one that does, each waiting for the cache entry behind the one before.
/// The second's attempt failed (the server is not trusted) while the third
/// waited, and the third took that failure as its own, though its own
/// configuration would have connected (found by attack pass 8). Only a
/// refusal, which says nothing about the attempt's settings, is shared
/// with a connect of other settings now; the third connects.
#[tokio::test]
async fn a_connect_does_not_share_the_failure_of_other_settings() {
    use std::future::{poll_fn, Future};
    use std::pin::pin;
    use std::task::Poll;

    support::run(async {
        let b = tls_container().await;
        let agent = b.register("Calc", calc()).expect("register");
        let t = Container::create("tcp://127.0.0.1:0").await.expect("tcp");
        let stranger = ConnectOptions::new().tls_client_config(client_config(other_pki()));
        let trusting = ConnectOptions::new().tls_client_config(client_config(pki()));
        let mut first = pin!(t.connect_with(agent.url(), &stranger));
        let mut second = pin!(t.connect_with(agent.url(), &stranger));
        let mut third = pin!(t.connect_with(agent.url(), &trusting));
        for (what, connect) in [
            ("first", first.as_mut()),
            ("second", second.as_mut()),
            ("third", third.as_mut()),
        ] {
            let mut connect = connect;
            let polled = poll_fn(|cx| Poll::Ready(connect.as_mut().poll(cx).is_pending()));
            assert!(polled.await, "the {what} connect waits");
        }
        let (first, second, third) = tokio::join!(first, second, third);
        for (what, result) in [("first", first), ("second", second)] {
            let err = result.expect_err(what);
            assert_eq!(err.kind(), ErrorKind::InvalidData, "{what}: {err:?}");
        }
        let proxy = third.expect("the third connect's own configuration trusts the server");
        assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
        t.shutdown().await;
        b.shutdown().await;
    })
    .await;
}
