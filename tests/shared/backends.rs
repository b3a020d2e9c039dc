//! Addresses of every backend for the generic scenarios of the channel, RPC
//! and container tests (included by each with `#[path]`): a scenario
//! deadline, a fresh local queue, `tcp://127.0.0.1:0`, `tls://127.0.0.1:0`
//! (with the TCP tests' certificates: the including crate's support module
//! also includes `tests/tcp/support.rs` as `tcp_support`), a server name on
//! the embedded MQTT broker (the support module includes
//! `transport-mqtt/tests/mqtt/brokers.rs` as `brokers`), a temporary
//! directory for Unix sockets, and `on_every_backend!`.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use transport_local::{LocalNetwork, LocalQueue};
use transport_tcp::{TcpAddr, TlsAddr, UnixAddr};

/// Runs a scenario with a deadline, so a hang fails instead of blocking CI.
pub async fn run(scenario: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(30), scenario)
        .await
        .expect("scenario timed out");
}

/// A local queue in a network of its own.
pub fn local() -> LocalQueue {
    LocalNetwork::new()
        .get_queue("test")
        .expect("valid queue id")
}

/// `tcp://127.0.0.1:0`: the server picks a port.
pub fn tcp() -> TcpAddr {
    "tcp://127.0.0.1:0".parse().expect("valid tcp address")
}

/// `tls://127.0.0.1:0`: the server presents the test CA's certificate and
/// its clients (through `server.addr()`) trust that CA.
pub fn tls() -> TlsAddr {
    use super::tcp_support::{client_config, pki, server_config, tls_server_addr};
    tls_server_addr(server_config(pki())).with_client_config(client_config(pki()))
}

/// A fresh server name on this test process's embedded MQTT broker
/// (rumqttd, which does not set TCP_NODELAY: a round trip through it can
/// take 40 ms, a delayed ACK).
pub fn mqtt() -> agentwire::mqtt::MqttAddr {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "shared-tests/{}/{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    agentwire::mqtt::MqttAddr::new("127.0.0.1", super::brokers::rumqttd(), &name)
        .expect("a valid MQTT address")
        // Nobody serving a name is known only once nobody answers.
        .with_connect_timeout(Duration::from_millis(1500))
}

/// A fresh directory for Unix sockets, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "agentwire-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A Unix socket address inside the directory.
    pub fn sock(&self) -> UnixAddr {
        UnixAddr::new(self.0.join("s.sock")).expect("valid unix address")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Generates, for each scenario `module::name` (an async fn taking an
/// address), a module `name` with one test per backend: `local`, `tcp`,
/// `tls` and `unix`. Expects the test crate's `support` module to re-export this file.
#[macro_export]
macro_rules! on_every_backend {
    ($($module:ident :: $name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[tokio::test]
            async fn local() {
                support::run($module::$name(support::local())).await;
            }

            #[tokio::test]
            async fn tcp() {
                support::run($module::$name(support::tcp())).await;
            }

            #[tokio::test]
            async fn tls() {
                support::run($module::$name(support::tls())).await;
            }

            #[tokio::test]
            async fn unix() {
                let dir = support::TempDir::new();
                support::run($module::$name(dir.sock())).await;
            }
        }
    )*};
}

/// Generates, for each scenario `module::name`, a test `name` through the
/// embedded MQTT broker (`support::mqtt()`); expand it in a module of its
/// own (`mod mqtt { use super::*; on_mqtt!(...); }`).
#[macro_export]
macro_rules! on_mqtt {
    ($($module:ident :: $name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            support::run($module::$name(support::mqtt())).await;
        }
    )*};
}
