//! TCP, Unix domain socket and TLS specifics of `transport-tcp` (the
//! conformance kit runs on all three in `tests/conformance`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod addr;
mod cancel;
mod data;
mod errors;
mod raw;
mod support;
mod tls;

/// Handles, servers and addresses can move between threads and tasks.
#[test]
fn handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<transport_tcp::SocketTransport>();
    send_sync::<transport_tcp::TcpServer>();
    send_sync::<transport_tcp::UnixServer>();
    send_sync::<transport_tcp::TlsServer>();
    send_sync::<transport_tcp::TcpAddr>();
    send_sync::<transport_tcp::UnixAddr>();
    send_sync::<transport_tcp::TlsAddr>();
}
