//! TLS: trust, mutual TLS, and a server that keeps serving after failed
//! handshakes.

use std::io::ErrorKind;
use std::time::Duration;

use bytes::Bytes;
use transport_api::conformance::{connect, Accepted, Event, Log, Recorder};
use transport_api::{Address, Error, Server, Transport};
use transport_tcp::{SocketTransport, TcpAddr, TlsAddr};

use crate::support::{
    client_config, client_config_with_cert, mtls_server_config, other_pki, pki, server_config,
    tcp0, tls_server_addr, within,
};

/// Connects with `addr` and checks a round trip through the echo server.
async fn round_trip(addr: &TlsAddr) {
    let log = Log::new();
    let (t, _) = addr.create_connection(Recorder::new(&log)).await.unwrap();
    t.write(Bytes::from_static(b"ping")).unwrap();
    within("echo", log.wait_data(4)).await.unwrap();
    assert_eq!(log.data(), b"ping");
    t.close();
    within("lost", log.wait_lost()).await.unwrap();
}

fn echo() -> Accepted {
    Accepted::new(Recorder {
        echo: true,
        ..Recorder::default()
    })
}

#[tokio::test]
async fn untrusted_server_fails_with_a_tls_error_and_the_server_goes_on() {
    let accepted = echo();
    let server = tls_server_addr(server_config(pki()))
        .create_server(accepted.factory())
        .await
        .unwrap();

    // This client trusts another CA only.
    let stranger = server.addr().with_client_config(client_config(other_pki()));
    let err = stranger
        .create_connection(Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("not trusted"), "{msg}");
    assert!(msg.contains(&server.addr().to_string()), "{msg}");
    assert_eq!(err.kind(), ErrorKind::InvalidData);

    // A trusted client still gets served, twice.
    let trusted = server.addr().with_client_config(client_config(pki()));
    round_trip(&trusted).await;
    round_trip(&trusted).await;
    assert!(server.is_serving());
    server.close();
    within("wait_closed", server.wait_closed()).await;
    // The failed handshake never reached the protocol factory.
    assert_eq!(accepted.logs().len(), 2);
}

#[tokio::test]
async fn server_name_must_match_the_certificate() {
    let server = tls_server_addr(server_config(pki()))
        .create_server(echo().factory())
        .await
        .unwrap();
    let wrong = server
        .addr()
        .with_client_config(client_config(pki()))
        .with_server_name("elsewhere.test")
        .unwrap();
    let err = wrong
        .create_connection(Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("server name"), "{err}");
    // By name: the certificate is for localhost.
    let by_name = TlsAddr::new(TcpAddr::new(
        transport_tcp::Host::Name("localhost".into()),
        server.addr().port(),
    ))
    .with_client_config(client_config(pki()));
    if let Ok(sa) = tokio::net::lookup_host(("localhost", 0)).await {
        // Only when localhost resolves to the IPv4 loopback we listen on.
        if sa.into_iter().any(|a| a.is_ipv4()) {
            round_trip(&by_name).await;
        }
    }
    server.close();
}

#[tokio::test]
async fn mutual_tls() {
    let accepted = echo();
    let server = tls_server_addr(mtls_server_config(pki()))
        .create_server(accepted.factory())
        .await
        .unwrap();

    // With a certificate from the trusted CA: served.
    let with_cert = server
        .addr()
        .with_client_config(client_config_with_cert(pki(), &pki().client));
    round_trip(&with_cert).await;

    // Without a certificate, or with one from a stranger CA: refused, as a
    // TLS error either at connect or as the connection's end (in TLS 1.3 the
    // client finishes its handshake before the server checks its
    // certificate).
    for (what, config) in [
        ("no certificate", client_config(pki())),
        (
            "untrusted certificate",
            client_config_with_cert(pki(), &other_pki().client),
        ),
    ] {
        let addr = server.addr().with_client_config(config);
        let log = Log::new();
        match addr.create_connection(Recorder::new(&log)).await {
            Err(err) => assert!(matches!(err, Error::Tls { .. }), "{what}: {err:?}"),
            Ok((t, _)) => {
                let _ = t.write(Bytes::from_static(b"let me in"));
                within("lost", log.wait_lost()).await.unwrap();
                let last = log.events().last().cloned();
                assert_eq!(
                    last,
                    Some(Event::Lost(Some(ErrorKind::InvalidData))),
                    "{what}: {log:?}"
                );
                assert_eq!(log.data_len(), 0, "{what}: got an echo");
            }
        }
    }
    // The server still serves authenticated clients.
    round_trip(&with_cert).await;
    server.close();
    within("wait_closed", server.wait_closed()).await;
    assert_eq!(
        accepted.logs().len(),
        2,
        "only the two good clients got a protocol"
    );
}

#[tokio::test]
async fn both_sides_see_the_handshake_in_tls_info() {
    let accepted = Accepted::default();
    let server = tls_server_addr(mtls_server_config(pki()))
        .create_server(accepted.factory())
        .await
        .unwrap();
    let addr = server
        .addr()
        .with_client_config(client_config_with_cert(pki(), &pki().client))
        .with_server_name("localhost")
        .unwrap();
    let (t, _) = connect(&addr).await.unwrap();

    // The client sees the server's certificate and the name it asked for.
    let client_side = t.tls_info().expect("a TLS connection has TLS info");
    assert_eq!(client_side.peer_certificates(), &pki().server.chain[..]);
    assert_eq!(client_side.server_name(), Some("localhost"));
    assert!(client_side.protocol_version().is_some());
    assert!(client_side.cipher_suite().is_some());

    // The server's protocol reaches the same through its shared transport:
    // it knows which client this is.
    let server_log = within("accept", accepted.wait_log(0)).await.unwrap();
    within("made", server_log.wait_for("made", |ev| !ev.is_empty()))
        .await
        .unwrap();
    let shared = server_log.require_transport("server").unwrap();
    let socket = shared
        .downcast_ref::<SocketTransport>()
        .expect("a socket transport behind the shared handle");
    let server_side = socket.tls_info().expect("TLS info on the server");
    assert_eq!(server_side.peer_certificates(), &pki().client.chain[..]);
    assert_eq!(server_side.server_name(), Some("localhost"), "SNI");
    assert_eq!(server_side.cipher_suite(), client_side.cipher_suite());

    t.close();
    server.close();
    within("wait_closed", server.wait_closed()).await;
}

#[tokio::test]
async fn plain_connections_have_no_tls_info() {
    let server = tcp0().create_server(Recorder::default).await.unwrap();
    let (t, _) = connect(&server.addr()).await.unwrap();
    assert!(t.tls_info().is_none());
    assert_eq!(t.kind(), "tcp");
    t.close();
    server.close();
}

#[tokio::test]
async fn missing_configurations_are_errors() {
    let plain: TlsAddr = "tls://127.0.0.1:0".parse().unwrap();
    let err = plain.create_server(Recorder::default).await.unwrap_err();
    assert!(err.to_string().contains("server configuration"), "{err}");
    let err = plain
        .create_connection(Recorder::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("client configuration"), "{err}");
}

/// A client that connects and never says hello is dropped after the
/// handshake timeout, without holding up anyone else.
#[tokio::test]
async fn a_silent_client_does_not_block_the_server() {
    let accepted = echo();
    let server = tls_server_addr(server_config(pki()))
        .with_handshake_timeout(Duration::from_millis(200))
        .create_server(accepted.factory())
        .await
        .unwrap();
    let mut silent = tokio::net::TcpStream::connect(server.addr().tcp().socket_addr().unwrap())
        .await
        .unwrap();
    round_trip(&server.addr().with_client_config(client_config(pki()))).await;
    // The silent connection is closed by the server once its time is up.
    let mut buf = [0u8; 16];
    let n = within("server drops the silent client", async {
        tokio::io::AsyncReadExt::read(&mut silent, &mut buf).await
    })
    .await;
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    server.close();
    within("wait_closed", server.wait_closed()).await;
}

#[tokio::test]
async fn tls_peer_addresses_are_socket_addresses() {
    let accepted = echo();
    let server = tls_server_addr(server_config(pki()))
        .create_server(accepted.factory())
        .await
        .unwrap();
    let addr = server.addr().with_client_config(client_config(pki()));
    let (t, _) = addr.create_connection(Recorder::default()).await.unwrap();
    assert_eq!(t.kind(), "tls");
    assert_eq!(
        t.peer_addr(),
        Some(transport_api::Endpoint::Socket(
            server.addr().tcp().socket_addr().unwrap()
        ))
    );
    assert!(t.local_addr().is_some());
    t.close();
    server.close();
}
