//! [`MsgPack`]: aiomas's MessagePack codec (feature `msgpack`).

use bytes::{Buf, Bytes};
use rmp::Marker;
use serde::de::{DeserializeOwned, DeserializeSeed};
use serde::Serialize;

use super::{Codec, TrailingBytes};
use crate::channel::{ChannelError, Message, MessageKind, Result};

const NAME: &str = "msgpack";

/// How deep values may nest when decoded (serde_json's limit too): deeper
/// input is an error, not a stack overflow.
const MAX_DEPTH: usize = 128;

/// MessagePack, wire-compatible with aiomas 2.0.1's `MsgPack` codec
/// (`msgpack.packb(data, use_bin_type=True)` /
/// `msgpack.unpackb(data, use_list=False, encoding='utf-8')`): a message is
/// the array `[kind, id, content]`, a request's content
/// `[path, args, kwargs]`, as with [`Json`](super::Json). Smaller and faster
/// than JSON, and still readable by Python.
///
/// How Rust values travel (as `rmp-serde` writes them, structs as maps):
///
/// | Rust | MessagePack | Python |
/// |------|-------------|--------|
/// | integers, `f32`/`f64`, `bool`, `()`/`None` | int, float, bool, nil | `int`, `float`, `bool`, `None` |
/// | `String`, `&str` | str | `str` |
/// | `serde_bytes::ByteBuf`, `bytes::Bytes` (serde feature) | bin | `bytes` |
/// | `Vec<u8>` and other sequences, tuples | array | `tuple` |
/// | maps, structs (field names as keys) | map | `dict` |
/// | enum: unit variant / with data | str / map `{variant: data}` | `str` / `dict` |
///
/// A plain `Vec<u8>` is a list of integers, as in serde: mark byte strings
/// with `serde_bytes` to send Python `bytes`. Integers are written in their
/// smallest form, as Python's `msgpack` does, so for ints, strings, bytes,
/// lists and maps the bytes are the same as aiomas's. aiomas's custom types
/// (`{"__type__": [typeid, data]}`) are maps with string keys, which
/// round-trip like any other.
///
/// A `serde_json::Value` target takes what JSON can hold: Python `bytes`
/// are an error for that decode (use a type with a byte-string case), and,
/// as serde_json does, a NaN or infinite float becomes `null` (use `f64`).
///
/// It reads what it writes and what Python writes. Decoding never panics
/// and never allocates more than the input's size suggests: strings and byte
/// strings are borrowed from the frame, a claimed length beyond the frame is
/// an error, and nesting deeper than 128 levels is an error.
///
/// ```
/// use agentwire::channel::{Codec, MessageKind, MsgPack};
/// let mut buf = Vec::new();
/// MsgPack.encode_message(MessageKind::Request, 7, &("agents/0/add", (1, 2), ()), &mut buf).unwrap();
/// // [0, 7, ["agents/0/add", [1, 2], nil]]
/// assert_eq!(buf[..4], [0x93, 0x00, 0x07, 0x93]);
///
/// let msg = MsgPack.decode_message(buf.into()).unwrap();
/// assert_eq!((msg.kind, msg.id), (MessageKind::Request, 7));
/// let (path, args, _): (String, (i64, i64), ()) = MsgPack.decode_content(&msg.content).unwrap();
/// assert_eq!((path.as_str(), args), ("agents/0/add", (1, 2)));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MsgPack;

/// Input that is not MessagePack, or not a whole value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum Malformed {
    /// The input ends inside a value.
    #[error("the input ends inside a value (at byte {at})")]
    Truncated { at: usize },
    /// The byte 0xc1, which MessagePack never uses.
    #[error("byte {at} is 0xc1, which MessagePack never uses")]
    Reserved { at: usize },
    /// The envelope is an array of another length, or not an array.
    #[error("a message must be the array [kind, id, content]: {0}")]
    Envelope(String),
}

impl Codec for MsgPack {
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
        let header = |e| ChannelError::codec(NAME, "encode a message header", e);
        rmp::encode::write_array_len(out, 3).map_err(header)?;
        rmp::encode::write_uint(out, u64::from(kind.code())).map_err(header)?;
        rmp::encode::write_uint(out, id).map_err(header)?;
        let mut ser = rmp_serde::Serializer::new(out)
            .with_struct_map()
            .with_human_readable();
        content
            .serialize(&mut ser)
            .map_err(|e| ChannelError::codec(NAME, "encode message content", e))
    }

    fn decode_message(&self, payload: Bytes) -> Result<Message> {
        let envelope =
            |e: String| ChannelError::codec(NAME, "decode a message", Malformed::Envelope(e));
        let mut rd: &[u8] = &payload;
        let len = rmp::decode::read_array_len(&mut rd).map_err(|e| envelope(e.to_string()))?;
        if len != 3 {
            return Err(envelope(format!("an array of {len}")));
        }
        let code: u64 =
            rmp::decode::read_int(&mut rd).map_err(|e| envelope(format!("the kind: {e}")))?;
        let id: u64 =
            rmp::decode::read_int(&mut rd).map_err(|e| envelope(format!("the id: {e}")))?;
        let start = payload.len() - rd.len();
        let used = value_len(rd).map_err(|e| ChannelError::codec(NAME, "decode a message", e))?;
        if used != rd.len() {
            return Err(ChannelError::codec(
                NAME,
                "decode a message",
                TrailingBytes {
                    extra: rd.len() - used,
                },
            ));
        }
        let kind = MessageKind::from_code(code, id)?;
        // The payload itself becomes the content (no reference count taken).
        let mut content = payload;
        content.advance(start.min(content.len()));
        Ok(Message { kind, id, content })
    }

    fn decode_content<T: DeserializeOwned>(&self, content: &[u8]) -> Result<T> {
        let error = |e| ChannelError::codec(NAME, "decode message content", e);
        let used = value_len(content).map_err(error)?;
        if used != content.len() {
            return Err(ChannelError::codec(
                NAME,
                "decode message content",
                TrailingBytes {
                    extra: content.len() - used,
                },
            ));
        }
        let mut de = rmp_serde::Deserializer::from_read_ref(content).with_human_readable();
        de.set_max_depth(MAX_DEPTH);
        T::deserialize(&mut de).map_err(|e| ChannelError::codec(NAME, "decode message content", e))
    }

    fn decode_content_seed<'de, S: DeserializeSeed<'de>>(
        &self,
        content: &'de [u8],
        seed: S,
    ) -> Result<S::Value> {
        let mut de = rmp_serde::Deserializer::from_read_ref(content).with_human_readable();
        de.set_max_depth(MAX_DEPTH);
        seed.deserialize(&mut de)
            .map_err(|e| ChannelError::codec(NAME, "decode message content", e))
    }
}

/// The length of the MessagePack value at the start of `buf`, found
/// without decoding or allocating: one pass, no recursion, so any claimed
/// length or nesting costs at most the input's size.
fn value_len(buf: &[u8]) -> std::result::Result<usize, Malformed> {
    let mut pos = 0usize;
    // Values still to skip; arrays and maps add their elements.
    let mut pending: u64 = 1;
    while pending > 0 {
        pending -= 1;
        let at = pos;
        let byte = *buf.get(pos).ok_or(Malformed::Truncated { at })?;
        pos += 1;
        let mut read = |n: usize| -> std::result::Result<u64, Malformed> {
            let bytes = buf
                .get(pos..pos + n)
                .ok_or(Malformed::Truncated { at: buf.len() })?;
            pos += n;
            Ok(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
        };
        // (bytes of data to skip, values inside)
        let (skip, inner): (u64, u64) = match Marker::from_u8(byte) {
            Marker::FixPos(_) | Marker::FixNeg(_) | Marker::Null | Marker::True | Marker::False => {
                (0, 0)
            }
            Marker::U8 | Marker::I8 => (1, 0),
            Marker::U16 | Marker::I16 => (2, 0),
            Marker::U32 | Marker::I32 | Marker::F32 => (4, 0),
            Marker::U64 | Marker::I64 | Marker::F64 => (8, 0),
            Marker::FixStr(n) => (u64::from(n), 0),
            Marker::Str8 | Marker::Bin8 => (read(1)?, 0),
            Marker::Str16 | Marker::Bin16 => (read(2)?, 0),
            Marker::Str32 | Marker::Bin32 => (read(4)?, 0),
            Marker::FixArray(n) => (0, u64::from(n)),
            Marker::Array16 => (0, read(2)?),
            Marker::Array32 => (0, read(4)?),
            Marker::FixMap(n) => (0, 2 * u64::from(n)),
            Marker::Map16 => (0, 2 * read(2)?),
            Marker::Map32 => (0, 2 * read(4)?),
            // An extension: a type byte, then its data.
            Marker::FixExt1 => (2, 0),
            Marker::FixExt2 => (3, 0),
            Marker::FixExt4 => (5, 0),
            Marker::FixExt8 => (9, 0),
            Marker::FixExt16 => (17, 0),
            Marker::Ext8 => (read(1)? + 1, 0),
            Marker::Ext16 => (read(2)? + 1, 0),
            Marker::Ext32 => (read(4)? + 1, 0),
            Marker::Reserved => return Err(Malformed::Reserved { at }),
        };
        pos = usize::try_from(skip)
            .ok()
            .and_then(|skip| pos.checked_add(skip))
            .filter(|&end| end <= buf.len())
            .ok_or(Malformed::Truncated { at: buf.len() })?;
        // At most 2^33 per value and one value per input byte: no overflow.
        pending = pending.saturating_add(inner);
    }
    Ok(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode<T: Serialize>(kind: MessageKind, id: u64, content: &T) -> Vec<u8> {
        let mut buf = Vec::new();
        MsgPack
            .encode_message(kind, id, content, &mut buf)
            .expect("encodes");
        buf
    }

    #[test]
    fn writes_what_python_msgpack_writes() {
        // msgpack.packb([0, 1, ('agents/0/add', (1, 2), {})], use_bin_type=True)
        assert_eq!(
            encode(
                MessageKind::Request,
                1,
                &(
                    "agents/0/add",
                    (1, 2),
                    std::collections::BTreeMap::<String, i64>::new()
                )
            ),
            b"\x93\x00\x01\x93\xacagents/0/add\x92\x01\x02\x80"
        );
        // [1, 300, [-1, 2.5, None, True, b'\x00\xff']]
        let bytes = serde_bytes::Bytes::new(b"\x00\xff");
        assert_eq!(
            encode(MessageKind::Result, 300, &(-1, 2.5, (), true, bytes)),
            b"\x93\x01\xcd\x01\x2c\x95\xff\xcb\x40\x04\x00\x00\x00\x00\x00\x00\xc0\xc3\xc4\x02\x00\xff"
        );
    }

    #[test]
    fn value_len_skips_every_kind_and_rejects_lies() {
        let cases: &[&[u8]] = &[
            b"\x01",
            b"\xc0",
            b"\xa3abc",
            b"\xc4\x02\x00\xff",
            b"\x92\x01\x81\xa1k\x90",
            b"\xcb\x40\x04\x00\x00\x00\x00\x00\x00",
            b"\xd4\x01\x02",
            b"\xc7\x01\x05\xaa",
        ];
        for case in cases {
            assert_eq!(value_len(case).expect("a value"), case.len(), "{case:?}");
        }
        for bad in [
            &b""[..],
            b"\xdd\xff\xff\xff\xff",
            b"\xc6\xff\xff\xff\xff\x00",
            b"\x92\x01",
            b"\xc1",
        ] {
            assert!(value_len(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rejects_bad_envelopes() {
        for bad in [
            &b""[..],
            b"\x92\x00\x01",
            b"\x94\x00\x01\xc0\xc0",
            b"\x93\xff\x01\xc0",
            b"\x93\x00\xa1x\xc0",
            b"\x93\x00\x01",
            b"\x93\x00\x01\xc0\xc0",
            b"\x81\x00\x01",
        ] {
            assert!(
                matches!(
                    MsgPack.decode_message(Bytes::copy_from_slice(bad)),
                    Err(ChannelError::Codec {
                        codec: "msgpack",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            MsgPack.decode_message(Bytes::from_static(b"\x93\x05\x01\xc0")),
            Err(ChannelError::UnknownMessageType { kind: 5, id: 1 })
        ));
    }

    #[test]
    fn deep_nesting_is_an_error() {
        let mut deep = vec![0x91; 10_000];
        deep.push(0xc0);
        let err = MsgPack
            .decode_content::<serde_json::Value>(&deep)
            .expect_err("too deep");
        assert!(err.to_string().contains("depth"), "{err}");
    }
}
