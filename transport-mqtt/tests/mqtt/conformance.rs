//! The conformance kit on mqtt, against the embedded rumqttd and, when it is
//! installed, mosquitto. Each broker runs every scenario in one test
//! (scenarios in parallel would only measure the broker); the output says
//! which brokers ran.

use transport_api::conformance::{run_all, stress, Backend, Outcome};
use transport_api::Server;
use transport_mqtt::{MqttAddr, MqttServer};

use crate::brokers::{rumqttd, Mosquitto};
use crate::support::{addr, say};

/// The kit's view of one broker.
struct OnBroker {
    port: u16,
}

impl Backend for OnBroker {
    type Addr = MqttAddr;

    fn fresh_addr(&self) -> MqttAddr {
        addr(self.port, "conformance")
    }

    fn client_addr(&self, server: &MqttServer) -> MqttAddr {
        server.addr()
    }

    fn refused_addr(&self) -> MqttAddr {
        // A name nobody serves: no answer within the connect timeout.
        addr(self.port, "nobody")
    }
}

async fn run(broker: &str, port: u16) {
    if let Err(failures) = run_all(&OnBroker { port }).await {
        let list: Vec<String> = failures.iter().map(ToString::to_string).collect();
        panic!(
            "mqtt on {broker}: {} scenario(s) failed:\n{}",
            list.len(),
            list.join("\n")
        );
    }
    say(&format!(
        "mqtt conformance: every scenario passed on {broker}"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_rumqttd() {
    run("rumqttd (embedded)", rumqttd()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_mosquitto() {
    let Some(broker) = Mosquitto::start() else {
        say("mqtt conformance on mosquitto: NOT RUN, the mosquitto binary is not installed (apt-get install mosquitto)");
        return;
    };
    run("mosquitto", broker.port).await;
}

/// Runs one of the kit's multi-thread scenarios on the embedded rumqttd,
/// with a hang detector.
async fn run_one(name: &str, scenario: impl std::future::Future<Output = Outcome>) {
    match tokio::time::timeout(std::time::Duration::from_secs(30), scenario).await {
        Ok(Ok(())) => {}
        Ok(Err(failure)) => panic!("mqtt {name}: {failure}"),
        Err(_) => panic!("mqtt {name}: hung"),
    }
}

/// Eight tasks wait for room on one transport: every one is woken (with
/// one waker slot only the last one was, and the others hung).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_wait_for_room() {
    let broker = OnBroker { port: rumqttd() };
    run_one("writable", stress::many_tasks_wait_writable(&broker)).await;
}

/// Eight tasks share one transport, writing, pausing and ending it at
/// random (two seeds: one ends with a close, one with an abort).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transport_shared_by_eight_tasks() {
    let broker = OnBroker { port: rumqttd() };
    for seed in [1, 2] {
        run_one("shared transport", stress::shared_transport(&broker, seed)).await;
    }
}

/// The kit's misbehaving protocols (ending their own connection from a
/// callback, writing 64 MiB and closing, panicking, blocking a worker, the
/// stream adapter used roughly) on the embedded rumqttd.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn misbehaving_protocols() {
    use transport_api::conformance::hostile::{self, OnData, PanicIn};
    let broker = OnBroker { port: rumqttd() };
    for on_data in [
        OnData::Close,
        OnData::Abort,
        OnData::DropTransport,
        OnData::Write64MiB,
    ] {
        run_one(
            &format!("{on_data:?}"),
            hostile::end_from_data_received(&broker, on_data),
        )
        .await;
    }
    run_one("paused", hostile::close_while_peer_never_reads(&broker)).await;
    for p in [
        PanicIn::ServerMade,
        PanicIn::ServerLost,
        PanicIn::Factory,
        PanicIn::ClientMade,
    ] {
        run_one(&format!("{p:?}"), hostile::panicking_protocol(&broker, p)).await;
    }
    run_one("blocking", hostile::blocking_callback(&broker)).await;
    run_one("stream", hostile::stream_abuse(&broker)).await;
}
