//! What goes wrong, on real brokers: a foreign client publishing garbage on
//! our topics, a peer whose session dies (last will), the broker going away
//! and coming back.

use std::io::ErrorKind;
use std::time::Duration;

use bytes::Bytes;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use transport_api::conformance::{connect, Accepted, Event as Ev, Log, Recorder};
use transport_api::{Address, Server, Transport};
use transport_mqtt::MqttAddr;

use crate::brokers::{rumqttd, Mosquitto};
use crate::support::{addr, say};

const WAIT: Duration = Duration::from_secs(20);

/// A foreign MQTT client: subscribed to everything under `agentwire/`, it
/// reports the (topic, payload) of every message it sees.
pub(crate) async fn foreign_client(port: u16) -> (AsyncClient, mpsc::Receiver<(String, Bytes)>) {
    let mut options =
        MqttOptions::new(format!("foreign-{}", std::process::id()), "127.0.0.1", port);
    options.set_max_packet_size(2 * 1024 * 1024, 2 * 1024 * 1024);
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    client
        .subscribe("agentwire/#", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let (tx, rx) = mpsc::channel(10_000);
    let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
    let mut subscribed_tx = Some(subscribed_tx);
    tokio::spawn(async move {
        while let Ok(event) = eventloop.poll().await {
            match event {
                Event::Incoming(Packet::Publish(p)) => {
                    let _ = tx.try_send((p.topic.clone(), p.payload.clone()));
                }
                Event::Incoming(Packet::SubAck(_)) => {
                    if let Some(s) = subscribed_tx.take() {
                        let _ = s.send(());
                    }
                }
                _ => {}
            }
        }
    });
    tokio::time::timeout(WAIT, subscribed_rx)
        .await
        .expect("suback in time")
        .expect("suback");
    (client, rx)
}

async fn garbage_on_our_topics_is_ignored(port: u16) {
    let (foreign, mut seen) = foreign_client(port).await;
    let accepted = Accepted::new(Recorder {
        echo: true,
        ..Recorder::default()
    });
    let server = addr(port, "garbage")
        .create_server(accepted.factory())
        .await
        .expect("server");
    let (t, log) = connect(&server.addr()).await.expect("connect");
    let (bystander, bystander_log) = connect(&server.addr()).await.expect("connect");
    t.write(Bytes::from_static(b"first|")).expect("write");
    log.wait_data(6).await.expect("echo");

    // Every message seen so far (handshakes, data, windows), replayed, and
    // garbage of every kind on every topic they used.
    // The sniffer is a subscriber of its own: what it saw may still be on
    // its way when the echo arrives, so wait (bounded) for all three topics.
    let mut topics = Vec::new();
    let mut replays = Vec::new();
    fn note(
        topics: &mut Vec<String>,
        replays: &mut Vec<(String, Bytes)>,
        (topic, payload): (String, Bytes),
    ) {
        if !topics.contains(&topic) {
            topics.push(topic.clone());
        }
        replays.push((topic, payload));
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while topics.len() < 3 {
        match tokio::time::timeout_at(deadline, seen.recv()).await {
            Ok(Some(message)) => note(&mut topics, &mut replays, message),
            _ => break,
        }
    }
    while let Ok(message) = seen.try_recv() {
        note(&mut topics, &mut replays, message);
    }
    assert!(
        topics.len() >= 3,
        "saw the server topic and two inboxes: {topics:?}"
    );
    let mut header = b"aw\x01\x04".to_vec();
    header.extend_from_slice(&[0xff; 24]);
    let garbage: Vec<Bytes> = vec![
        Bytes::new(),
        Bytes::from_static(b"hello, is this a broker?"),
        Bytes::from_static(b"aw\x01"), // truncated header
        Bytes::from(header.clone()),   // data for nobody
        Bytes::from([&header[..], &[0u8; 600 * 1024][..]].concat()), // oversized
        Bytes::from(vec![0xa5; 300 * 1024]), // large random
        Bytes::from_static(b"aw\x01\x63\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"), // unknown kind
    ];
    for topic in &topics {
        for g in &garbage {
            foreign
                .publish(topic.clone(), QoS::AtLeastOnce, false, g.clone())
                .await
                .expect("publish garbage");
        }
    }
    for (topic, payload) in replays {
        foreign
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .expect("replay");
    }
    // The connections go on, with nothing duplicated or lost.
    let mut expected = b"first|".to_vec();
    for i in 0..200 {
        let msg = format!("after garbage {i}|");
        expected.extend_from_slice(msg.as_bytes());
        t.write(Bytes::from(msg)).expect("write");
    }
    log.wait_data(expected.len())
        .await
        .expect("echo after garbage");
    assert_eq!(log.data(), expected, "the stream was disturbed by garbage");
    bystander
        .write(Bytes::from_static(b"still here"))
        .expect("write");
    bystander_log
        .wait_data(10)
        .await
        .expect("the other connection");
    assert_eq!(bystander_log.data(), b"still here");
    // And new connections are accepted.
    let (t2, log2) = connect(&server.addr())
        .await
        .expect("connect after garbage");
    t2.write(Bytes::from_static(b"new")).expect("write");
    log2.wait_data(3).await.expect("echo on a new connection");
    for t in [&t, &bystander, &t2] {
        t.close();
    }
    server.close();
    tokio::time::timeout(WAIT, server.wait_closed())
        .await
        .expect("wait_closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_rumqttd() {
    garbage_on_our_topics_is_ignored(rumqttd()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_mosquitto() {
    let Some(broker) = Mosquitto::start() else {
        say("garbage on mosquitto: NOT RUN, mosquitto is not installed");
        return;
    };
    garbage_on_our_topics_is_ignored(broker.port).await;
}

/// A TCP proxy to the broker that the test can cut, as a network failure
/// or a crashed host would.
async fn cuttable_proxy(port: u16) -> (u16, tokio::sync::watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let local = listener.local_addr().expect("addr").port();
    let (cut_tx, cut_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let mut cut = cut_rx.clone();
            tokio::spawn(async move {
                let Ok(mut upstream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut upstream) => {}
                    _ = cut.wait_for(|c| *c) => {}
                }
            });
        }
    });
    (local, cut_tx)
}

/// Waits for `log`'s `connection_lost` and returns its error kind.
async fn lost_with(log: &Log) -> Option<ErrorKind> {
    log.wait_lost().await.expect("connection_lost in time");
    log.events().into_iter().find_map(|e| match e {
        Ev::Lost(kind) => Some(kind),
        _ => None,
    })?
}

async fn a_dead_peer_ends_its_connections(port: u16) {
    let accepted = Accepted::default();
    let server_addr = addr(port, "will");
    let server = server_addr
        .create_server(accepted.factory())
        .await
        .expect("server");
    // The client reaches the broker through a proxy that we then cut: the
    // broker publishes its last will, the server's connection ends.
    let (proxy, cut) = cuttable_proxy(port).await;
    let via_proxy: MqttAddr = format!(
        "mqtt://127.0.0.1:{proxy}/{}?keep_alive_s=2",
        server_addr.name()
    )
    .parse()
    .expect("addr");
    let (t, client_log) = connect(&via_proxy).await.expect("connect");
    t.write(Bytes::from_static(b"hi")).expect("write");
    let server_log = accepted.wait_log(0).await.expect("accepted");
    server_log.wait_data(2).await.expect("data");
    cut.send_replace(true);
    let kind = lost_with(&server_log).await;
    assert_eq!(
        kind,
        Some(ErrorKind::ConnectionAborted),
        "server side of a dead peer"
    );
    let kind = lost_with(&client_log).await;
    assert_eq!(
        kind,
        Some(ErrorKind::ConnectionAborted),
        "client side without its broker"
    );
    server.close();
    tokio::time::timeout(WAIT, server.wait_closed())
        .await
        .expect("wait_closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_peer_on_rumqttd() {
    a_dead_peer_ends_its_connections(rumqttd()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_peer_on_mosquitto() {
    let Some(broker) = Mosquitto::start() else {
        say("dead peer on mosquitto: NOT RUN, mosquitto is not installed");
        return;
    };
    a_dead_peer_ends_its_connections(broker.port).await;
}

/// The broker itself goes away: live connections end with an error that
/// names it; once it is back, the server (which reconnects) accepts new
/// connections. Needs a broker we can stop: mosquitto.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_on_mosquitto() {
    let Some(mut broker) = Mosquitto::start() else {
        say("broker restart: NOT RUN, mosquitto is not installed");
        return;
    };
    let port = broker.port;
    let accepted = Accepted::default();
    let server = addr(port, "restart")
        .create_server(accepted.factory())
        .await
        .expect("server");
    let (t, client_log) = connect(&server.addr()).await.expect("connect");
    t.write(Bytes::from_static(b"before")).expect("write");
    let server_log = accepted.wait_log(0).await.expect("accepted");
    server_log.wait_data(6).await.expect("data");

    broker.kill();
    for log in [&client_log, &server_log] {
        assert_eq!(lost_with(log).await, Some(ErrorKind::ConnectionAborted));
    }
    assert!(
        t.write(Bytes::from_static(b"x")).is_err(),
        "write after the broker died"
    );
    let refused = connect(&server.addr()).await;
    assert!(refused.is_err(), "connected without a broker");

    let _broker = Mosquitto::start_on(port).expect("restart mosquitto");
    // The server's session reconnects with a backoff of at most 2 s.
    let deadline = tokio::time::Instant::now() + WAIT;
    let (t2, log2) = loop {
        match connect(&server.addr()).await {
            Ok(ok) => break ok,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no new connection after the restart: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    t2.write(Bytes::from_static(b"after")).expect("write");
    let fresh = accepted.wait_log(1).await.expect("accepted after restart");
    fresh.wait_data(5).await.expect("data after restart");
    assert_eq!(fresh.data(), b"after");
    t2.close();
    log2.wait_lost().await.expect("closed");
    server.close();
    tokio::time::timeout(WAIT, server.wait_closed())
        .await
        .expect("wait_closed");
}

/// Extreme timeouts are values, not panics: a connect timeout of
/// `Duration::MAX` (with the longest keep-alive) to a broker that is not
/// there is a refused connection.
#[tokio::test]
async fn extreme_timeouts_do_not_panic() {
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let addr: MqttAddr = format!("mqtt://127.0.0.1:{port}/nobody?keep_alive_s=65535")
        .parse()
        .expect("valid");
    let addr = addr.with_connect_timeout(Duration::MAX);
    let log = Log::new();
    let err = tokio::time::timeout(WAIT, addr.create_connection(Recorder::new(&log)))
        .await
        .expect("fails in time")
        .map(|_| ())
        .expect_err("no broker");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
}

/// A client id prefix, user name or password longer than an MQTT string
/// holds (65,535 bytes) is an error that names it, not a malformed
/// CONNECT packet that the broker drops.
#[tokio::test]
async fn overlong_client_ids_and_credentials_are_named() {
    let long = "x".repeat(70_000);
    let base = addr(rumqttd(), "overlong");
    for (what, addr) in [
        ("client id", base.clone().with_client_id(&long)),
        ("user name", base.clone().with_credentials(&long, "pw")),
        ("password", base.clone().with_credentials("user", &long)),
    ] {
        let log = Log::new();
        let err = tokio::time::timeout(WAIT, addr.create_connection(Recorder::new(&log)))
            .await
            .expect("fails in time")
            .map(|_| ())
            .expect_err("too long");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{what}: {err}");
        assert!(err.to_string().contains(what), "{what}: {err}");
        let err = tokio::time::timeout(WAIT, addr.create_server(Recorder::default))
            .await
            .expect("fails in time")
            .map(|_| ())
            .expect_err("too long");
        assert!(err.to_string().contains(what), "{what}: {err}");
    }
}
