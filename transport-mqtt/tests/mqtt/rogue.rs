//! Rogue peers on the broker: a protocol that panics. Nothing of it may
//! leave a connection that never ends.

use std::io::ErrorKind;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use transport_api::conformance::{connect, Accepted, Event as Ev, Recorder};
use transport_api::{Address, Protocol, Server, SharedTransport, Transport};

use crate::brokers::rumqttd;
use crate::support::addr;

const WAIT: Duration = Duration::from_secs(20);

/// A protocol that panics on its first data (it keeps its transport, so
/// the connection stays open until then).
#[derive(Default)]
struct Panicky(Option<SharedTransport>);

impl Protocol for Panicky {
    fn connection_made(&mut self, transport: SharedTransport) {
        self.0 = Some(transport);
    }

    fn data_received(&mut self, _data: Bytes) {
        panic!("a protocol bug");
    }
}

/// A protocol on one side of a connection panics: its peer loses the
/// connection with an error (as a socket's peer gets a reset) instead of
/// waiting forever, and the server still closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_protocol_resets_its_peer() {
    let server = addr(rumqttd(), "panicky")
        .create_server(Panicky::default)
        .await
        .expect("server");
    let (t, log) = connect(&server.addr()).await.expect("connect");
    t.write(Bytes::from_static(b"boom")).expect("write");
    log.wait_lost().await.expect("the client's connection ends");
    assert_eq!(
        log.events().last(),
        Some(&Ev::Lost(Some(ErrorKind::ConnectionReset))),
        "{log:?}"
    );
    server.close();
    tokio::time::timeout(WAIT, server.wait_closed())
        .await
        .expect("wait_closed");

    // And the other way round: the client's protocol panics.
    let accepted = Accepted::new(Recorder {
        echo: true,
        ..Recorder::default()
    });
    let server = addr(rumqttd(), "panicky-client")
        .create_server(accepted.factory())
        .await
        .expect("server");
    let (t, _handle) = server
        .addr()
        .create_connection(Panicky::default())
        .await
        .expect("connect");
    t.write(Bytes::from_static(b"echo me")).expect("write");
    let server_log = accepted.wait_log(0).await.expect("accepted");
    server_log
        .wait_lost()
        .await
        .expect("the server's connection ends");
    assert_eq!(
        server_log.events().last(),
        Some(&Ev::Lost(Some(ErrorKind::ConnectionReset))),
        "{server_log:?}"
    );
    server.close();
    tokio::time::timeout(WAIT, server.wait_closed())
        .await
        .expect("wait_closed");
}

/// A server whose protocol factory panics refuses that connection, and
/// goes on serving (the panic is not its session's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_factory_refuses_one_connection() {
    let calls = Arc::new(AtomicU64::new(0));
    let accepted = Accepted::new(Recorder {
        echo: true,
        ..Recorder::default()
    });
    let factory = {
        let calls = Arc::clone(&calls);
        let inner = accepted.factory();
        move || {
            assert!(calls.fetch_add(1, Ordering::SeqCst) > 0, "a factory bug");
            inner()
        }
    };
    let server = addr(rumqttd(), "panicky-factory")
        .create_server(factory)
        .await
        .expect("server");
    let refused = connect(&server.addr()).await.map(|_| ());
    let err = refused.expect_err("the factory panicked");
    assert!(err.to_string().contains("refused"), "{err}");
    let (t, log) = connect(&server.addr())
        .await
        .expect("the server still serves");
    t.write(Bytes::from_static(b"hi")).expect("write");
    log.wait_data(2).await.expect("echo");
    t.close();
    log.wait_lost().await.expect("closed");
    server.close();
    tokio::time::timeout(WAIT, server.wait_closed())
        .await
        .expect("wait_closed");
}
