//! The broker going away at awkward moments: in the middle of a client's
//! handshake, and while a server's connections have more to publish than
//! the MQTT client's request queue holds. What is waiting on the broker
//! ends with an error instead of waiting for a broker that may never come
//! back. Needs a broker we can stop: mosquitto.

use std::io::ErrorKind;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::task::JoinSet;
use transport_api::conformance::{connect, Accepted, Log, Recorder};
use transport_api::{Address, Server, Transport};

use crate::brokers::Mosquitto;
use crate::failures::foreign_client;
use crate::support::{addr, say};

const WAIT: Duration = Duration::from_secs(20);

/// A client waiting for a server's answer to its handshake (a long
/// connect timeout, a name nobody serves) learns at once that its broker
/// is gone: the connect fails, it does not wait out the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_in_flight_fails_when_the_broker_dies() {
    let Some(mut broker) = Mosquitto::start() else {
        say("handshake vs broker death: NOT RUN, mosquitto is not installed");
        return;
    };
    let (_sniffer, mut seen) = foreign_client(broker.port).await;
    let target = addr(broker.port, "unanswered").with_connect_timeout(Duration::from_secs(600));
    let server_topic = format!("agentwire/srv/{}", target.name());
    let connecting = tokio::spawn(async move {
        let log = Log::new();
        target
            .create_connection(Recorder::new(&log))
            .await
            .map(|_| ())
    });
    // The SYN is out: the client now waits for an answer.
    let syn_seen = async {
        while let Some((topic, _)) = seen.recv().await {
            if topic == server_topic {
                return;
            }
        }
    };
    tokio::time::timeout(WAIT, syn_seen)
        .await
        .expect("the client's SYN on the broker");
    broker.kill();
    let result = tokio::time::timeout(WAIT, connecting)
        .await
        .expect("the connect ends soon after the broker dies, not after its 600 s timeout")
        .expect("no panic");
    let err = result.expect_err("connected without a broker");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    // The cause says why: the broker, not a server that did not answer.
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    assert!(
        cause
            .as_deref()
            .is_some_and(|c| c.contains("lost the MQTT broker")),
        "{err}: {cause:?}"
    );
}

/// Many server connections publishing when the broker dies: more publishes
/// than the MQTT client's request queue holds wait for room in it, and
/// while the server's session waits to reconnect nothing empties it. Each
/// connection still ends (`connection_lost` with an error), and the server
/// closes, without the broker coming back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_server_connections_end_when_the_broker_dies() {
    let Some(mut broker) = Mosquitto::start() else {
        say("busy server vs broker death: NOT RUN, mosquitto is not installed");
        return;
    };
    const CONNS: usize = 64;
    let accepted = Accepted::default();
    let server = addr(broker.port, "busy")
        .create_server(accepted.factory())
        .await
        .expect("server");
    let mut connects = JoinSet::new();
    for _ in 0..CONNS {
        let target = server.addr();
        connects.spawn(async move { connect(&target).await.expect("connect") });
    }
    let mut clients = Vec::new();
    while let Some(client) = connects.join_next().await {
        clients.push(client.expect("no panic"));
    }
    let mut server_sides = Vec::new();
    for i in 0..CONNS {
        let log = accepted.wait_log(i).await.expect("accepted");
        log.wait_for("connection_made", |ev| !ev.is_empty())
            .await
            .expect("made");
        server_sides.push(log);
    }
    // The broker stops reading: the server's MQTT client fills its
    // in-flight window and its request queue, and the connections' drivers
    // wait for room with a window's worth (1 MiB, 16 publishes) each.
    broker.pause();
    let megabyte = Bytes::from(vec![b'x'; 1024 * 1024]);
    for log in &server_sides {
        let transport = log.require_transport("server side").expect("transport");
        transport.write(megabyte.clone()).expect("write");
    }
    // Let the drivers reach the full queue (if they do not, the test
    // passes without testing anything; it cannot fail because of this).
    tokio::time::sleep(Duration::from_millis(300)).await;
    broker.kill();

    let mut lost = JoinSet::new();
    for (i, log) in server_sides.iter().enumerate() {
        let log = log.clone();
        lost.spawn(async move { (i, log.wait_lost().await) });
    }
    let mut stuck = Vec::new();
    while let Some(result) = lost.join_next().await {
        let (i, result) = result.expect("no panic");
        if result.is_err() {
            stuck.push(i);
        }
    }
    assert!(
        stuck.is_empty(),
        "{} of {CONNS} server connections never got connection_lost: {stuck:?}",
        stuck.len()
    );
    for log in &server_sides {
        assert!(log.lost_error().is_some(), "ended with an error: {log:?}");
    }
    server.close();
    tokio::time::timeout(WAIT, server.wait_closed())
        .await
        .expect("the server closes while the broker is down");
    drop(clients);
}

/// While the broker is down, a server's session tries to reconnect with a
/// growing backoff (50 ms doubling to 2 s), not in a tight loop: counted
/// at a proxy in front of the broker, a few attempts in three seconds.
/// Once the broker is back, the server takes new connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_attempts_back_off_while_the_broker_is_down() {
    let Some(mut broker) = Mosquitto::start() else {
        say("reconnect backoff: NOT RUN, mosquitto is not installed");
        return;
    };
    let port = broker.port;
    let (proxy, attempts) = accepting_proxy(port).await;
    let direct = addr(port, "backoff");
    let via_proxy: transport_mqtt::MqttAddr = format!("mqtt://127.0.0.1:{proxy}/{}", direct.name())
        .parse()
        .expect("addr");
    let accepted = Accepted::default();
    let server = via_proxy
        .create_server(accepted.factory())
        .await
        .expect("server");
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    broker.kill();
    // Three seconds of outage: 50 + 100 + 200 + 400 + 800 + 1600 ms of
    // backoff make about six attempts; a loop without backoff thousands.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = attempts.load(Ordering::SeqCst) - 1;
    assert!(
        (1..=12).contains(&during),
        "{during} reconnect attempts in 3 s without a broker"
    );
    let _broker = Mosquitto::start_on(port).expect("restart mosquitto");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match connect(&direct).await {
            Ok((t, log)) => {
                t.close();
                log.wait_lost().await.expect("closed");
                break;
            }
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no connection after the broker came back: {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    server.close();
    tokio::time::timeout(WAIT, server.wait_closed())
        .await
        .expect("wait_closed");
}

/// A TCP proxy to the broker that counts the connections it accepted.
async fn accepting_proxy(port: u16) -> (u16, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let local = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut upstream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut upstream).await;
                }
            });
        }
    });
    (local, accepted)
}

/// A server with many connections when the broker dies: each ending
/// connection queues a reset for its peer and an unsubscription of its
/// peer's will, more than the MQTT client's request queue holds while the
/// broker is down. Once the broker is back the server must still
/// subscribe to its topic again, and take new connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_many_connections_serves_again_after_a_restart() {
    let Some(mut broker) = Mosquitto::start() else {
        say("many connections vs restart: NOT RUN, mosquitto is not installed");
        return;
    };
    const CONNS: usize = 300;
    let port = broker.port;
    let accepted = Accepted::default();
    let server = addr(port, "crowded")
        .create_server(accepted.factory())
        .await
        .expect("server");
    let mut connects = JoinSet::new();
    for _ in 0..CONNS {
        let target = server.addr();
        connects.spawn(async move { connect(&target).await.expect("connect") });
    }
    let mut clients = Vec::new();
    while let Some(client) = connects.join_next().await {
        clients.push(client.expect("no panic"));
    }
    let server_sides = accepted.logs();
    assert_eq!(server_sides.len(), CONNS);
    broker.kill();
    for log in &server_sides {
        log.wait_lost().await.expect("each server side ends");
    }
    drop(clients);
    let _broker = Mosquitto::start_on(port).expect("restart mosquitto");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match connect(&server.addr()).await {
            Ok((t, log)) => {
                t.close();
                log.wait_lost().await.expect("closed");
                break;
            }
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the server never took a connection again: {e:?}"
                );
            }
        }
    }
    server.close();
    tokio::time::timeout(WAIT, server.wait_closed())
        .await
        .expect("wait_closed");
}
