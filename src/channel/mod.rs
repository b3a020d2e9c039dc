//! Channels: length-prefixed frames, codecs and request/reply over any
//! transport (aiomas's `channel` module).
//!
//! A [`Channel`] turns one byte connection into requests and replies. Both
//! ends may send requests; many may be outstanding at once and replies come
//! back in any order, matched by id. It runs on every transport backend: the
//! address type given to [`Channel::open_connection`] /
//! [`Channel::start_server`] picks it.
//!
//! On the wire, each message is a frame (a 4-byte big-endian length, then
//! the payload) whose payload is the envelope `(kind, id, content)` encoded
//! by a [`Codec`]: 0 = request, 1 = result, 2 = exception. The [`Json`]
//! codec writes exactly what aiomas writes (`[0, 7, ["agents/0/add", [1, 2],
//! {}]]`), so Rust and Python aiomas peers can talk; [`Bincode`] (the
//! default) is compact and fast for Rust-to-Rust.
//!
//! Map of the module:
//!
//! - [`frame`]: [`FrameDecoder`], [`encode_frame`], the maximum frame size;
//! - [`framed`]: [`FramedProtocol`], framing as a transport `Protocol`, and
//!   the [`FrameHandler`] it feeds;
//! - [`envelope`]: [`MessageKind`] and [`Message`], the decoded envelope;
//! - [`codec`]: the [`Codec`] trait, [`Bincode`], [`Json`] and (feature
//!   `msgpack`) `MsgPack`;
//! - [`options`]: [`ChannelOptions`], a channel's settings;
//! - `channel`: [`Channel`]; `request`: [`Request`], an incoming request;
//! - [`error`]: [`ChannelError`] and its `io::ErrorKind` mapping;
//! - `shared`, `protocol`, `connect`, `slots`, `ids` (private): the
//!   per-connection state, the frame handler behind a channel, connecting
//!   with retries, a semaphore with a lock-free fast path, the hasher of
//!   pending request ids.
//!
//! # Limits and safety
//!
//! Nothing the peer sends can make us panic or allocate without bound: a
//! frame header above the maximum frame size (default
//! [`DEFAULT_MAX_FRAME_SIZE`], 16 MiB) closes the connection with
//! [`ChannelError::FrameTooLarge`] before anything is allocated for it; a
//! frame split across reads is buffered as its bytes arrive; received
//! requests wait in a bounded queue, and when it is full (and a further
//! 1 MiB of requests is held back) the channel stops reading from the peer
//! (backpressure) until there is room; our own
//! requests waiting for replies are bounded too. A malformed payload, an
//! unknown message type or a reply to an id we never used closes that
//! connection only, with an error saying which (a late reply to a request
//! whose caller gave up is discarded).
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use agentwire::channel::{Channel, ChannelOptions, Json};
//! use transport_local::LocalNetwork;
//!
//! let addr = LocalNetwork::new().get_queue("echo")?;
//! let options = ChannelOptions::new().codec(Json);
//! let _server = Channel::start_server(&addr, |channel: Channel<Json>| async move {
//!     while let Ok(request) = channel.recv().await {
//!         let value: serde_json::Value = match request.content() {
//!             Ok(v) => v,
//!             Err(e) => { let _ = request.fail(e).await; continue; }
//!         };
//!         let _ = request.reply(&value).await;
//!     }
//! }, options.clone()).await?;
//!
//! let channel = Channel::open_connection(&addr, options).await?;
//! let echoed: Vec<String> = channel.request(&["hello", "world"]).await?;
//! assert_eq!(echoed, ["hello", "world"]);
//! # Ok(()) }
//! ```

#[allow(clippy::module_inception)]
mod channel;
pub mod codec;
mod connect;
pub mod envelope;
pub mod error;
pub mod frame;
pub mod framed;
mod ids;
pub mod options;
mod outgoing;
mod pending;
mod protocol;
mod request;
mod shared;
mod slots;

pub use self::channel::Channel;
pub(crate) use self::channel::WeakChannel;
pub(crate) use self::connect::{retryable, Retry};
#[cfg(feature = "msgpack")]
pub use codec::MsgPack;
pub use codec::{Bincode, Codec, Json};
pub use envelope::{Message, MessageKind};
pub use error::{ChannelError, Result};
pub use frame::{encode_frame, FrameDecoder, DEFAULT_MAX_FRAME_SIZE};
pub use framed::{FrameHandler, FramedProtocol};
pub use options::ChannelOptions;
pub use request::Request;
pub(crate) use shared::Dispatch;
