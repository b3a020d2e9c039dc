//! Transport semantics: close, abort, EOF, write after close, wait_closed.

use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use transport_api::{create_connection, create_server, Endpoint, Error, Server, Transport};
use transport_local::LocalNetwork;

use crate::support::{connect, echo_server, settle, Accepted, Event, Log, Recorder};

async fn served(name: &str, logs: &Accepted) -> (LocalNetwork, transport_local::LocalQueue) {
    let net = LocalNetwork::new();
    let lq = net.get_queue(name).unwrap();
    let server = create_server(logs.factory(), &lq).await.unwrap();
    // The queue keeps the server bound until it is closed.
    drop(server);
    (net, lq)
}

#[tokio::test(flavor = "current_thread")]
async fn connection_made_is_called_before_create_connection_returns() {
    let logs = Accepted::default();
    let (_net, lq) = served("q", &logs).await;
    let log = Log::default();
    let (_t, handle) = create_connection(|| Recorder::new(&log), &lq)
        .await
        .unwrap();
    assert_eq!(log.events(), vec![Event::Made]);
    assert_eq!(logs.logs()[0].events(), vec![Event::Made]);
    handle.with(|p| assert_eq!(p.log.events(), vec![Event::Made]));
}

#[tokio::test(flavor = "current_thread")]
async fn close_delivers_every_byte_then_connection_lost_once_on_both_sides() {
    let logs = Accepted::default();
    let (_net, lq) = served("q", &logs).await;
    let (t, log) = connect(&lq).await.unwrap();
    let mut expected = Vec::new();
    for i in 0..100u32 {
        let chunk = format!("message {i};").into_bytes();
        expected.extend_from_slice(&chunk);
        t.write(chunk.into()).unwrap();
    }
    t.close();
    assert!(t.is_closing());
    let server = logs.logs()[0].clone();
    server.wait_lost().await.unwrap();
    log.wait_lost().await.unwrap();
    settle().await;

    assert_eq!(server.data(), expected);
    let events = server.events();
    assert_eq!(events.last(), Some(&Event::Lost(None)), "lost comes last");
    assert_eq!(server.lost_count(), 1);
    assert_eq!(log.events(), vec![Event::Made, Event::Lost(None)]);
}

#[tokio::test(flavor = "current_thread")]
async fn server_side_close_reaches_the_client() {
    let logs = Accepted::default();
    let (_net, lq) = served("q", &logs).await;
    let (_t, log) = connect(&lq).await.unwrap();
    let server_t = logs.logs()[0].transport().unwrap();
    server_t.write(Bytes::from_static(b"bye")).unwrap();
    server_t.close();
    drop(server_t);
    log.wait_lost().await.unwrap();
    logs.logs()[0].wait_lost().await.unwrap();
    assert_eq!(log.data(), b"bye");
    assert_eq!(log.events().last(), Some(&Event::Lost(None)));
    assert_eq!(log.lost_count(), 1);
    assert_eq!(logs.logs()[0].lost_count(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn abort_drops_undelivered_data() {
    let logs = Accepted::default();
    let (_net, lq) = served("q", &logs).await;
    let (t, log) = connect(&lq).await.unwrap();
    t.write(Bytes::from_static(b"delivered")).unwrap();
    let server = logs.logs()[0].clone();
    server
        .wait_for("first chunk", |ev| {
            ev.contains(&Event::Data(Bytes::from_static(b"delivered")))
        })
        .await
        .unwrap();
    // Not yet delivered: the server's driver has not run since these writes.
    t.write(Bytes::from_static(b"dropped-1")).unwrap();
    t.write(Bytes::from_static(b"dropped-2")).unwrap();
    assert_eq!(t.write_buffer_size(), 18);
    t.abort();
    assert_eq!(t.write_buffer_size(), 0);
    server.wait_lost().await.unwrap();
    log.wait_lost().await.unwrap();
    settle().await;
    assert_eq!(server.data(), b"delivered");
    assert_eq!(
        server.events().last(),
        Some(&Event::Lost(Some(ErrorKind::ConnectionReset))),
        "the peer of an aborted connection sees a reset"
    );
    assert_eq!(log.events(), vec![Event::Made, Event::Lost(None)]);
    assert_eq!(server.lost_count(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn abort_after_close_drops_what_close_would_have_flushed() {
    let logs = Accepted::default();
    let (_net, lq) = served("q", &logs).await;
    let (t, log) = connect(&lq).await.unwrap();
    t.write(Bytes::from_static(b"never")).unwrap();
    t.close();
    t.abort();
    logs.logs()[0].wait_lost().await.unwrap();
    log.wait_lost().await.unwrap();
    assert!(logs.logs()[0].data().is_empty());
    assert_eq!(log.lost_count(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn can_write_eof_is_false_and_write_eof_is_an_error() {
    let logs = Accepted::default();
    let (_net, lq) = served("q", &logs).await;
    let (t, _) = create_connection(Recorder::default, &lq).await.unwrap();
    assert!(!t.can_write_eof());
    let err = t.write_eof().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    // The connection is unharmed.
    t.write(Bytes::from_static(b"still here")).unwrap();
    logs.logs()[0]
        .wait_for("data", |ev| {
            ev.contains(&Event::Data(Bytes::from_static(b"still here")))
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn write_after_close_is_an_error_not_a_panic() {
    let logs = Accepted::default();
    let (_net, lq) = served("q", &logs).await;
    let (t, log) = connect(&lq).await.unwrap();
    let server_t = logs.logs()[0].transport().unwrap();
    t.close();
    let err = t.write(Bytes::from_static(b"late")).unwrap_err();
    assert!(matches!(err, Error::Closed));
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    // The peer's transport refuses writes too once we closed.
    assert!(server_t.is_closing());
    assert!(matches!(
        server_t.write(Bytes::from_static(b"x")),
        Err(Error::Closed)
    ));
    log.wait_lost().await.unwrap();
    assert!(t.write(Bytes::from_static(b"later")).is_err());
    assert!(logs.logs()[0].data().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_every_handle_closes_the_connection() {
    let logs = Accepted::default();
    let (_net, lq) = served("q", &logs).await;
    // A client protocol that keeps no transport handle.
    struct Forgetful;
    impl transport_api::Protocol for Forgetful {
        fn connection_made(&mut self, _: transport_api::SharedTransport) {}
        fn data_received(&mut self, _: Bytes) {}
    }
    let (t, _) = create_connection(|| Forgetful, &lq).await.unwrap();
    t.write(Bytes::from_static(b"last words")).unwrap();
    drop(t);
    let server = logs.logs()[0].clone();
    server.wait_lost().await.unwrap();
    assert_eq!(server.data(), b"last words");
    assert_eq!(server.events().last(), Some(&Event::Lost(None)));
}

#[tokio::test(flavor = "current_thread")]
async fn echo_round_trip_and_peer_info() {
    let logs = echo_server();
    let (_net, lq) = served("echo", &logs).await;
    let (t, log) = connect(&lq).await.unwrap();
    t.write(Bytes::from_static(b"ping")).unwrap();
    log.wait_for("echo", |ev| {
        ev.contains(&Event::Data(Bytes::from_static(b"ping")))
    })
    .await
    .unwrap();
    assert_eq!(t.peer_addr(), Some(Endpoint::Local("echo".into())));
    let client_end = t.local_addr().unwrap();
    let server_t = logs.logs()[0].transport().unwrap();
    assert_eq!(server_t.peer_addr(), Some(client_end));
    assert_eq!(server_t.local_addr(), t.peer_addr());
    assert_eq!(t.peer_addr().unwrap().to_string(), "local://echo");
}

#[tokio::test(flavor = "current_thread")]
async fn pause_reading_holds_data_until_resumed() {
    let logs = Accepted::default();
    let (_net, lq) = served("q", &logs).await;
    let (t, _) = create_connection(Recorder::default, &lq).await.unwrap();
    let server = logs.logs()[0].clone();
    let server_t = server.transport().unwrap();
    server_t.pause_reading();
    assert!(!server_t.is_reading());
    t.write(Bytes::from_static(b"held")).unwrap();
    settle().await;
    assert!(server.data().is_empty());
    assert_eq!(t.write_buffer_size(), 4);
    server_t.resume_reading();
    server
        .wait_for("data", |ev| {
            ev.contains(&Event::Data(Bytes::from_static(b"held")))
        })
        .await
        .unwrap();
    assert_eq!(t.write_buffer_size(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn wait_closed_returns_only_after_connections_finished() {
    let net = LocalNetwork::new();
    let lq = net.get_queue("q").unwrap();
    let logs = Accepted::default();
    let server = create_server(logs.factory(), &lq).await.unwrap();
    let (t1, _) = create_connection(Recorder::default, &lq).await.unwrap();
    let (t2, _) = create_connection(Recorder::default, &lq).await.unwrap();
    server.close();
    assert!(!server.is_serving());
    // Established connections outlive close().
    t1.write(Bytes::from_static(b"after close")).unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let waiter = {
        let server = server.clone();
        let done = done.clone();
        tokio::spawn(async move {
            server.wait_closed().await;
            done.store(true, Ordering::SeqCst);
        })
    };
    settle().await;
    assert!(!done.load(Ordering::SeqCst), "two connections still open");
    assert_eq!(logs.logs()[0].data(), b"after close");

    t1.close();
    logs.logs()[0].wait_lost().await.unwrap();
    settle().await;
    assert!(!done.load(Ordering::SeqCst), "one connection still open");

    t2.close();
    waiter.await.unwrap();
    assert!(done.load(Ordering::SeqCst));
    assert_eq!(
        logs.logs()[1].lost_count(),
        1,
        "finished means connection_lost ran"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn callbacks_come_in_documented_order() {
    let logs = echo_server();
    let (_net, lq) = served("q", &logs).await;
    let (t, log) = connect(&lq).await.unwrap();
    for i in 0..10u8 {
        t.write(vec![i].into()).unwrap();
    }
    log.wait_for("ten echoes", |ev| ev.len() == 11)
        .await
        .unwrap();
    t.close();
    log.wait_lost().await.unwrap();
    let events = log.events();
    assert_eq!(events.first(), Some(&Event::Made));
    assert_eq!(events.last(), Some(&Event::Lost(None)));
    assert_eq!(log.data(), (0..10u8).collect::<Vec<_>>());
}

#[tokio::test(flavor = "current_thread")]
async fn a_shared_transport_downcasts_to_the_backend_type() {
    let logs = Accepted::default();
    let (_net, lq) = served("typed", &logs).await;
    let (_t, _) = connect(&lq).await.unwrap();
    let shared = logs.logs()[0].transport().unwrap();
    let local = shared
        .downcast_ref::<transport_local::LocalQueueTransport>()
        .expect("a LocalQueueTransport behind the shared handle");
    assert_eq!(local.queue_id(), "typed");
    assert!(shared
        .downcast_ref::<transport_tcp::SocketTransport>()
        .is_none());
}

#[tokio::test(flavor = "current_thread")]
async fn a_protocol_that_panics_ends_its_connection_for_the_peer() {
    // A server whose protocol panics on the first data it gets; its
    // transport is shared with others (here, the test), as a channel's is.
    struct Touchy(std::sync::mpsc::Sender<transport_api::SharedTransport>);
    impl transport_api::Protocol for Touchy {
        fn connection_made(&mut self, t: transport_api::SharedTransport) {
            let _ = self.0.send(t);
        }
        fn data_received(&mut self, _: Bytes) {
            panic!("boom in data_received");
        }
    }
    let net = LocalNetwork::new();
    let lq = net.get_queue("q").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = create_server(move || Touchy(tx.lock().unwrap().clone()), &lq)
        .await
        .unwrap();
    let (t, log) = connect(&lq).await.unwrap();
    let _server_transport = rx.recv().unwrap();
    t.write(Bytes::from_static(b"trigger")).unwrap();
    // As with a socket whose driver panicked: the peer learns that the
    // connection is gone instead of waiting (and writing) forever.
    tokio::time::timeout(std::time::Duration::from_secs(10), log.wait_lost())
        .await
        .expect("the peer's connection ends")
        .unwrap();
    assert_eq!(log.lost_count(), 1);
    assert!(t.write(Bytes::from_static(b"more")).is_err());
    server.close();
    tokio::time::timeout(std::time::Duration::from_secs(10), server.wait_closed())
        .await
        .expect("the server's connections are finished");
}

#[tokio::test(flavor = "current_thread")]
async fn a_server_protocol_that_panics_when_made_refuses_only_that_connection() {
    struct Flaky;
    impl transport_api::Protocol for Flaky {
        fn connection_made(&mut self, _: transport_api::SharedTransport) {
            panic!("boom in connection_made");
        }
        fn data_received(&mut self, _: Bytes) {}
    }
    let first = AtomicBool::new(true);
    let logs = Accepted::default();
    let factory = logs.factory();
    let net = LocalNetwork::new();
    let lq = net.get_queue("q").unwrap();
    let _server = create_server(
        move || -> Box<dyn transport_api::Protocol> {
            if first.swap(false, Ordering::SeqCst) {
                Box::new(Flaky)
            } else {
                Box::new(factory())
            }
        },
        &lq,
    )
    .await
    .unwrap();
    // The server's panic is not the client's: an error, as a refusal.
    let log = Log::default();
    let err = create_connection(|| Recorder::new(&log), &lq)
        .await
        .map(drop)
        .expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    assert!(cause.is_some_and(|c| c.contains("panicked")), "{err:?}");
    // The server goes on accepting.
    let (t, _log) = connect(&lq).await.unwrap();
    t.write(Bytes::from_static(b"hello")).unwrap();
    logs.logs()[0].wait_data(5).await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_protocol_that_panics_when_made_ends_the_servers_side() {
    struct Flaky;
    impl transport_api::Protocol for Flaky {
        fn connection_made(&mut self, _: transport_api::SharedTransport) {
            panic!("boom in the client's connection_made");
        }
        fn data_received(&mut self, _: Bytes) {}
    }
    let logs = Accepted::default();
    let net = LocalNetwork::new();
    let lq = net.get_queue("q").unwrap();
    let server = create_server(logs.factory(), &lq).await.unwrap();
    // The client's panic stays in its connection: the caller gets an error
    // that names it, as on every backend.
    let err = create_connection(|| Flaky, &lq)
        .await
        .map(drop)
        .expect_err("the client's panic");
    assert!(
        matches!(&err, transport_api::Error::ProtocolPanicked { callback: "connection_made", message }
            if message == "boom in the client's connection_made"),
        "{err:?}"
    );
    // The server's protocol, made before the client's, learns that the
    // connection is gone, as a socket's peer would.
    let served = logs.wait_log(0).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while served.lost_count() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the server's side ends");
    assert_eq!(served.lost_count(), 1);
    server.close();
    tokio::time::timeout(std::time::Duration::from_secs(10), server.wait_closed())
        .await
        .expect("the server has no connection left");
}
