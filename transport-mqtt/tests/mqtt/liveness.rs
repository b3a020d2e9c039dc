//! What must reach a peer whatever state the session is in: a reset and
//! a refusal sent while the session's MQTT request queue is full (they
//! wait for room instead of being dropped), and the answer to a
//! handshake whose server died before the client watched its last will
//! (the client does not wait for it forever).

use std::io::ErrorKind;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use tokio::task::JoinSet;
use transport_api::conformance::{connect, Accepted, Event as Ev, Log, Recorder};
use transport_api::{Address, Error, Protocol, Server, SharedTransport, Transport};
use transport_mqtt::MqttAddr;

use crate::brokers::{rumqttd, rumqttd_of_its_own, Mosquitto};
use crate::failures::foreign_client;
use crate::hold::HoldingProxy;
use crate::rogue::{rogue, stream_msg, syn};
use crate::storms::ONE_STORM_AT_A_TIME;
use crate::support::{addr, say, unique_name};

const WAIT: Duration = Duration::from_secs(20);

/// A recording protocol that, if `trip` is set, panics when told to pause
/// writing (a protocol bug the test can set off at a moment of its
/// choosing, by writing more than the window takes).
struct Tripwire {
    inner: Recorder,
    trip: bool,
}

impl Protocol for Tripwire {
    fn connection_made(&mut self, transport: SharedTransport) {
        self.inner.connection_made(transport);
    }

    fn data_received(&mut self, data: Bytes) {
        self.inner.data_received(data);
    }

    fn eof_received(&mut self) -> bool {
        self.inner.eof_received()
    }

    fn connection_lost(&mut self, error: Option<Error>) {
        self.inner.connection_lost(error);
    }

    fn pause_writing(&mut self) {
        assert!(!self.trip, "a protocol bug in pause_writing");
        self.inner.pause_writing();
    }

    fn resume_writing(&mut self) {
        self.inner.resume_writing();
    }
}

/// A server's session whose MQTT request queue is full (the broker's
/// PUBACKs held back by a proxy, its connections with more to publish
/// than the in-flight window and the queue hold) still tells its peers
/// what they must know: a connection whose protocol panicked resets its
/// client, and SYNs to the closed server are refused. Both wait for room
/// in the queue and go out once the broker's answers come through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_request_queue_still_resets_and_refuses() {
    let _storm = ONE_STORM_AT_A_TIME.lock().await;
    // Each busy connection publishes a window's worth (16 messages):
    // 32 of them make 512 publishes, more than the 100 in flight plus the
    // 256 the MQTT client's request queue holds.
    const BUSY: usize = 32;
    const REFUSED: u64 = 20;
    let port = rumqttd_of_its_own();
    let proxy = HoldingProxy::start(port).await;
    let name = unique_name("full-queue");
    // A long keep-alive: the held-back PINGRESPs must not end the session.
    let server_addr: MqttAddr = format!(
        "mqtt://127.0.0.1:{}/{name}?keep_alive_s=60&connect_timeout_ms=5000",
        proxy.port
    )
    .parse()
    .expect("addr");
    let direct: MqttAddr = format!("mqtt://127.0.0.1:{port}/{name}?connect_timeout_ms=5000")
        .parse()
        .expect("addr");
    let accepted = Accepted::default();
    let accepted_n = Arc::new(AtomicU64::new(0));
    let factory = {
        let inner = accepted.factory();
        let n = Arc::clone(&accepted_n);
        move || Tripwire {
            inner: inner(),
            trip: n.fetch_add(1, Ordering::SeqCst) == 0,
        }
    };
    let server = server_addr.create_server(factory).await.expect("server");
    // The first connection's server side has the tripwire.
    let (tripped_client, tripped_log) = connect(&direct).await.expect("connect");
    let mut connects = JoinSet::new();
    for _ in 0..BUSY {
        let target = direct.clone();
        connects.spawn(async move { connect(&target).await.expect("connect") });
    }
    let mut clients = Vec::new();
    while let Some(client) = connects.join_next().await {
        clients.push(client.expect("no panic"));
    }
    let server_sides: Vec<SharedTransport> = (0..=BUSY)
        .map(|i| {
            let log = accepted.logs().get(i).cloned().expect("accepted");
            log.require_transport("server side").expect("transport")
        })
        .collect();

    // Fill the queue: the broker's answers are held back, every busy
    // server side writes a window's worth and more.
    proxy.hold();
    let megabyte = Bytes::from(vec![b'x'; 1024 * 1024]);
    for transport in &server_sides[1..] {
        transport.write(megabyte.clone()).expect("write");
    }
    // The publishes in flight (up to 100, and fewer of them data when
    // some older ones were not acknowledged yet) reach the clients. Once
    // 60 have, the MQTT client stops taking requests within another 40,
    // and the drivers, which wait for nothing but room, fill the queue
    // behind them long before the steps below are done.
    let in_flight = 60 * 64 * 1024;
    tokio::time::timeout(WAIT, async {
        loop {
            let received: usize = clients.iter().map(|(_, log)| log.data_len()).sum();
            if received >= in_flight {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the in-flight publishes reach the clients");

    // The server closes (it refuses SYNs now, but lives on with its busy
    // connections), and the tripwire goes off: its task ends by a panic,
    // which must reset the client.
    server.close();
    let tripwire = &server_sides[0];
    tripwire
        .write(Bytes::from(vec![b'y'; 2 * 1024 * 1024]))
        .expect("write");
    let finished = tokio::time::timeout(
        WAIT,
        std::future::poll_fn(|cx| tripwire.poll_write_ready(cx)),
    )
    .await
    .expect("the tripwire goes off");
    assert!(finished.is_err(), "the tripped connection is finished");

    // SYNs from a foreign session, all held back with the rest.
    let ghost = format!("ghost{}", std::process::id());
    let rogue = rogue(port).await;
    let (refusals, refused_conns) = inbox_watcher(port, &ghost).await;
    let server_topic = format!("agentwire/srv/{name}");
    for conn in 1..=REFUSED {
        rogue
            .publish(&server_topic, QoS::AtLeastOnce, false, syn(conn, &ghost))
            .await
            .expect("publish");
    }
    proxy.wait_held(&syn(REFUSED, &ghost), WAIT).await;
    proxy.release();

    // Everything the server's session owed goes out.
    tripped_log
        .wait_lost()
        .await
        .expect("the client of the tripped connection learns of its reset");
    assert_eq!(
        tripped_log.events().last(),
        Some(&Ev::Lost(Some(ErrorKind::ConnectionReset))),
        "{tripped_log:?}"
    );
    let all_refused = tokio::time::timeout(WAIT, async {
        while refused_conns.load(Ordering::SeqCst) < REFUSED {
            refusals.notified().await;
        }
    })
    .await;
    assert!(
        all_refused.is_ok(),
        "{} of {REFUSED} SYNs refused",
        refused_conns.load(Ordering::SeqCst)
    );

    drop(tripped_client);
    for (t, _) in &clients {
        t.close();
    }
    for (_, log) in &clients {
        log.wait_lost().await.expect("client side ends");
    }
    tokio::time::timeout(WAIT, server.wait_closed())
        .await
        .expect("wait_closed");
}

/// Subscribes to the inbox of session `sid` and counts the REFUSEs in it
/// (each connection id once); the `Notify` wakes on each.
async fn inbox_watcher(port: u16, sid: &str) -> (Arc<tokio::sync::Notify>, Arc<AtomicU64>) {
    let options = MqttOptions::new(format!("watch-{sid}"), "127.0.0.1", port);
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    client
        .subscribe(format!("agentwire/in/{sid}"), QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let notify = Arc::new(tokio::sync::Notify::new());
    let count = Arc::new(AtomicU64::new(0));
    let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
    let (n, c) = (Arc::clone(&notify), Arc::clone(&count));
    tokio::spawn(async move {
        let _client = client;
        let mut subscribed_tx = Some(subscribed_tx);
        let mut seen = std::collections::HashSet::new();
        while let Ok(event) = eventloop.poll().await {
            match event {
                Event::Incoming(Packet::SubAck(_)) => {
                    if let Some(s) = subscribed_tx.take() {
                        let _ = s.send(());
                    }
                }
                Event::Incoming(Packet::Publish(p)) if p.payload.len() >= 28 => {
                    let dst = u64::from_be_bytes(p.payload[4..12].try_into().expect("8 bytes"));
                    if p.payload[3] == 3 && seen.insert(dst) {
                        c.fetch_add(1, Ordering::SeqCst);
                        n.notify_waiters();
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
    (notify, count)
}

/// A server that dies between its ACK and the client's subscription to
/// its last will: the will is published before the client watches for
/// it, so it never reaches the client. The client's connection must not
/// wait forever for a server that is gone: it ends with an error once the
/// server fails to answer the client's confirmation of the handshake.
///
/// Made certain here: the server's session dies (no DISCONNECT, so its
/// will fires) as soon as the client's SYN is out, and its ACK, which a
/// broker may deliver that late, is published for it once the will is
/// out.
async fn a_server_that_dies_after_its_ack(port: u16) {
    static N: AtomicU64 = AtomicU64::new(0);
    let (sniffer, mut seen) = foreign_client(port).await;
    let ghost = format!(
        "dying{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let will_topic = format!("agentwire/will/{ghost}");
    let mut options = MqttOptions::new(format!("{ghost}-session"), "127.0.0.1", port);
    options.set_last_will(LastWill::new(&will_topic, "gone", QoS::AtLeastOnce, false));
    let (dying, mut eventloop) = AsyncClient::new(options, 16);
    let (connected_tx, connected_rx) = tokio::sync::oneshot::channel();
    let session = tokio::spawn(async move {
        let mut connected_tx = Some(connected_tx);
        while let Ok(event) = eventloop.poll().await {
            if let Event::Incoming(Packet::ConnAck(_)) = event {
                if let Some(c) = connected_tx.take() {
                    let _ = c.send(());
                }
            }
        }
    });
    tokio::time::timeout(WAIT, connected_rx)
        .await
        .expect("connack in time")
        .expect("connack");

    let target: MqttAddr = format!(
        "{}?keep_alive_s=1&connect_timeout_ms=1500",
        addr(port, "dies-after-ack")
    )
    .parse()
    .expect("addr");
    let server_topic = format!("agentwire/srv/{}", target.name());
    let connecting = tokio::spawn(async move { connect(&target).await });
    let word = |msg: &[u8], i: usize| u64::from_be_bytes(msg[i..i + 8].try_into().expect("8"));
    let (client_sid, client_conn) = tokio::time::timeout(WAIT, async {
        loop {
            let (topic, msg) = seen.recv().await.expect("sniffer");
            if topic == server_topic && msg.len() > 28 {
                let sid = String::from_utf8(msg[28..].to_vec()).expect("sid");
                return (sid, word(&msg, 12));
            }
        }
    })
    .await
    .expect("the client's SYN");
    // The server dies: its connection drops without a DISCONNECT.
    session.abort();
    let _ = session.await;
    drop(dying);
    tokio::time::timeout(WAIT, async {
        loop {
            let (topic, _) = seen.recv().await.expect("sniffer");
            if topic == will_topic {
                return;
            }
        }
    })
    .await
    .expect("the dead server's last will");
    let ack = stream_msg(2, client_conn, 0x5e5e, 1024 * 1024, ghost.as_bytes());
    sniffer
        .publish(
            format!("agentwire/in/{client_sid}"),
            QoS::AtLeastOnce,
            false,
            ack,
        )
        .await
        .expect("publish");

    let (t, log): (_, Log) = connecting
        .await
        .expect("no panic")
        .expect("the ACK completes the handshake");
    log.wait_lost()
        .await
        .expect("the connection to a dead server ends");
    let error = log.lost_error().unwrap_or_default();
    assert!(
        log.lost_error().is_some() && error.contains(&ghost),
        "{error}: {log:?}"
    );
    assert!(t.write(Bytes::from_static(b"late")).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_dying_after_its_ack_on_rumqttd() {
    a_server_that_dies_after_its_ack(rumqttd()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_dying_after_its_ack_on_mosquitto() {
    let Some(broker) = Mosquitto::start() else {
        say("server dying after its ACK on mosquitto: NOT RUN, mosquitto is not installed");
        return;
    };
    a_server_that_dies_after_its_ack(broker.port).await;
}
