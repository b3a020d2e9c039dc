//! Helpers for the container tests: one container factory per backend
//! (local queues, TCP, Unix sockets, TLS, and the third-party-style
//! `wrapped` backend reached through a scheme), a `Calc` agent, the aiomas
//! (Python) helper, test certificates.

#![allow(dead_code)]

#[path = "../shared/aiomas.rs"]
pub mod aiomas;
#[path = "../shared/backends.rs"]
mod backends;
#[path = "../shared/raw_peer.rs"]
pub mod raw_peer;
pub use backends::{run, TempDir};
#[path = "../../transport-mqtt/tests/mqtt/brokers.rs"]
pub mod brokers;
#[path = "../../transport-mqtt/tests/mqtt/tls_pki.rs"]
pub mod mqtt_pki;
/// For `mqtt_pki`.
use transport_tcp::tls::rustls;
#[path = "../tcp/support.rs"]
pub mod pki;
/// The name `backends.rs` knows the certificates by.
use pki as tcp_support;
#[path = "../shared/wrapped.rs"]
pub mod wrapped;

use std::convert::Infallible;

use agentwire::api::AnyAddress;
use agentwire::rpc::Router;
use agentwire::{Container, ContainerOptions};
use transport_local::LocalNetwork;

use wrapped::WrappedAddr;

/// Where a scenario's containers live.
#[derive(Debug)]
pub enum Backend {
    Local(LocalNetwork),
    Tcp,
    Unix(TempDir),
    /// TLS with the test PKI, server and client certificates both ways.
    Tls,
    /// The `wrapped` backend of tests/shared/wrapped.rs, in a network of
    /// its own.
    Wrapped(LocalNetwork),
    /// Through the MQTT broker on this port (the embedded rumqttd), under
    /// a name prefix of the scenario's own.
    Mqtt(u16, String),
}

impl Backend {
    pub fn local() -> Self {
        Backend::Local(LocalNetwork::new())
    }

    pub fn unix() -> Self {
        Backend::Unix(TempDir::new())
    }

    pub fn wrapped() -> Self {
        Backend::Wrapped(LocalNetwork::new())
    }

    /// Containers on the embedded rumqttd of this test process.
    pub fn mqtt() -> Self {
        Backend::Mqtt(brokers::rumqttd(), unique())
    }

    /// The options every container of the scenario uses.
    pub fn options(&self) -> ContainerOptions {
        match self {
            Backend::Local(net) => ContainerOptions::new().local_network(net.clone()),
            Backend::Tls => mtls_options(),
            Backend::Wrapped(net) => wrapped_scheme(ContainerOptions::new(), net),
            Backend::Tcp | Backend::Unix(_) | Backend::Mqtt(..) => ContainerOptions::new(),
        }
    }

    /// The address (as a URL) of the container called `name`.
    pub fn url(&self, name: &str) -> String {
        match self {
            Backend::Local(_) => format!("local://{name}"),
            Backend::Tcp => "tcp://127.0.0.1:0".to_owned(),
            Backend::Unix(dir) => format!("ipc://[{}]", dir.path().join(name).display()),
            Backend::Tls => "tls://127.0.0.1:0".to_owned(),
            Backend::Wrapped(_) => format!("wrapped://{name}"),
            Backend::Mqtt(port, prefix) => {
                format!("mqtt://127.0.0.1:{port}/containers/{prefix}/{name}")
            }
        }
    }

    /// A URL for a container that restarts on its address: on TCP and TLS
    /// a free port below the ephemeral range (one picked with port 0 may be
    /// taken by another test's connection while the container is down).
    pub fn restartable_url(&self, name: &str) -> String {
        match self {
            Backend::Tcp => format!("tcp://127.0.0.1:{}", aiomas::free_port()),
            Backend::Tls => format!("tls://127.0.0.1:{}", aiomas::free_port()),
            _ => self.url(name),
        }
    }

    /// A container called `name`.
    pub async fn container(&self, name: &str) -> Container {
        Container::create_with(self.url(name).as_str(), self.options())
            .await
            .expect("container starts")
    }
}

/// A number no other scenario of this process uses (MQTT names are shared
/// by every test on the broker).
fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `options` that resolve `wrapped://name` URLs to queues of `net`.
pub fn wrapped_scheme(options: ContainerOptions, net: &LocalNetwork) -> ContainerOptions {
    let net = net.clone();
    options.scheme("wrapped", move |url: &str| {
        Ok(AnyAddress::new(WrappedAddr::parse(url, &net)?))
    })
}

/// Options for TLS containers that require and present client
/// certificates of the test PKI (mutual TLS).
pub fn mtls_options() -> ContainerOptions {
    ContainerOptions::new()
        .tls_server_config(pki::mtls_server_config(pki::pki()))
        .tls_client_config(pki::client_config_with_cert(pki::pki(), &pki::pki().client))
}

/// The `Calc` agent of `tests/aiomas/peer.py`, in Rust: `add`, `echo`,
/// `fail`.
pub fn calc() -> Router {
    Router::new()
        .method("add", |(a, b): (i64, i64)| async move {
            Ok::<_, Infallible>(a + b)
        })
        .method("echo", |(v,): (serde_json::Value,)| async move {
            Ok::<_, Infallible>(v)
        })
        .method("fail", |(msg,): (String,)| async move {
            Err::<(), _>(format!("ValueError: {msg}"))
        })
}

/// Containers `local://a` and `local://b` with the same `options`.
pub async fn local_pair(options: ContainerOptions) -> (Container, Container) {
    let a = Container::create_with("local://a", options.clone())
        .await
        .expect("a starts");
    let b = Container::create_with("local://b", options)
        .await
        .expect("b starts");
    (a, b)
}

/// `err` and its causes, one after the other.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}
