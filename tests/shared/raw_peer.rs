//! A raw peer for the RPC and container tests (included by each with
//! `#[path]`): a protocol that never reads, and aiomas JSON request frames
//! to flood a server with.

use agentwire::channel::{Codec, Json, MessageKind};
use bytes::Bytes;
use tokio::sync::mpsc;
use transport_api::{Protocol, SharedTransport};

/// A peer that never reads: it pauses reading as soon as it is connected,
/// and hands its transport over.
pub struct Deaf(pub mpsc::UnboundedSender<SharedTransport>);

impl Protocol for Deaf {
    fn connection_made(&mut self, transport: SharedTransport) {
        transport.pause_reading();
        let _ = self.0.send(transport);
    }
    fn data_received(&mut self, _: Bytes) {}
}

/// A request frame of aiomas's JSON format: `[0, id, [path, args, {}]]`.
pub fn request_frame(id: u64, path: &str, args: &serde_json::Value) -> Bytes {
    let mut payload = Vec::new();
    Json.encode_message(
        MessageKind::Request,
        id,
        &(path, args, serde_json::Map::new()),
        &mut payload,
    )
    .expect("encodes");
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&payload);
    Bytes::from(frame)
}
