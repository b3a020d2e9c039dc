//! MQTT rows: agentwire's RPC through a broker (transport-mqtt) against a
//! raw MQTT publish/subscribe round trip through the same broker, and that
//! raw round trip against a raw TCP ping-pong: what the broker hop itself
//! costs.
//!
//! The broker, started once per run: mosquitto with `set_tcp_nodelay` when
//! it is installed, else the embedded rumqttd. rumqttd does not disable
//! Nagle's algorithm on its sockets, so each of its hops can wait for a
//! delayed ACK (tens of milliseconds): it makes both sides of a row slow
//! alike, and the run long; the table says which broker ran.
//!
//! Both MQTT sides publish at QoS 1, as transport-mqtt does. The brokered
//! cost per message is half a raw round trip (`mqtt_hop_c1`'s rate is in
//! round trips per second, two messages each).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use agentwire::channel::Bincode;
use agentwire::mqtt::MqttAddr;
use bytes::Bytes;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

use crate::rpc::{agentwire_calls, raw_batches_of, C64};
use crate::transfer::runtime;
use crate::Scenario;

#[path = "../../transport-mqtt/tests/mqtt/brokers.rs"]
#[allow(dead_code)]
mod brokers;

/// Calls (or raw round trips) per round.
const MQTT_CALLS: usize = 64 * 50;
/// Rounds per row (a broker round trip is slow; fewer, longer rounds).
const MQTT_ROUNDS: usize = 5;

const RAW_C1: &str =
    "raw MQTT QoS 1 publish/subscribe round trip via the same broker (mosquitto, else rumqttd), 1 outstanding";
const RAW_C64: &str =
    "raw MQTT QoS 1 publish/subscribe round trips via the same broker (mosquitto, else rumqttd), 64 outstanding";

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "rpc_mqtt_c1",
            unit: "call/s",
            work: MQTT_CALLS as f64,
            measured: || agentwire_mqtt(1),
            baseline: || raw_mqtt(1),
            baseline_name: RAW_C1,
            floor: Some(0.7),
            rounds: MQTT_ROUNDS,
        },
        Scenario {
            name: "rpc_mqtt_c64",
            unit: "call/s",
            work: MQTT_CALLS as f64,
            measured: || agentwire_mqtt(C64),
            baseline: || raw_mqtt(C64),
            baseline_name: RAW_C64,
            floor: Some(0.4),
            rounds: MQTT_ROUNDS,
        },
        Scenario {
            name: "mqtt_hop_c1",
            unit: "rt/s",
            work: MQTT_CALLS as f64,
            measured: || raw_mqtt(1),
            baseline: || raw_batches_of(1, MQTT_CALLS),
            baseline_name: "raw TcpStream ping-pong, 64 B frames (no broker)",
            floor: None,
            rounds: MQTT_ROUNDS,
        },
    ]
}

/// The broker's port (started on first use): mosquitto if installed, else
/// the embedded rumqttd.
fn broker() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| {
        let Some(binary) = mosquitto() else {
            eprintln!("mqtt rows: broker = embedded rumqttd (mosquitto is not installed)");
            return brokers::rumqttd();
        };
        let port = brokers::free_port();
        let conf = std::env::temp_dir().join(format!("agentwire-bench-mosquitto-{port}.conf"));
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 max_packet_size 1048576\nmax_queued_messages 100000\n\
                 set_tcp_nodelay true\nlog_type error\n"
            ),
        )
        .unwrap();
        // The shell kills mosquitto when our end of its stdin closes, that
        // is, when the benchmark exits however it exits.
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{} -c {} & read _; kill $!",
                binary,
                conf.display()
            ))
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::mem::forget(child.stdin.take());
        std::thread::spawn(move || child.wait());
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!("mqtt rows: broker = mosquitto on port {port}");
        port
    })
}

/// The mosquitto binary, if installed.
fn mosquitto() -> Option<&'static str> {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

fn agentwire_mqtt(concurrency: usize) -> Duration {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let addr = MqttAddr::new("127.0.0.1", broker(), &format!("bench/rpc/{n}")).unwrap();
    agentwire_calls(addr, Bincode, concurrency, MQTT_CALLS)
}

/// A raw MQTT client whose incoming publishes go to the returned channel.
async fn raw_client(id: &str, topic: &str) -> (AsyncClient, mpsc::UnboundedReceiver<Bytes>) {
    let mut options = MqttOptions::new(id, "127.0.0.1", broker());
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(options, 1024);
    // As transport-mqtt does: no Nagle delay on small messages.
    let mut network = eventloop.network_options();
    network.set_tcp_nodelay(true);
    eventloop.set_network_options(network);
    client.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let mut ready_tx = Some(ready_tx);
    tokio::spawn(async move {
        while let Ok(event) = eventloop.poll().await {
            match event {
                Event::Incoming(Packet::Publish(p)) => {
                    // After the round the receiver is gone; the loop ends
                    // when the client disconnects or is dropped.
                    let _ = tx.send(p.payload);
                }
                Event::Incoming(Packet::SubAck(_)) => {
                    if let Some(r) = ready_tx.take() {
                        let _ = r.send(());
                    }
                }
                _ => {}
            }
        }
    });
    ready_rx.await.unwrap();
    (client, rx)
}

/// Raw MQTT request/reply: a responder answers every 8-byte `x` on the
/// request topic with `x + 1` on the reply topic; the requester keeps
/// `outstanding` requests in flight.
fn raw_mqtt(outstanding: usize) -> Duration {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (req, rep) = (format!("bench/raw/{n}/req"), format!("bench/raw/{n}/rep"));
    runtime().block_on(async {
        let (responder, mut requests) = raw_client(&format!("raw-responder-{n}"), &req).await;
        let (requester, mut replies) = raw_client(&format!("raw-requester-{n}"), &rep).await;
        let rep_topic = rep.clone();
        tokio::spawn(async move {
            while let Some(payload) = requests.recv().await {
                let x = u64::from_be_bytes(payload[..8].try_into().unwrap());
                let reply = Bytes::copy_from_slice(&(x + 1).to_be_bytes());
                if responder
                    .publish_bytes(rep_topic.as_str(), QoS::AtLeastOnce, false, reply)
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        let request = |x: u64| Bytes::copy_from_slice(&x.to_be_bytes());
        let start = Instant::now();
        let mut sent = 0u64;
        for _ in 0..outstanding {
            requester
                .publish_bytes(req.as_str(), QoS::AtLeastOnce, false, request(sent))
                .await
                .unwrap();
            sent += 1;
        }
        for _ in 0..MQTT_CALLS {
            let reply = replies.recv().await.unwrap();
            assert_eq!(reply.len(), 8);
            if (sent as usize) < MQTT_CALLS {
                requester
                    .publish_bytes(req.as_str(), QoS::AtLeastOnce, false, request(sent))
                    .await
                    .unwrap();
                sent += 1;
            }
        }
        let elapsed = start.elapsed();
        let _ = requester.disconnect().await;
        elapsed
    })
}
