//! [`Json`]: aiomas's JSON codec, byte for byte where it can be.

use std::io;

use bytes::Bytes;
use serde::de::{DeserializeOwned, DeserializeSeed};
use serde::Serialize;
use serde_json::ser::Formatter;
use serde_json::value::RawValue;

use super::Codec;
use crate::channel::envelope::slice_of;
use crate::channel::{ChannelError, Message, MessageKind, Result};

const NAME: &str = "json";

/// JSON, speaking aiomas's wire format exactly: a message is the array
/// `[kind, id, content]`, so a request is `[0, id, content]` (for aiomas RPC,
/// `[0, id, ["agents/0/add", [1, 2], {}]]`), a result `[1, id, value]` and an
/// exception `[2, id, "traceback text"]`.
///
/// It writes what Python's `json.dumps` writes by default (aiomas 2.0.1's
/// `JSON.encode`): `", "` and `": "` separators and non-ASCII characters
/// escaped as `\uXXXX`, so for integers, strings, lists, maps, booleans and
/// null the bytes are identical; floats may be spelt differently but denote
/// the same number. It reads any valid JSON. Use it to talk to Python aiomas
/// peers, or when you want to read the traffic.
///
/// ```
/// use agentwire::channel::{Codec, Json, MessageKind};
/// let mut buf = Vec::new();
/// Json.encode_message(MessageKind::Request, 7, &("agents/0/add", [1, 2], ()), &mut buf).unwrap();
/// assert_eq!(buf, br#"[0, 7, ["agents/0/add", [1, 2], null]]"#);
///
/// let msg = Json.decode_message(br#"[1, 7, 3]"#.as_slice().into()).unwrap();
/// assert_eq!((msg.kind, msg.id), (MessageKind::Result, 7));
/// assert_eq!(Json.decode_content::<i64>(&msg.content).unwrap(), 3);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json;

impl Codec for Json {
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
        let mut ser = serde_json::Serializer::with_formatter(out, PythonFormatter);
        (kind.code(), id, content)
            .serialize(&mut ser)
            .map_err(|e| ChannelError::codec(NAME, "encode a message", e))
    }

    fn decode_message(&self, payload: Bytes) -> Result<Message> {
        let (code, id, raw): (u64, u64, &RawValue) = serde_json::from_slice(&payload)
            .map_err(|e| ChannelError::codec(NAME, "decode a message", e))?;
        let kind = MessageKind::from_code(code, id)?;
        let content = slice_of(&payload, raw.get().as_bytes());
        Ok(Message { kind, id, content })
    }

    fn decode_content<T: DeserializeOwned>(&self, content: &[u8]) -> Result<T> {
        serde_json::from_slice(content)
            .map_err(|e| ChannelError::codec(NAME, "decode message content", e))
    }

    fn decode_content_seed<'de, S: DeserializeSeed<'de>>(
        &self,
        content: &'de [u8],
        seed: S,
    ) -> Result<S::Value> {
        let mut de = serde_json::Deserializer::from_slice(content);
        seed.deserialize(&mut de)
            .map_err(|e| ChannelError::codec(NAME, "decode message content", e))
    }
}

/// Formats JSON as Python's `json.dumps` does with its defaults
/// (`separators=(", ", ": ")`, `ensure_ascii=True`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // Python escapes everything outside ' '..='~'; serde_json already
        // escaped quotes, backslashes and control characters.
        let mut rest = fragment;
        while let Some(pos) = rest.find(|c: char| c > '~') {
            w.write_all(&rest.as_bytes()[..pos])?;
            let mut tail = rest[pos..].chars();
            if let Some(c) = tail.next() {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(w, "\\u{unit:04x}")?;
                }
            }
            rest = tail.as_str();
        }
        w.write_all(rest.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode<T: Serialize>(kind: MessageKind, id: u64, content: &T) -> String {
        let mut buf = Vec::new();
        Json.encode_message(kind, id, content, &mut buf)
            .expect("encodes");
        String::from_utf8(buf).expect("ascii")
    }

    #[test]
    fn writes_like_python() {
        let mut map = std::collections::BTreeMap::new();
        map.insert("b", vec![1, 2]);
        map.insert("a", vec![]);
        assert_eq!(
            encode(MessageKind::Result, 1, &map),
            r#"[1, 1, {"a": [], "b": [1, 2]}]"#
        );
        assert_eq!(
            encode(MessageKind::Exception, 2, &"é\u{1F600}\u{7f}\n\"x"),
            r#"[2, 2, "\u00e9\ud83d\ude00\u007f\n\"x"]"#
        );
    }

    #[test]
    fn reads_aiomas_bytes() {
        let payload = Bytes::from_static(br#"[0, 7, ["agents/0/add", [1, 2], {}]]"#);
        let msg = Json.decode_message(payload).expect("decodes");
        assert_eq!(msg.kind, MessageKind::Request);
        assert_eq!(msg.id, 7);
        assert_eq!(&msg.content[..], br#"["agents/0/add", [1, 2], {}]"#);
        let (path, args, kwargs): (String, Vec<i64>, serde_json::Map<String, serde_json::Value>) =
            Json.decode_content(&msg.content).expect("content");
        assert_eq!(
            (path.as_str(), args, kwargs.len()),
            ("agents/0/add", vec![1, 2], 0)
        );
    }

    #[test]
    fn rejects_bad_envelopes() {
        for bad in [
            &b"not json"[..],
            b"[0, 1]",
            b"[0, 1, 2, 3]",
            b"[0, -1, null]",
            b"{\"a\": 1}",
            b"",
        ] {
            assert!(
                matches!(
                    Json.decode_message(Bytes::copy_from_slice(bad)),
                    Err(ChannelError::Codec { codec: "json", .. })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            Json.decode_message(Bytes::from_static(b"[5, 1, null]")),
            Err(ChannelError::UnknownMessageType { kind: 5, id: 1 })
        ));
    }
}
