//! Connect and close storms, connects abandoned at every stage, a server
//! dropped while connects are in flight, a runtime dropped with sessions
//! alive: everything ends, no MQTT session is left behind, and the peers
//! of what vanished learn it.

use std::io::ErrorKind;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::task::JoinSet;
use transport_api::conformance::{connect, Accepted, Event as Ev, Log, Recorder};
use transport_api::{Address, Server, Transport};
use transport_mqtt::MqttAddr;

use crate::brokers::rumqttd_of_its_own;
use crate::support::addr;

/// The storms run one at a time: each puts hundreds of connections through
/// the process's one embedded broker, and several at once on two cores
/// left the broker unable to answer a new session within its timeout.
pub(crate) static ONE_STORM_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const WAIT: Duration = Duration::from_secs(20);

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
            open.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut upstream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut upstream).await;
                }
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (local, open)
}

/// `addr`'s server name on the broker behind `proxy`.
fn via(proxy: u16, addr: &MqttAddr) -> MqttAddr {
    format!(
        "mqtt://127.0.0.1:{proxy}/{}?connect_timeout_ms=3000",
        addr.name()
    )
    .parse()
    .expect("addr")
}

/// Waits (bounded) until no connection is open through the proxy.
async fn all_sessions_gone(open: &AtomicU64, what: &str) {
    let closed = tokio::time::timeout(WAIT, async {
        while open.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "{what}: {} MQTT sessions left open",
        open.load(Ordering::SeqCst)
    );
}

/// Clients that connect, write and close, all at once, and clients that
/// give up at every stage of their connect (dropped after 0 to 40 ms):
/// every connection ends on both sides, the server closes, and no client
/// session is left on the broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_close_storm_leaves_nothing_behind() {
    let _storm = ONE_STORM_AT_A_TIME.lock().await;
    let port = rumqttd_of_its_own();
    let (proxy, open) = counting_proxy(port).await;
    let accepted = Accepted::new(Recorder {
        echo: true,
        ..Recorder::default()
    });
    let server = addr(port, "storm")
        .create_server(accepted.factory())
        .await
        .expect("server");
    let target = via(proxy, &server.addr());
    let mut storm = JoinSet::new();
    for i in 0..40u64 {
        let to = target.clone();
        storm.spawn(async move {
            let (t, log) = connect(&to).await.expect("connect");
            t.write(Bytes::from(format!("hello {i}"))).expect("write");
            log.wait_data(format!("hello {i}").len())
                .await
                .expect("echo");
            t.close();
            log.wait_lost().await.expect("closed");
            assert_eq!(log.events().last(), Some(&Ev::Lost(None)));
        });
        let to = target.clone();
        storm.spawn(async move {
            let log = Log::new();
            let _ = tokio::time::timeout(
                Duration::from_millis(i),
                to.create_connection(Recorder::new(&log)),
            )
            .await;
        });
    }
    while let Some(done) = storm.join_next().await {
        done.expect("no panic");
    }
    all_sessions_gone(&open, "after the storm").await;
    // Every connection the server accepted ends (a client that gave up
    // after the server's ACK never confirms: that one times out).
    for log in accepted.logs() {
        log.wait_lost().await.expect("server side ends");
    }
    server.close();
    tokio::time::timeout(WAIT, server.wait_closed())
        .await
        .expect("wait_closed");
}

/// The server goes away (dropped, not closed) while connects are in
/// flight: each connect ends, accepted or refused, and so does each
/// connection it made; no client session is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_dropped_during_connects() {
    let _storm = ONE_STORM_AT_A_TIME.lock().await;
    let port = rumqttd_of_its_own();
    let (proxy, open) = counting_proxy(port).await;
    let accepted = Accepted::default();
    let server = addr(port, "dropped-server")
        .create_server(accepted.factory())
        .await
        .expect("server");
    let target = via(proxy, &server.addr());
    let mut connects = JoinSet::new();
    for _ in 0..30 {
        let target = target.clone();
        connects.spawn(async move {
            let log = Log::new();
            let made = target.create_connection(Recorder::new(&log)).await;
            (made.map(|(t, _)| t), log)
        });
    }
    tokio::task::yield_now().await;
    drop(server);
    let mut outcomes = Vec::new();
    let all = async {
        while let Some(done) = connects.join_next().await {
            outcomes.push(done.expect("no panic"));
        }
    };
    tokio::time::timeout(WAIT, all)
        .await
        .expect("every connect ends");
    for (made, log) in outcomes {
        match made {
            Ok(t) => {
                drop(t);
                log.wait_lost().await.expect("the connection ends");
            }
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}"),
        }
    }
    for log in accepted.logs() {
        log.wait_lost().await.expect("server side ends");
    }
    all_sessions_gone(&open, "after the server went").await;
}

/// A runtime dropped with a client's session and connection alive (a
/// process's runtime shut down without closing anything): no panic, and
/// the server's side of the connection ends with an error (the client's
/// last will), as for a client that died.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_dropped_with_live_sessions() {
    let _storm = ONE_STORM_AT_A_TIME.lock().await;
    let port = rumqttd_of_its_own();
    let accepted = Accepted::default();
    let server = addr(port, "runtime")
        .create_server(accepted.factory())
        .await
        .expect("server");
    let target = server.addr();
    // A second runtime on a thread of its own: it connects, writes, and
    // is dropped with everything open.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let kept = rt.block_on(async {
            let (t, log) = connect(&target).await.expect("connect");
            t.write(Bytes::from_static(b"alive")).expect("write");
            (t, log)
        });
        let _ = tx.send(());
        let _ = go_rx.recv_timeout(WAIT);
        drop(rt);
        drop(kept);
    });
    tokio::time::timeout(WAIT, rx)
        .await
        .expect("connected in time")
        .expect("connected");
    let server_side = accepted.wait_log(0).await.expect("accepted");
    server_side.wait_data(5).await.expect("data");
    let _ = go_tx.send(());
    thread.join().expect("dropping the runtime does not panic");
    server_side.wait_lost().await.expect("the server side ends");
    let lost = server_side
        .events()
        .into_iter()
        .find_map(|e| match e {
            Ev::Lost(kind) => Some(kind),
            _ => None,
        })
        .flatten();
    assert_eq!(lost, Some(ErrorKind::ConnectionAborted), "{server_side:?}");
    // The server serves on.
    let (t, log) = connect(&server.addr()).await.expect("connect after");
    t.write(Bytes::from_static(b"next")).expect("write");
    accepted
        .wait_log(1)
        .await
        .expect("accepted")
        .wait_data(4)
        .await
        .expect("data");
    t.close();
    log.wait_lost().await.expect("closed");
    server.close();
    tokio::time::timeout(WAIT, server.wait_closed())
        .await
        .expect("wait_closed");
}

/// Two servers under one name (a mistake MQTT cannot refuse across
/// processes: both take every handshake; the second here names the broker
/// `localhost`, as another process could, which this process's check of
/// names in use does not see through). Each client gets one working
/// connection; the other server's half of each handshake ends with an
/// error (the client resets it, or it is never confirmed), and both
/// servers close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_under_one_name() {
    let _storm = ONE_STORM_AT_A_TIME.lock().await;
    const CLIENTS: usize = 10;
    let port = rumqttd_of_its_own();
    let echo = || {
        Accepted::new(Recorder {
            echo: true,
            ..Recorder::default()
        })
    };
    let (first, second) = (echo(), echo());
    let name = addr(port, "twins");
    let a = name.create_server(first.factory()).await.expect("server a");
    let elsewhere = MqttAddr::new("localhost", port, name.name())
        .expect("valid address")
        .with_connect_timeout(Duration::from_millis(1500));
    let b = elsewhere
        .create_server(second.factory())
        .await
        .expect("server b");
    for i in 0..CLIENTS {
        let (t, log) = connect(&name).await.expect("connect");
        let msg = format!("client {i}");
        t.write(Bytes::from(msg.clone())).expect("write");
        log.wait_data(msg.len()).await.expect("echo");
        assert_eq!(log.data(), msg.as_bytes(), "one server answers, once");
        t.close();
        log.wait_lost().await.expect("closed");
    }
    // Every half of a handshake ends; the ones that carried data cleanly.
    let logs: Vec<Log> = first.logs().into_iter().chain(second.logs()).collect();
    assert!(logs.len() >= CLIENTS, "{} server sides", logs.len());
    let mut clean = 0;
    for log in &logs {
        log.wait_lost().await.expect("every server side ends");
        if log.data_len() > 0 {
            assert_eq!(log.events().last(), Some(&Ev::Lost(None)), "{log:?}");
            clean += 1;
        } else {
            assert!(log.lost_error().is_some(), "{log:?}");
        }
    }
    assert_eq!(clean, CLIENTS);
    for server in [&a, &b] {
        server.close();
        tokio::time::timeout(WAIT, server.wait_closed())
            .await
            .expect("wait_closed");
    }
}

/// Within one process, a second server under a name that a live server
/// has on the same broker fails with `AddrInUse` (whatever its client id);
/// the name is free again once the first is closed, or dropped, and other
/// names are not affected.
#[tokio::test]
async fn a_name_in_use_is_refused_in_one_process() {
    let port = rumqttd_of_its_own();
    let name = addr(port, "in-use");
    let first = name
        .create_server(Accepted::default().factory())
        .await
        .expect("first server");
    let again = MqttAddr::new("127.0.0.1", port, name.name())
        .expect("valid address")
        .with_client_id("another-id");
    for taken in [&name, &again] {
        let err = taken
            .create_server(Accepted::default().factory())
            .await
            .expect_err("a second server under the name");
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
        assert!(err.to_string().contains(name.name()), "{err}");
    }
    let other = name.with_name("in-use-other").expect("valid name");
    let beside = other
        .create_server(Accepted::default().factory())
        .await
        .expect("another name on the broker");
    // Closed: the name is free, and the new server answers.
    first.close();
    let second = name
        .create_server(Accepted::default().factory())
        .await
        .expect("the name after close");
    connect(&name).await.expect("the new server answers");
    // Dropped: free as well.
    drop(second);
    let third = name
        .create_server(Accepted::default().factory())
        .await
        .expect("the name after drop");
    for server in [&first, &third, &beside] {
        server.close();
        tokio::time::timeout(WAIT, server.wait_closed())
            .await
            .expect("wait_closed");
    }
}

/// A server closed with hundreds of connections closing at once: its
/// session, once the last of them is gone, leaves the broker (its
/// DISCONNECT queued behind what the closing connections queued), as
/// counted at a proxy in front of the broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowded_server_leaves_the_broker_when_closed() {
    let _storm = ONE_STORM_AT_A_TIME.lock().await;
    const CONNS: usize = 300;
    let port = rumqttd_of_its_own();
    let (proxy, open) = counting_proxy(port).await;
    let direct = addr(port, "crowd-close");
    let accepted = Accepted::default();
    let server = via(proxy, &direct)
        .create_server(accepted.factory())
        .await
        .expect("server");
    assert_eq!(open.load(Ordering::SeqCst), 1);
    let mut connects = JoinSet::new();
    for _ in 0..CONNS {
        let target = direct.clone();
        connects.spawn(async move { connect(&target).await.expect("connect") });
    }
    let mut clients = Vec::new();
    while let Some(client) = connects.join_next().await {
        clients.push(client.expect("no panic"));
    }
    server.close();
    for (t, _) in &clients {
        t.close();
    }
    tokio::time::timeout(WAIT, server.wait_closed())
        .await
        .expect("wait_closed");
    for (_, log) in &clients {
        log.wait_lost().await.expect("client side ends");
    }
    all_sessions_gone(&open, "the closed server's session").await;
}
