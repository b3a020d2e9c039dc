//! The [`Codec`] trait and the codecs: [`Bincode`] (the default), [`Json`]
//! (aiomas's wire format) and, with the `msgpack` feature (on by default),
//! [`MsgPack`] (aiomas's `MsgPack`).
//!
//! A codec turns an envelope `(kind, id, content)` into a frame payload and
//! back. Decoding is two-step: [`Codec::decode_message`] reads the kind and
//! id and keeps the content encoded, so the receiver decodes it later into
//! whatever type it expects ([`Codec::decode_content`]). That is what lets a
//! channel match a reply to its request before knowing the reply's type.

mod bincode;
mod bincode_errors;
mod bounded;
mod json;
#[cfg(feature = "msgpack")]
mod msgpack;

use std::fmt;

use bytes::Bytes;
use serde::de::{DeserializeOwned, DeserializeSeed};
use serde::Serialize;

pub use self::bincode::Bincode;
pub use self::json::Json;
#[cfg(feature = "msgpack")]
pub use self::msgpack::MsgPack;

use super::{Message, MessageKind, Result};

/// Encodes and decodes channel messages.
///
/// Implementations must never panic on any input: every malformed payload is
/// a [`ChannelError::Codec`](super::ChannelError::Codec) (or
/// [`UnknownMessageType`](super::ChannelError::UnknownMessageType)) error,
/// and decoding allocates no more than a small multiple of the input's size.
pub trait Codec: fmt::Debug + Clone + Send + Sync + 'static {
    /// A short name for error messages, e.g. `"json"`.
    fn name(&self) -> &'static str;

    /// Appends the payload of the message `(kind, id, content)` to `out`
    /// (which may already hold other bytes, such as a frame header).
    ///
    /// # Errors
    ///
    /// [`ChannelError::Codec`](super::ChannelError::Codec) if `content`
    /// cannot be encoded (e.g. a map with non-string keys in JSON).
    fn encode_message<T: Serialize + ?Sized>(
        &self,
        kind: MessageKind,
        id: u64,
        content: &T,
        out: &mut Vec<u8>,
    ) -> Result<()>;

    /// Reads the kind and id of a frame payload; the content stays encoded.
    ///
    /// # Errors
    ///
    /// [`ChannelError::Codec`](super::ChannelError::Codec) for a payload that
    /// is not an envelope,
    /// [`ChannelError::UnknownMessageType`](super::ChannelError::UnknownMessageType)
    /// for a kind other than 0, 1, 2.
    fn decode_message(&self, payload: Bytes) -> Result<Message>;

    /// Decodes a message's content into `T`.
    ///
    /// # Errors
    ///
    /// [`ChannelError::Codec`](super::ChannelError::Codec) if the content is
    /// not a valid `T`.
    fn decode_content<T: DeserializeOwned>(&self, content: &[u8]) -> Result<T>;

    /// Decodes a message's content with a serde [`DeserializeSeed`] (for
    /// decoders that need state, such as RPC routing reading a request's
    /// path first). Unlike [`decode_content`](Self::decode_content), bytes
    /// left after the value are not an error.
    ///
    /// # Errors
    ///
    /// [`ChannelError::Codec`](super::ChannelError::Codec) if the content is
    /// not what the seed expects, or if the seed fails.
    fn decode_content_seed<'de, S: DeserializeSeed<'de>>(
        &self,
        content: &'de [u8],
        seed: S,
    ) -> Result<S::Value>;
}

/// Bytes left over after a complete value.
#[derive(Debug, thiserror::Error)]
#[error("{extra} trailing bytes after the value")]
pub(crate) struct TrailingBytes {
    pub(crate) extra: usize,
}
