//! [`Json`]: aiomas's JSON codec, byte for byte where it can be.
//!
//! - [`envelope`] — the envelope of plain text, read by hand;
//! - [`write`] — Python's separators, escapes and non-finite floats;
//! - [`scan`] — finding `NaN`/`Infinity`/`-Infinity` outside strings;
//! - [`read`] — reading them into floats, on the slow path only.

mod envelope;
mod read;
mod scan;
mod write;

use std::cell::Cell;

use bytes::{Buf, Bytes};
use serde::de::{DeserializeOwned, DeserializeSeed};
use serde::Serialize;
use serde_json::value::RawValue;

use self::read::{Ctx, Lenient};
use self::write::{PyValue, PythonFormatter};
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
/// # NaN and infinities
///
/// As Python's `json` module, it writes a non-finite `f32`/`f64` as the bare
/// words `NaN`, `Infinity` and `-Infinity` (as a map key, as the strings
/// `"NaN"`, …), and reads them back into any float: in arguments, results,
/// struct fields, `Vec<f64>`, `Option<f64>`. A message holding them is a
/// valid message: its envelope decodes, and so does its content.
///
/// Reading them costs nothing on the usual path: JSON is parsed by
/// serde_json as always, and only if that fails on such a word (outside a
/// string: the string `"NaN"` stays a string) is the content read again,
/// with the words as floats.
///
/// A [`serde_json::Value`] cannot hold a non-finite number. Decoding one
/// into a `Value` (or into a field of type `Value`) is an error naming the
/// word, for that decode only: for RPC, that call gets a remote error, and
/// the connection and every other call go on. Read such values into `f64`
/// (or an enum with an `f64` variant) instead.
///
/// ```
/// use agentwire::channel::{Codec, Json, MessageKind};
/// let mut buf = Vec::new();
/// Json.encode_message(MessageKind::Result, 1, &[f64::NAN, f64::NEG_INFINITY, 0.5], &mut buf).unwrap();
/// assert_eq!(buf, b"[1, 1, [NaN, -Infinity, 0.5]]");
///
/// let msg = Json.decode_message(buf.into()).unwrap();
/// let back: Vec<f64> = Json.decode_content(&msg.content).unwrap();
/// assert!(back[0].is_nan());
/// assert_eq!(back[1..], [f64::NEG_INFINITY, 0.5]);
/// assert!(Json.decode_content::<serde_json::Value>(&msg.content).is_err());
/// ```
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
        let pending = Cell::new(None);
        let mut ser =
            serde_json::Serializer::with_formatter(out, PythonFormatter { pending: &pending });
        let content = PyValue {
            value: content,
            pending: &pending,
            key: false,
        };
        (kind.code(), id, content)
            .serialize(&mut ser)
            .map_err(|e| ChannelError::codec(NAME, "encode a message", e))
    }

    fn decode_message(&self, mut payload: Bytes) -> Result<Message> {
        if let Some((code, id, range)) = envelope::read(&payload) {
            let kind = MessageKind::from_code(code, id)?;
            // The payload cut down to the content: no reference count
            // taken and given back, as a slice would.
            payload.truncate(range.end);
            payload.advance(range.start.min(payload.len()));
            return Ok(Message {
                kind,
                id,
                content: payload,
            });
        }
        let (code, id, content) = match serde_json::from_slice::<(u64, u64, &RawValue)>(&payload) {
            Ok((code, id, raw)) => (code, id, slice_of(&payload, raw.get().as_bytes())),
            Err(e) => {
                // Python's NaN/Infinity in the content? Find the envelope in
                // a copy where they are strings of the same length, so the
                // content's offsets are those of the payload.
                let found = scan::may_have_non_finite(&payload)
                    .then(|| scan::sanitize(&payload))
                    .flatten();
                let parsed = found.as_ref().and_then(|(text, _)| {
                    let (code, id, raw) =
                        serde_json::from_slice::<(u64, u64, &RawValue)>(text).ok()?;
                    let start = (raw.get().as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
                    let end = start.checked_add(raw.get().len())?;
                    Some((code, id, payload.get(start..end).map(|_| start..end)?))
                });
                match parsed {
                    Some((code, id, range)) => (code, id, payload.slice(range)),
                    None => return Err(ChannelError::codec(NAME, "decode a message", e)),
                }
            }
        };
        let kind = MessageKind::from_code(code, id)?;
        Ok(Message { kind, id, content })
    }

    fn decode_content<T: DeserializeOwned>(&self, content: &[u8]) -> Result<T> {
        serde_json::from_slice(content).or_else(|e| {
            match scan::may_have_non_finite(content)
                .then(|| scan::sanitize(content))
                .flatten()
            {
                Some((text, markers)) => lenient::<T>(&text, &markers),
                None => Err(e),
            }
            .map_err(|e| ChannelError::codec(NAME, "decode message content", e))
        })
    }

    fn decode_content_seed<'de, S: DeserializeSeed<'de>>(
        &self,
        content: &'de [u8],
        seed: S,
    ) -> Result<S::Value> {
        // A seed can be used once: look for Python's NaN/Infinity first
        // (`may_have_non_finite` is one memchr over the content).
        let found = scan::may_have_non_finite(content)
            .then(|| scan::sanitize(content))
            .flatten();
        match found {
            None => {
                let mut de = serde_json::Deserializer::from_slice(content);
                seed.deserialize(&mut de)
            }
            Some((text, markers)) => {
                let mut de = serde_json::Deserializer::from_slice(&text);
                seed.deserialize(Lenient::new(&mut de, Ctx::new(&text, &markers)))
            }
        }
        .map_err(|e| ChannelError::codec(NAME, "decode message content", e))
    }
}

/// Reads `text` (sanitized, with its `markers`) into `T` through a
/// [`Lenient`] deserializer, and checks nothing but whitespace follows.
fn lenient<T: DeserializeOwned>(text: &[u8], markers: &scan::Markers) -> serde_json::Result<T> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let value = T::deserialize(Lenient::new(&mut de, Ctx::new(text, markers)))?;
    de.end()?;
    Ok(value)
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
    fn writes_non_finite_floats_as_python() {
        #[derive(Serialize)]
        struct S {
            x: f64,
            y: Option<f32>,
            z: Vec<f64>,
        }
        let s = S {
            x: f64::NAN,
            y: Some(f32::INFINITY),
            z: vec![1.5, f64::NEG_INFINITY],
        };
        assert_eq!(
            encode(MessageKind::Result, 3, &(s, (), f64::MAX)),
            r#"[1, 3, [{"x": NaN, "y": Infinity, "z": [1.5, -Infinity]}, null, 1.7976931348623157e+308]]"#
        );
        let mut map = std::collections::BTreeMap::new();
        map.insert(OrdF64(f64::NEG_INFINITY), f64::NAN);
        map.insert(OrdF64(2.5), 1.0);
        assert_eq!(
            encode(MessageKind::Result, 4, &map),
            r#"[1, 4, {"-Infinity": NaN, "2.5": 1.0}]"#
        );
    }

    /// A float usable as a map key, for the test.
    #[derive(Serialize)]
    struct OrdF64(f64);
    impl PartialEq for OrdF64 {
        fn eq(&self, other: &Self) -> bool {
            self.cmp(other).is_eq()
        }
    }
    impl Eq for OrdF64 {}
    impl PartialOrd for OrdF64 {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for OrdF64 {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            self.0.total_cmp(&other.0)
        }
    }

    #[test]
    fn reads_python_non_finite_floats() {
        let payload = Bytes::from_static(
            br#"[0, 1, ["agents/0/echo", [NaN, "NaN", [Infinity, -Infinity]], {"v": NaN}]]"#,
        );
        let msg = Json.decode_message(payload).expect("the envelope decodes");
        assert_eq!((msg.kind, msg.id), (MessageKind::Request, 1));
        assert!(msg.content.starts_with(b"[\"agents"));
        type Args = (f64, String, Vec<f64>);
        let (path, (a, b, c), kw): (String, Args, std::collections::HashMap<String, f64>) =
            Json.decode_content(&msg.content).expect("floats");
        assert_eq!(path, "agents/0/echo");
        assert!(a.is_nan());
        assert_eq!(b, "NaN", "a string stays a string");
        assert_eq!(c, [f64::INFINITY, f64::NEG_INFINITY]);
        assert!(kw["v"].is_nan());

        // A Value cannot hold NaN: an error that names it.
        let err = Json
            .decode_content::<serde_json::Value>(&msg.content)
            .expect_err("no NaN in a Value");
        assert!(err.to_string().contains("NaN"), "{err}");
        // A string where a float is expected is still an error.
        assert!(Json
            .decode_content::<(String, (f64, f64, Vec<f64>), ())>(&msg.content)
            .is_err());
        // A seed sees the floats too.
        let mut de_args = None;
        Json.decode_content_seed(&msg.content, SecondSeed(&mut de_args))
            .expect("seed");
        let (a, b, c) = de_args.expect("read");
        assert!(a.is_nan() && b == "NaN" && c.len() == 2);
    }

    /// Reads the second element of a sequence as `(f64, String, Vec<f64>)`.
    struct SecondSeed<'a>(&'a mut Option<(f64, String, Vec<f64>)>);

    impl<'de> DeserializeSeed<'de> for SecondSeed<'_> {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(
            self,
            d: D,
        ) -> std::result::Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de> serde::de::Visitor<'de> for SecondSeed<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> std::result::Result<(), A::Error> {
            let _: Option<serde::de::IgnoredAny> = seq.next_element()?;
            *self.0 = seq.next_element()?;
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(())
        }
    }

    #[test]
    fn bad_tokens_are_still_errors() {
        for bad in [
            &b"[1, 1, NaNa]"[..],
            b"[1, 1, -NaN]",
            b"[1, 1, Infinit]",
            b"[1, 1, - Infinity]",
            b"[NaN, 1, 2]",
            b"[1, Infinity, 2]",
            b"[1, 1, \"NaN]",
        ] {
            assert!(
                Json.decode_message(Bytes::copy_from_slice(bad))
                    .and_then(|m| Json.decode_content::<f64>(&m.content))
                    .is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(Json.decode_content::<Vec<f64>>(b"[NaN] x").is_err());
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

    /// Floats are read to the nearest double, as Python reads them: the
    /// shortest text of a double (what Python's `repr` and our writer
    /// give) reads back as that double, and a float decoded, sent and
    /// decoded again keeps its value (found by fuzzing: serde_json's default
    /// float parser may be off by one unit in the last place).
    #[test]
    fn floats_are_read_exactly() {
        for text in [
            "1.1111111111111109e+135",
            "1.111111111111111111111111111111111111111111111111111e+135",
            "2.2250738585072014e-308",
            "0.30000000000000004",
            "9007199254740993",
            "1.7976931348623157e308",
        ] {
            let exact: f64 = text.parse().expect("a float");
            let payload = Bytes::from(format!("[1, 1, [{text}]]"));
            let msg = Json.decode_message(payload).expect("a message");
            let read: Vec<f64> = Json.decode_content(&msg.content).expect("floats");
            assert_eq!(read[0].to_bits(), exact.to_bits(), "{text}");
            let value: serde_json::Value = Json.decode_content(&msg.content).expect("a value");
            assert_eq!(
                value[0].as_f64().map(f64::to_bits),
                Some(exact.to_bits()),
                "{text}"
            );
            let mut again = Vec::new();
            Json.encode_message(MessageKind::Result, 1, &read, &mut again)
                .expect("encodes");
            let msg = Json.decode_message(again.into()).expect("a message");
            let back: Vec<f64> = Json.decode_content(&msg.content).expect("floats");
            assert_eq!(back[0].to_bits(), exact.to_bits(), "{text} sent again");
        }
    }
}
