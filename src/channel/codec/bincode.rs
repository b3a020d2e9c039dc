//! [`Bincode`]: bincode 2 (serde), the default codec.

use ::bincode::config::{self, Config};
use ::bincode::enc::write::Writer;
use ::bincode::error::{DecodeError, EncodeError};
use bytes::{Buf, Bytes};
use serde::de::{DeserializeOwned, DeserializeSeed};
use serde::Serialize;

use super::bincode_errors::{Decode, Encode};
use super::bounded::{BoundedSeed, Budget};
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
/// at or above the content's size (at least 64 KiB). Nor for more than
/// bounded work: a content holds at most its length plus 2^20 sequence and
/// map elements (only zero-sized elements, which take no bytes, can come
/// near that), and its values nest at most 128 levels deep (a recursive
/// type costs one byte per level); more is an error.
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
        // The header `(u8, u64)` as bincode writes it, without its
        // machinery (a tenth of a small call's encoding work).
        out.push(kind.code());
        put_varint(out, id);
        ::bincode::serde::encode_into_writer(content, VecWriter(out), cfg())
            .map_err(|e| ChannelError::codec(NAME, "encode message content", Encode(e)))?;
        Ok(())
    }

    fn decode_message(&self, mut payload: Bytes) -> Result<Message> {
        let (code, id, used) = read_header(&payload)
            .map_err(|e| ChannelError::codec(NAME, "decode a message header", Decode(e)))?;
        let kind = MessageKind::from_code(u64::from(code), id)?;
        // The payload itself becomes the content: advancing it costs no
        // reference count (a slice would take one, and dropping the
        // payload give it back).
        payload.advance(used.min(payload.len()));
        Ok(Message {
            kind,
            id,
            content: payload,
        })
    }

    fn decode_content<T: DeserializeOwned>(&self, content: &[u8]) -> Result<T> {
        let (value, used) = decode_limited::<T>(content)
            .map_err(|e| ChannelError::codec(NAME, "decode message content", Decode(e)))?;
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
            .map_err(|e| ChannelError::codec(NAME, "decode message content", Decode(e)))
    }
}

/// Appends to a `Vec` (bincode's `std::io::Write` path costs more per
/// small write).
struct VecWriter<'a>(&'a mut Vec<u8>);

impl Writer for VecWriter<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> std::result::Result<(), EncodeError> {
        // Varints and small integers come a byte at a time: a push, not a
        // call to `memcpy`.
        match *bytes {
            [byte] => self.0.push(byte),
            _ => self.0.extend_from_slice(bytes),
        }
        Ok(())
    }
}

/// Appends `value` as a bincode varint (standard configuration): up to 250
/// in one byte, otherwise a marker (251, 252, 253 for a `u16`, `u32`, `u64`)
/// and the value in little endian.
fn put_varint(out: &mut Vec<u8>, value: u64) {
    if value <= 250 {
        out.push(value as u8);
    } else if let Ok(v) = u16::try_from(value) {
        out.push(251);
        out.extend_from_slice(&v.to_le_bytes());
    } else if let Ok(v) = u32::try_from(value) {
        out.push(252);
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        out.push(253);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// Reads a message header `(u8, u64 varint)` as bincode does; returns the
/// kind code, the id and the bytes used.
fn read_header(payload: &[u8]) -> std::result::Result<(u8, u64, usize), DecodeError> {
    fn field<const N: usize>(bytes: &[u8]) -> std::result::Result<[u8; N], DecodeError> {
        bytes
            .get(..N)
            .and_then(|b| b.try_into().ok())
            .ok_or(DecodeError::UnexpectedEnd {
                additional: N.saturating_sub(bytes.len()),
            })
    }
    let [code, marker] = field::<2>(payload)?;
    let rest = &payload[2..];
    let (id, used) = match marker {
        0..=250 => (u64::from(marker), 0),
        251 => (u64::from(u16::from_le_bytes(field(rest)?)), 2),
        252 => (u64::from(u32::from_le_bytes(field(rest)?)), 4),
        253 => (u64::from_le_bytes(field(rest)?), 8),
        _ => {
            return Err(DecodeError::InvalidIntegerType {
                expected: ::bincode::error::IntegerType::U64,
                found: if marker == 254 {
                    ::bincode::error::IntegerType::U128
                } else {
                    ::bincode::error::IntegerType::Reserved
                },
            })
        }
    };
    Ok((code, id, 2 + used))
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
    // Zero-sized elements and recursive types cost no bytes per element
    // or level: bound those too (see `bounded`).
    let budget = Budget::for_content(content.len());
    let seed = BoundedSeed {
        seed,
        budget: &budget,
    };
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
    fn zero_sized_elements_and_nesting_are_bounded() {
        // A `Vec<()>` claiming 2^64 - 1 elements: ten bytes.
        let mut content = vec![0xfd];
        content.extend_from_slice(&u64::MAX.to_le_bytes());
        let err = Bincode
            .decode_content::<Vec<()>>(&content)
            .expect_err("budget");
        assert!(err.to_string().contains("elements"), "{err}");
        // Honest zero-sized elements, up to the minimum budget.
        let mut buf = Vec::new();
        Bincode
            .encode_message(MessageKind::Result, 0, &vec![(); 1 << 20], &mut buf)
            .expect("encodes");
        let units: Vec<()> = Bincode.decode_content(&buf[2..]).expect("decodes");
        assert_eq!(units.len(), 1 << 20);
        // Nesting: 127 levels decode, 129 do not.
        let nested = |levels: usize| {
            let mut content = vec![1u8; levels - 1];
            content.push(0);
            content
        };
        type Nested = Option<Box<Option<Box<Option<Box<()>>>>>>;
        assert!(Bincode.decode_content::<Nested>(&nested(3)).is_ok());
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct List(Option<Box<List>>);
        // Each level is a newtype and an option: two.
        assert!(Bincode.decode_content::<List>(&nested(63)).is_ok());
        let err = Bincode
            .decode_content::<List>(&nested(65))
            .err()
            .expect("too deep");
        assert!(err.to_string().contains("nested deeper"), "{err}");
    }

    #[test]
    fn headers_are_bincodes_own() {
        let kinds = [0u8, 1, 2, 3, 255];
        let ids = [
            0u64,
            1,
            250,
            251,
            255,
            256,
            65_535,
            65_536,
            u64::from(u32::MAX),
            u64::from(u32::MAX) + 1,
            u64::MAX,
        ];
        for kind in kinds {
            for id in ids {
                let mut ours = vec![kind];
                put_varint(&mut ours, id);
                let theirs = ::bincode::encode_to_vec((kind, id), cfg()).expect("bincode encodes");
                assert_eq!(ours, theirs, "({kind}, {id})");
                assert_eq!(
                    read_header(&theirs).expect("decodes"),
                    (kind, id, theirs.len())
                );
                for cut in 0..theirs.len() {
                    assert!(
                        read_header(&theirs[..cut]).is_err(),
                        "({kind}, {id}) cut at {cut}"
                    );
                }
            }
        }
        assert!(read_header(&[0, 254, 0]).is_err());
        assert!(read_header(&[0, 255]).is_err());
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
