//! Reading a frame's envelope with the channel's public [`Codec`] API:
//! kind, id, the request's path and a short form of the content.

use std::fmt;
use std::sync::Arc;

use agentwire::channel::{Codec, MessageKind};
use bytes::Bytes;
use serde::de::{DeserializeSeed, IgnoredAny, SeqAccess, Visitor};

/// A frame's envelope, as far as it could be read.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    pub(crate) kind: MessageKind,
    pub(crate) id: u64,
    pub(crate) path: Option<String>,
    pub(crate) content: String,
}

/// Decodes a frame payload (without its header); `None` if it is not an
/// envelope of the codec.
pub(crate) type Summarizer = Arc<dyn Fn(Bytes) -> Option<Envelope> + Send + Sync>;

/// Content summaries are cut at this many characters.
const SHORT: usize = 60;

/// A summarizer for `codec`.
pub(crate) fn summarizer<C: Codec>(codec: C) -> Summarizer {
    let text = codec.name() == "json";
    Arc::new(move |payload: Bytes| {
        let msg = codec.decode_message(payload).ok()?;
        let path = if msg.kind == MessageKind::Request {
            codec.decode_content_seed(&msg.content, PathSeed).ok()
        } else {
            None
        };
        let content = if text {
            short(&String::from_utf8_lossy(&msg.content))
        } else {
            // Binary: nothing short to show (the size is in the event).
            String::new()
        };
        Some(Envelope {
            kind: msg.kind,
            id: msg.id,
            path,
            content,
        })
    })
}

fn short(s: &str) -> String {
    match s.char_indices().nth(SHORT) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Reads the first element of a request body `[path, args, kwargs]`.
struct PathSeed;

impl<'de> DeserializeSeed<'de> for PathSeed {
    type Value = String;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_tuple(3, PathVisitor)
    }
}

struct PathVisitor;

impl<'de> Visitor<'de> for PathVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a request [path, args, kwargs]")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<String, A::Error> {
        // Borrowed where the codec can lend it (one copy, no zeroed
        // buffer first).
        let path: String = seq
            .next_element::<PathStr>()?
            .ok_or_else(|| serde::de::Error::invalid_length(0, &self))?
            .0;
        // Self-describing codecs want the rest consumed; others cannot
        // skip and need not.
        while let Ok(Some(IgnoredAny)) = seq.next_element::<IgnoredAny>() {}
        Ok(path)
    }
}

/// A string, copied once from what the codec lends or gives.
struct PathStr(String);

impl<'de> serde::Deserialize<'de> for PathStr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PathStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a path")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PathStr, E> {
                Ok(PathStr(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<PathStr, E> {
                Ok(PathStr(v))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentwire::channel::{Bincode, Json};

    fn payload<C: Codec>(codec: &C, kind: MessageKind, content: &impl serde::Serialize) -> Bytes {
        let mut out = Vec::new();
        codec
            .encode_message(kind, 7, content, &mut out)
            .expect("encodes");
        Bytes::from(out)
    }

    #[test]
    fn reads_paths_with_both_codecs() {
        let body = ("agents/0/add", (1, 2), serde_json::Map::new());
        let j = summarizer(Json)(payload(&Json, MessageKind::Request, &body)).expect("json");
        assert_eq!(j.path.as_deref(), Some("agents/0/add"));
        assert_eq!(j.id, 7);
        assert!(j.content.contains("[1, 2]"), "{}", j.content);
        let body = ("agents/0/add", (1u64, 2u64), ());
        let b = summarizer(Bincode)(payload(&Bincode, MessageKind::Request, &body)).expect("bc");
        assert_eq!(b.path.as_deref(), Some("agents/0/add"));
        let r = summarizer(Json)(payload(&Json, MessageKind::Result, &3)).expect("result");
        assert_eq!(
            (r.kind, r.path, r.content.as_str()),
            (MessageKind::Result, None, "3")
        );
        assert!(summarizer(Json)(Bytes::from_static(b"nonsense")).is_none());
    }

    #[test]
    fn long_content_is_cut() {
        let s = "x".repeat(100);
        assert_eq!(short(&s).chars().count(), SHORT + 1);
    }
}
