//! What the MQTT tests share: unique addresses on a broker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use transport_mqtt::MqttAddr;

/// A server name nobody else in this run uses.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "test/{prefix}/{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh address on the broker at `127.0.0.1:port`.
pub fn addr(port: u16, prefix: &str) -> MqttAddr {
    MqttAddr::new("127.0.0.1", port, &unique_name(prefix))
        .expect("valid address")
        .with_connect_timeout(Duration::from_millis(1500))
}

/// Writes a line to the test output even when the harness captures output
/// (it captures `eprintln!`, not the stderr handle itself): which brokers
/// ran, and which did not and why.
pub fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
