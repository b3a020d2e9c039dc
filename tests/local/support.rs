//! Helpers shared by the local-queue tests, on top of the conformance kit's
//! recording protocol.

pub use transport_api::conformance::{connect, Accepted, Event, Log, Recorder};

/// A server whose connections echo what they receive.
pub fn echo_server() -> Accepted {
    Accepted::new(Recorder {
        echo: true,
        ..Recorder::default()
    })
}

/// Lets every ready task run for a while (current-thread runtime): enough
/// rounds for the drivers to settle.
pub async fn settle() {
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
}
