//! Rogue peers on the broker: a protocol that panics, handshakes from
//! clients that are not there (a flood of them, a retained one), a
//! client that vanishes after its handshake. Nothing of it may leave a
//! connection that never ends.

use std::io::ErrorKind;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use transport_api::conformance::{connect, Accepted, Event as Ev, Log, Recorder};
use transport_api::{Address, Protocol, Server, SharedTransport, Transport};
use transport_mqtt::MqttAddr;

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

/// A foreign client on the broker.
pub(crate) async fn rogue(port: u16) -> AsyncClient {
    static N: AtomicU64 = AtomicU64::new(0);
    let options = MqttOptions::new(
        format!(
            "rogue-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ),
        "127.0.0.1",
        port,
    );
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    client
}

/// A SYN as a client sends it, from session `sid`, connection `src`.
pub(crate) fn syn(src: u64, sid: &str) -> Bytes {
    let mut b = BytesMut::new();
    b.put_slice(b"aw\x01\x01");
    b.put_u64(0);
    b.put_u64(src);
    b.put_u64(1024 * 1024);
    b.put_slice(sid.as_bytes());
    b.freeze()
}

/// Handshakes from sessions that do not exist (a flood of them, and a
/// retained one that the broker hands to every later subscriber): the
/// server's half of each ends after a while, with an error that says
/// why, so that the server can close and real clients still connect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_from_nobody_end() {
    const FLOOD: u64 = 300;
    let port = rumqttd();
    let server_addr: MqttAddr = format!(
        "{}?keep_alive_s=1&connect_timeout_ms=500",
        addr(port, "nobody")
    )
    .parse()
    .expect("addr");
    let topic = format!("agentwire/srv/{}", server_addr.name());
    let rogue = rogue(port).await;
    // Retained before the server exists: delivered when it subscribes.
    rogue
        .publish(&topic, QoS::AtLeastOnce, true, syn(7, "retainedghost"))
        .await
        .expect("publish");
    let accepted = Accepted::default();
    let server = server_addr
        .create_server(accepted.factory())
        .await
        .expect("server");
    for i in 0..FLOOD {
        rogue
            .publish(
                &topic,
                QoS::AtLeastOnce,
                false,
                syn(100 + i, &format!("ghost{i}")),
            )
            .await
            .expect("publish");
    }
    for i in 0..=FLOOD as usize {
        let log = tokio::time::timeout(WAIT, accepted.wait_log(i))
            .await
            .expect("accepted in time")
            .expect("accepted");
        log.wait_lost().await.expect("a handshake from nobody ends");
        let error = log.lost_error().unwrap_or_default();
        assert!(error.contains("confirm"), "{error}");
    }
    // A real client still connects.
    let (t, log) = connect(&server.addr()).await.expect("connect");
    t.write(Bytes::from_static(b"hi")).expect("write");
    t.close();
    log.wait_lost().await.expect("closed");
    // Clear the retained SYN.
    let _ = rogue
        .publish(&topic, QoS::AtLeastOnce, true, Bytes::new())
        .await;
    server.close();
    tokio::time::timeout(WAIT, server.wait_closed())
        .await
        .expect("wait_closed: no connection is left behind");
}

/// A client whose handshake timed out leaves (cleanly: no last will)
/// while the server accepts it late: the server's half ends, it does
/// not wait for a peer that is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_vanishes_after_its_handshake_is_not_waited_for() {
    let port = rumqttd();
    let accepted = Accepted::default();
    let server_addr: MqttAddr = format!(
        "{}?keep_alive_s=1&connect_timeout_ms=500",
        addr(port, "vanish")
    )
    .parse()
    .expect("addr");
    let server = server_addr
        .create_server(accepted.factory())
        .await
        .expect("server");
    // A real session that sends a SYN and leaves at once, cleanly.
    let options = MqttOptions::new(format!("vanish-{}", std::process::id()), "127.0.0.1", port);
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    let topic = format!("agentwire/srv/{}", server_addr.name());
    client
        .publish(&topic, QoS::AtLeastOnce, false, syn(5, "vanishingclient"))
        .await
        .expect("publish");
    client.disconnect().await.expect("disconnect");
    let _ = tokio::time::timeout(WAIT, async { while eventloop.poll().await.is_ok() {} }).await;
    let log: Log = accepted.wait_log(0).await.expect("accepted");
    log.wait_lost().await.expect("the server's half ends");
    server.close();
    tokio::time::timeout(WAIT, server.wait_closed())
        .await
        .expect("wait_closed");
}

/// A stream message with the given kind, ids and sequence number.
pub(crate) fn stream_msg(kind: u8, dst: u64, src: u64, seq: u64, payload: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_slice(b"aw\x01");
    b.put_u8(kind);
    b.put_u64(dst);
    b.put_u64(src);
    b.put_u64(seq);
    b.put_slice(payload);
    b.freeze()
}

/// A foreign client that has seen a connection's ids sends data and a
/// second EOF after the peer's EOF, in sequence: the protocol never gets
/// data after `eof_received`, nor a second one (its contract); the
/// connection ends with an error instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_delivered_after_the_peers_eof() {
    let port = rumqttd();
    let (sniffer, mut seen) = crate::failures::foreign_client(port).await;
    let accepted = Accepted::new(Recorder {
        keep_open_on_eof: true,
        ..Recorder::default()
    });
    let server = addr(port, "after-eof")
        .create_server(accepted.factory())
        .await
        .expect("server");
    let (t, _log) = connect(&server.addr()).await.expect("connect");
    // The broker is shared with the tests running beside this one: the
    // data names this connection, whose EOF the sniffer then looks for.
    const DATA: &[u8] = b"data before the eof of nothing_is_delivered_after_the_peers_eof";
    t.write(Bytes::from_static(DATA)).expect("write");
    t.write_eof().expect("write_eof");
    let server_log = accepted.wait_log(0).await.expect("accepted");
    server_log
        .wait_for("eof", |events| events.contains(&Ev::Eof))
        .await
        .expect("eof");
    let word =
        |msg: &[u8], i: usize| u64::from_be_bytes(msg[i..i + 8].try_into().expect("8 bytes"));
    // The EOF as the sniffer saw it: on the topic of our data, between
    // the same two connections.
    let (topic, dst, src, seq) = tokio::time::timeout(WAIT, async {
        let mut ours = None;
        loop {
            let (topic, msg) = seen.recv().await.expect("sniffer");
            if msg.len() < 28 {
                continue;
            }
            let ids = (word(&msg, 4), word(&msg, 12));
            match (msg[3], &ours) {
                (4, None) if &msg[28..] == DATA => ours = Some((topic, ids)),
                (5, Some((t, i))) if *t == topic && *i == ids => {
                    break (topic, ids.0, ids.1, word(&msg, 20));
                }
                _ => {}
            }
        }
    })
    .await
    .expect("the sniffer saw the EOF");
    for (kind, n, payload) in [(4, seq + 1, &b"after eof"[..]), (5, seq + 2, &b""[..])] {
        sniffer
            .publish(
                &topic,
                QoS::AtLeastOnce,
                false,
                stream_msg(kind, dst, src, n, payload),
            )
            .await
            .expect("publish");
    }
    server_log.wait_lost().await.expect("the connection ends");
    let events = server_log.events();
    assert_eq!(
        events,
        [
            Ev::Made,
            Ev::Data(Bytes::from_static(DATA)),
            Ev::Eof,
            Ev::Lost(Some(ErrorKind::InvalidData))
        ],
        "{:?}",
        server_log.lost_error()
    );
    server.close();
    tokio::time::timeout(WAIT, server.wait_closed())
        .await
        .expect("wait_closed");
}

/// A TCP proxy to the broker that counts the connections open through it.
async fn counting_proxy(port: u16) -> (u16, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let local = listener.local_addr().expect("addr").port();
    let open = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&open);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let open = Arc::clone(&count);
            tokio::spawn(async move {
                let Ok(mut upstream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                else {
                    return;
                };
                open.fetch_add(1, Ordering::SeqCst);
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut upstream).await;
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (local, open)
}

/// A `create_connection` that is dropped before it finishes (a caller's
/// timeout) leaves no MQTT session behind: its broker connection closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connect_leaves_no_session() {
    let port = rumqttd();
    let (proxy, open) = counting_proxy(port).await;
    // No server under this name: the handshake waits (10 s) for an answer.
    let to_nobody: MqttAddr = format!(
        "mqtt://127.0.0.1:{proxy}/{}?connect_timeout_ms=10000",
        addr(port, "dropped").name()
    )
    .parse()
    .expect("addr");
    for _ in 0..3 {
        let log = Log::new();
        let dropped = tokio::time::timeout(
            Duration::from_millis(300),
            to_nobody.create_connection(Recorder::new(&log)),
        )
        .await;
        assert!(dropped.is_err(), "nobody answers");
    }
    let closed = tokio::time::timeout(WAIT, async {
        while open.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "{} MQTT sessions left open by dropped connects",
        open.load(Ordering::SeqCst)
    );
}
