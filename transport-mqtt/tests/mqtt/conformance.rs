//! The conformance kit on mqtt, against the embedded rumqttd and, when it is
//! installed, mosquitto. Each broker runs every scenario in one test
//! (scenarios in parallel would only measure the broker); the output says
//! which brokers ran.

use transport_api::conformance::{run_all, Backend};
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

/// The kit's attacks (one transport shared by eight tasks, protocols that
/// end, panic or block in their callbacks, the stream adapter used
/// roughly) on the embedded rumqttd.
mod attacks {
    transport_api::attack_tests!(super::OnBroker {
        port: crate::brokers::rumqttd()
    });
}
