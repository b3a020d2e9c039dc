//! Every codec's decoding of a frame payload: the envelope, then the
//! content into many types (self-describing and not, recursive ones, floats
//! with Python's NaN words), and a decoded `Value` encoded again decodes to
//! the same envelope and value.
#![no_main]

use std::collections::{BTreeMap, HashMap};
use std::marker::PhantomData;

use agentwire::channel::{Bincode, Codec, Json, MessageKind, MsgPack};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize, serde::Serialize, PartialEq)]
enum Tree {
    Leaf(i64),
    Float(f64),
    Text(String),
    Node(Vec<Tree>),
    Map(BTreeMap<String, Tree>),
    Opt(Option<Box<Tree>>),
    Pair(Box<Tree>, Box<Tree>),
    Unit,
}

#[derive(Debug, Deserialize, serde::Serialize)]
#[allow(dead_code)]
struct Call {
    path: String,
    args: Vec<Value>,
    kwargs: HashMap<String, Value>,
}

#[derive(Debug, Deserialize, serde::Serialize)]
#[allow(dead_code)]
struct Floats {
    a: f64,
    b: Option<f32>,
    c: Vec<f64>,
    d: HashMap<String, f64>,
}

fn decode_all<C: Codec>(codec: &C, content: &[u8]) {
    macro_rules! try_types {
        ($($t:ty),* $(,)?) => {$(
            if let Err(e) = codec.decode_content::<$t>(content) {
                // Errors print and name their codec.
                let text = e.to_string();
                assert!(!text.is_empty());
            }
        )*};
    }
    try_types!(
        Value,
        i64,
        u64,
        u8,
        i128,
        f64,
        f32,
        bool,
        char,
        String,
        Vec<u8>,
        Vec<u64>,
        Vec<()>,
        Vec<Vec<()>>,
        HashMap<(), ()>,
        Vec<String>,
        Option<String>,
        Vec<f64>,
        Option<f64>,
        (String, Vec<Value>, HashMap<String, Value>),
        (String, Vec<Value>, Option<HashMap<String, Value>>),
        Call,
        Floats,
        Tree,
        Vec<Tree>,
        BTreeMap<i64, f64>,
        BTreeMap<String, Vec<Option<f64>>>,
        (i64, i64),
        [u8; 4],
        (),
        agentwire::rpc::Date,
    );
    let _ = codec.decode_content_seed(content, PhantomData::<Value>);
    let _ = codec.decode_content_seed(content, PhantomData::<Tree>);
    let _ = codec.decode_content_seed(content, PhantomData::<(String, Vec<Value>)>);
}

/// A value decoded from a message, encoded again and decoded, is the same.
fn round_trip<C: Codec, T>(codec: &C, kind: MessageKind, id: u64, content: &[u8])
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    let Ok(value) = codec.decode_content::<T>(content) else {
        return;
    };
    let mut buf = Vec::new();
    if let Err(e) = codec.encode_message(kind, id, &value, &mut buf) {
        // Only what the format cannot hold may fail (JSON: non-string keys).
        let text = e.to_string();
        assert!(!text.is_empty());
        return;
    }
    let msg = codec
        .decode_message(Bytes::from(buf.clone()))
        .unwrap_or_else(|e| panic!("{}: own encoding {buf:?} not decoded: {e}", codec.name()));
    assert_eq!((msg.kind, msg.id), (kind, id));
    let back: T = codec
        .decode_content(&msg.content)
        .unwrap_or_else(|e| panic!("{}: own content {buf:?} not decoded: {e}", codec.name()));
    assert_eq!(back, value, "{}: round trip of {buf:?}", codec.name());
}

fn run<C: Codec>(codec: &C, payload: &[u8]) {
    let Ok(msg) = codec.decode_message(Bytes::copy_from_slice(payload)) else {
        return;
    };
    assert!(msg.content.len() <= payload.len());
    decode_all(codec, &msg.content);
    round_trip::<C, Value>(codec, msg.kind, msg.id, &msg.content);
    round_trip::<C, String>(codec, msg.kind, msg.id, &msg.content);
    round_trip::<C, Vec<i64>>(codec, msg.kind, msg.id, &msg.content);
    // The content alone, as a payload would hold it.
    decode_all(codec, payload);
}

/// The JSON envelope reader (a hand-written fast path, then serde_json)
/// agrees with serde_json: what serde_json reads as `[kind, id, content]`
/// is read the same, and what is read without Python's NaN/Infinity words
/// is JSON that serde_json reads.
fn json_agrees(payload: &[u8]) {
    let ours = Json.decode_message(Bytes::copy_from_slice(payload));
    match serde_json::from_slice::<(u64, u64, &serde_json::value::RawValue)>(payload) {
        Ok((code, id, raw)) => match &ours {
            Ok(m) => {
                assert_eq!((u64::from(m.kind.code()), m.id), (code, id));
                assert_eq!(&m.content[..], raw.get().as_bytes());
            }
            Err(agentwire::ChannelError::UnknownMessageType { kind, id: i }) => {
                assert_eq!((*kind, *i), (code, id));
                assert!(code > 2);
            }
            Err(e) => panic!("serde_json reads {payload:?}, we refuse it: {e}"),
        },
        Err(e) => {
            if let Ok(m) = &ours {
                assert!(
                    payload.contains(&b'N') || payload.contains(&b'I'),
                    "we read {payload:?} as {m:?}, serde_json refuses it: {e}"
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, payload)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            json_agrees(payload);
            run(&Json, payload)
        }
        1 => run(&MsgPack, payload),
        _ => run(&Bincode, payload),
    }
});
