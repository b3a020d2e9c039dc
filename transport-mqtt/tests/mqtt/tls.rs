//! `mqtts://`: TLS to a real broker (mosquitto with a TLS listener, when it
//! is installed). The kit over it; a broker we do not trust and a broker
//! that wants a client certificate we lack fail at once, saying so.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use std::io::ErrorKind;
use transport_api::conformance::{run_all, Backend};

use bytes::Bytes;
use transport_api::{Address, Protocol, Server, SharedTransport};
use transport_mqtt::{MqttAddr, MqttServer};

use crate::support::{addr, say};
use crate::tls_pki::Pki;

/// The kit's view of a TLS broker.
struct OnTlsBroker {
    port: u16,
    config: Arc<ClientConfig>,
}

impl Backend for OnTlsBroker {
    type Addr = MqttAddr;

    fn fresh_addr(&self) -> MqttAddr {
        addr(self.port, "tls").with_tls_config(Arc::clone(&self.config))
    }

    fn client_addr(&self, server: &MqttServer) -> MqttAddr {
        server.addr()
    }

    fn refused_addr(&self) -> MqttAddr {
        addr(self.port, "nobody").with_tls_config(Arc::clone(&self.config))
    }
}

fn not_run() {
    say("mqtts on mosquitto: NOT RUN, the mosquitto binary is not installed (apt-get install mosquitto)");
}

struct Quiet;
impl Protocol for Quiet {
    fn connection_made(&mut self, _: SharedTransport) {}
    fn data_received(&mut self, _: Bytes) {}
}

/// Connecting through `addr` fails well before its connect timeout, with
/// an error of kind `kind` whose text (with its causes) mentions `needle`.
async fn fails_soon(addr: &MqttAddr, kind: ErrorKind, needle: &str) {
    let started = Instant::now();
    let err = match addr.create_connection(Quiet).await {
        Ok(_) => panic!("{addr}: connected"),
        Err(e) => e,
    };
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    assert_eq!(err.kind(), kind, "{text}");
    assert!(
        text.to_lowercase().contains(needle),
        "the error does not say {needle:?}: {text}"
    );
    // Not a timeout in disguise: the handshake's failure is the answer.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}: {text}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_over_tls_on_mosquitto() {
    let pki = Pki::new("kit");
    let Some(broker) = pki.broker(false) else {
        return not_run();
    };
    let backend = OnTlsBroker {
        port: broker.port,
        config: pki.client(false),
    };
    if let Err(failures) = run_all(&backend).await {
        let list: Vec<String> = failures.iter().map(ToString::to_string).collect();
        panic!(
            "mqtts on mosquitto: {} scenario(s) failed:\n{}",
            list.len(),
            list.join("\n")
        );
    }
    say("mqtts conformance: every scenario passed on mosquitto");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_we_do_not_trust_is_refused_at_once() {
    let pki = Pki::new("untrusted");
    let stranger = Pki::new("stranger");
    let Some(broker) = pki.broker(false) else {
        return not_run();
    };
    let addr = addr(broker.port, "untrusted")
        .with_tls_config(stranger.client(false))
        .with_connect_timeout(Duration::from_secs(5));
    fails_soon(&addr, ErrorKind::ConnectionRefused, "certificate").await;
    // The same broker, trusted, serves.
    let trusted = addr.with_tls_config(pki.client(false));
    let server = trusted.create_server(|| Quiet).await.expect("serves");
    server.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_needs_our_certificate() {
    let pki = Pki::new("mutual");
    let Some(broker) = pki.broker(true) else {
        return not_run();
    };
    let with_cert = addr(broker.port, "mutual").with_tls_config(pki.client(true));
    let server = with_cert.create_server(|| Quiet).await.expect("serves");
    let (t, _) = server
        .addr()
        .create_connection(Quiet)
        .await
        .expect("connects with a certificate");
    drop(t);
    let without = server
        .addr()
        .with_tls_config(pki.client(false))
        .with_connect_timeout(Duration::from_secs(5));
    fails_soon(&without, ErrorKind::ConnectionRefused, "certificate").await;
    server.close();
}
