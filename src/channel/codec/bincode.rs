//! [`Bincode`]: bincode 2 (serde), the default codec.

use ::bincode::config::{self, Config};
use ::bincode::error::DecodeError;
use bytes::Bytes;
use serde::de::{DeserializeOwned, DeserializeSeed};
use serde::Serialize;

use super::{Codec, TrailingBytes};
use crate::channel::{ChannelError, Message, MessageKind, Result};

const NAME: &str = "bincode";

/// bincode 2 with serde, in its standard configuration (little endian,
/// variable-length integers): compact and fast, for Rust-to-Rust channels.
/// The default codec.
///
/// Wire format of a message: the kind as one byte, the id as a bincode
/// varint, then the content's bincode encoding up to the end of the frame.
///
/// bincode is not self-describing: the receiver must decode content into the
/// same type (or a layout-compatible one) that the sender encoded, and types
/// that need `deserialize_any` (such as `serde_json::Value` or untagged
/// enums) cannot be decoded; both give a
/// [`ChannelError::Codec`](crate::channel::ChannelError::Codec) error.
///
/// Decoding never trusts a length prefix inside the content for more than a
/// bounded allocation: bincode's byte limit is set to the next power of four
/// at or above the content's size (at least 64 KiB).
///
/// ```
/// use agentwire::channel::{Bincode, Codec, MessageKind};
/// let mut buf = Vec::new();
/// Bincode.encode_message(MessageKind::Request, 7, &("add", 1u32, 2u32), &mut buf).unwrap();
/// let msg = Bincode.decode_message(buf.into()).unwrap();
/// assert_eq!((msg.kind, msg.id), (MessageKind::Request, 7));
/// let content: (String, u32, u32) = Bincode.decode_content(&msg.content).unwrap();
/// assert_eq!(content, ("add".to_owned(), 1, 2));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bincode;

fn cfg() -> impl Config {
    config::standard()
}

impl Codec for Bincode {
    fn name(&self) -> &'static str {
        NAME
    }

    fn encode_message<T: Serialize + ?Sized>(
        &self,
        kind: MessageKind,
        id: u64,
        content: &T,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        ::bincode::encode_into_std_write((kind.code(), id), out, cfg())
            .map_err(|e| ChannelError::codec(NAME, "encode a message header", e))?;
        ::bincode::serde::encode_into_std_write(content, out, cfg())
            .map_err(|e| ChannelError::codec(NAME, "encode message content", e))?;
        Ok(())
    }

    fn decode_message(&self, payload: Bytes) -> Result<Message> {
        let ((code, id), used): ((u8, u64), usize) = ::bincode::decode_from_slice(&payload, cfg())
            .map_err(|e| ChannelError::codec(NAME, "decode a message header", e))?;
        let kind = MessageKind::from_code(u64::from(code), id)?;
        let content = payload.slice(used.min(payload.len())..);
        Ok(Message { kind, id, content })
    }

    fn decode_content<T: DeserializeOwned>(&self, content: &[u8]) -> Result<T> {
        let (value, used) = decode_limited::<T>(content)
            .map_err(|e| ChannelError::codec(NAME, "decode message content", e))?;
        if used != content.len() {
            return Err(ChannelError::codec(
                NAME,
                "decode message content",
                TrailingBytes {
                    extra: content.len().saturating_sub(used),
                },
            ));
        }
        Ok(value)
    }

    fn decode_content_seed<'de, S: DeserializeSeed<'de>>(
        &self,
        content: &'de [u8],
        seed: S,
    ) -> Result<S::Value> {
        decode_limited_seed(content, seed)
            .map(|(value, _used)| value)
            .map_err(|e| ChannelError::codec(NAME, "decode message content", e))
    }
}

/// Decodes with bincode's byte limit set to the smallest tier at or above the
/// content's size. Without a limit, bincode allocates a string's or byte
/// buffer's claimed length before reading it, so a 10-byte payload could ask
/// for gigabytes; with it, the allocation is at most 4x the payload (or
/// 64 KiB). A valid payload never claims more bytes than it has.
fn decode_limited<T: DeserializeOwned>(
    content: &[u8],
) -> std::result::Result<(T, usize), DecodeError> {
    decode_limited_seed(content, std::marker::PhantomData::<T>)
}

/// [`decode_limited`] with a seed.
fn decode_limited_seed<'de, S: DeserializeSeed<'de>>(
    content: &'de [u8],
    seed: S,
) -> std::result::Result<(S::Value, usize), DecodeError> {
    macro_rules! tiers {
        ($($limit:expr),*) => {
            $(
                if content.len() <= $limit {
                    return ::bincode::serde::seed_decode_from_slice(
                        seed,
                        content,
                        config::standard().with_limit::<{ $limit }>(),
                    );
                }
            )*
        };
    }
    tiers!(
        1 << 16,
        1 << 18,
        1 << 20,
        1 << 22,
        1 << 24,
        1 << 26,
        1 << 28,
        1 << 30
    );
    // Larger than 1 GiB (only with a raised maximum frame size): a frame is
    // at most 4 GiB, and so is any claim checked against this limit.
    ::bincode::serde::seed_decode_from_slice(
        seed,
        content,
        config::standard().with_limit::<{ u32::MAX as usize }>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_claimed_string_is_an_error_not_an_allocation() {
        // A string claiming 2^40 bytes (varint 0xfd = u64 follows).
        let mut content = vec![0xfd];
        content.extend_from_slice(&(1u64 << 40).to_le_bytes());
        content.extend_from_slice(b"abc");
        let err = Bincode
            .decode_content::<String>(&content)
            .expect_err("limit");
        assert!(matches!(
            err,
            ChannelError::Codec {
                codec: "bincode",
                ..
            }
        ));
    }

    #[test]
    fn unknown_kind_and_trailing_bytes() {
        let mut buf = Vec::new();
        ::bincode::encode_into_std_write((3u8, 5u64), &mut buf, cfg()).expect("encodes");
        assert!(matches!(
            Bincode.decode_message(buf.into()),
            Err(ChannelError::UnknownMessageType { kind: 3, id: 5 })
        ));
        let err = Bincode.decode_content::<u8>(&[1, 2]).expect_err("trailing");
        assert!(err.to_string().contains("trailing"), "{err}");
        assert!(Bincode.decode_message(Bytes::new()).is_err());
    }
}
