//! Property tests: framing under any chunking, and decoders fed random
//! bytes.

use agentwire::channel::{
    encode_frame, Bincode, ChannelError, Codec, FrameDecoder, FrameHandler, FramedProtocol, Json,
    MessageKind, MsgPack,
};
use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use transport_api::{Protocol, SharedTransport};

/// Cuts `stream` at the given points (taken modulo its length).
fn split(stream: &[u8], cuts: &[usize]) -> Vec<Bytes> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| {
            if stream.is_empty() {
                0
            } else {
                c % stream.len()
            }
        })
        .collect();
    points.push(0);
    points.push(stream.len());
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| Bytes::copy_from_slice(&stream[w[0]..w[1]]))
        .collect()
}

/// Feeds `chunks` and collects frames until the first error, checking the
/// decoder's buffer never exceeds `max` along the way.
fn feed(max: usize, chunks: Vec<Bytes>) -> (Vec<Bytes>, Option<String>, FrameDecoder) {
    let mut dec = FrameDecoder::new(max);
    let mut frames = Vec::new();
    for chunk in chunks {
        dec.push(chunk);
        loop {
            assert!(
                dec.buffer_capacity() <= max,
                "{} > {max}",
                dec.buffer_capacity()
            );
            match dec.next_frame() {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= max);
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(e) => return (frames, Some(e.to_string()), dec),
            }
        }
    }
    (frames, None, dec)
}

/// Collects what a [`FramedProtocol`] hands out.
#[derive(Default)]
struct Collect {
    frames: Vec<Bytes>,
    lost: Option<Option<String>>,
}

impl FrameHandler for Collect {
    fn connection_made(&mut self, _transport: SharedTransport) {}

    fn frame_received(&mut self, frame: Bytes) -> agentwire::channel::Result<()> {
        self.frames.push(frame);
        Ok(())
    }

    fn connection_lost(&mut self, cause: Option<ChannelError>) {
        self.lost = Some(cause.map(|e| e.to_string()));
    }
}

/// Feeds `chunks` to a [`FramedProtocol`] (whose fast path takes whole
/// frames straight from a chunk), then ends the connection cleanly.
fn feed_protocol(max: usize, chunks: Vec<Bytes>) -> Collect {
    let mut protocol = FramedProtocol::new(Collect::default(), max);
    for chunk in chunks {
        protocol.data_received(chunk);
    }
    protocol.connection_lost(None);
    let handler = protocol.handler_mut();
    Collect {
        frames: std::mem::take(&mut handler.frames),
        lost: handler.lost.take(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_split_decodes_the_same_frames(
        payloads in vec(vec(any::<u8>(), 0..600), 0..12),
        cuts in vec(any::<usize>(), 0..40),
    ) {
        let mut stream = Vec::new();
        for p in &payloads {
            stream.extend_from_slice(&encode_frame(p, 1024).expect("fits"));
        }
        let (frames, error, dec) = feed(1024, split(&stream, &cuts));
        prop_assert_eq!(error, None);
        prop_assert_eq!(frames, payloads.iter().map(|p| Bytes::copy_from_slice(p)).collect::<Vec<_>>());
        prop_assert!(dec.finish().is_ok());
        prop_assert_eq!(dec.buffered(), 0);
    }

    #[test]
    fn the_protocol_hands_out_what_the_decoder_does(
        payloads in vec(vec(any::<u8>(), 0..600), 0..12),
        cuts in vec(any::<usize>(), 0..40),
        aligned in any::<bool>(),
        oversized_at in proptest::option::of(0usize..12),
    ) {
        // Frame-aligned chunks (the fast path), or random cuts; sometimes
        // a header above the maximum in the middle.
        let mut frames = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            if oversized_at == Some(i) {
                frames.push(Bytes::from(5000u32.to_be_bytes().to_vec()));
            }
            frames.push(encode_frame(p, 1024).expect("fits"));
        }
        let stream: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
        let chunks = if aligned { frames } else { split(&stream, &cuts) };
        let (expected, error, _) = feed(1024, chunks.clone());
        let got = feed_protocol(1024, chunks);
        prop_assert_eq!(got.frames, expected);
        match error {
            Some(error) => prop_assert_eq!(got.lost, Some(Some(error))),
            None => prop_assert_eq!(got.lost, Some(None)),
        }
    }

    #[test]
    fn random_bytes_never_panic_or_overallocate(
        bytes in vec(any::<u8>(), 0..4096),
        cuts in vec(any::<usize>(), 0..20),
        max in 0usize..2048,
    ) {
        let (_, error, mut dec) = feed(max, split(&bytes, &cuts));
        prop_assert!(dec.buffer_capacity() <= max);
        if error.is_some() {
            prop_assert!(dec.next_frame().is_err(), "a failed decoder stays failed");
        }
        // finish never panics either.
        let _ = dec.finish();
    }

    #[test]
    fn truncated_stream_is_reported(
        payloads in vec(vec(any::<u8>(), 1..300), 1..6),
        cut in any::<usize>(),
    ) {
        let mut stream = Vec::new();
        for p in &payloads {
            stream.extend_from_slice(&encode_frame(p, 1024).expect("fits"));
        }
        let cut = cut % stream.len();
        let boundary = {
            let mut at = 0;
            let mut ends = vec![0];
            for p in &payloads { at += 4 + p.len(); ends.push(at); }
            ends.contains(&cut)
        };
        let (_, error, dec) = feed(1024, vec![Bytes::copy_from_slice(&stream[..cut])]);
        prop_assert_eq!(error, None);
        prop_assert_eq!(dec.finish().is_ok(), boundary);
    }

    #[test]
    fn codecs_never_panic_on_random_payloads(bytes in vec(any::<u8>(), 0..512)) {
        let decoded = [
            Json.decode_message(Bytes::copy_from_slice(&bytes)),
            Bincode.decode_message(Bytes::copy_from_slice(&bytes)),
            MsgPack.decode_message(Bytes::copy_from_slice(&bytes)),
        ];
        for msg in decoded.into_iter().flatten() {
            let _ = Json.decode_content::<(String, Vec<u8>, i64)>(&msg.content);
            let _ = Bincode.decode_content::<(String, Vec<u8>, i64)>(&msg.content);
            let _ = Bincode.decode_content::<Vec<String>>(&msg.content);
            let _ = MsgPack.decode_content::<(String, Vec<u8>, i64)>(&msg.content);
            let _ = MsgPack.decode_content::<Vec<String>>(&msg.content);
        }
        let _ = MsgPack.decode_content::<serde_json::Value>(&bytes);
        let _ = MsgPack.decode_content::<(String, serde_bytes::ByteBuf, std::collections::BTreeMap<String, f64>)>(&bytes);
        let _ = Bincode.decode_content::<(String, Vec<u8>, std::collections::BTreeMap<String, u64>)>(&bytes);
        let _ = Json.decode_content::<serde_json::Value>(&bytes);
    }

    #[test]
    fn codecs_round_trip(
        kind in prop_oneof![Just(MessageKind::Request), Just(MessageKind::Result), Just(MessageKind::Exception)],
        id in any::<u64>(),
        content in (".*", any::<i64>(), vec(any::<u8>(), 0..64), proptest::option::of(any::<bool>())),
    ) {
        round_trip(&Json, kind, id, &content)?;
        round_trip(&Bincode, kind, id, &content)?;
        round_trip(&MsgPack, kind, id, &content)?;
    }
}

type Content = (String, i64, Vec<u8>, Option<bool>);

fn round_trip<C: Codec>(
    codec: &C,
    kind: MessageKind,
    id: u64,
    content: &Content,
) -> Result<(), TestCaseError> {
    let mut buf = Vec::new();
    codec
        .encode_message(kind, id, content, &mut buf)
        .expect("encodes");
    let msg = codec.decode_message(Bytes::from(buf)).expect("decodes");
    prop_assert_eq!(msg.kind, kind);
    prop_assert_eq!(msg.id, id);
    let back: Content = codec.decode_content(&msg.content).expect("content decodes");
    prop_assert_eq!(&back, content);
    Ok(())
}

/// A float of any kind, non-finite ones often.
fn any_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        any::<f64>(),
        -1e6f64..1e6,
    ]
}

/// Strings that hold the words too.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("NaN".to_owned()),
        Just("-Infinity".to_owned()),
        Just("\"NaN\\".to_owned()),
        "[a-zA-Z\"\\\\ ,:\\[\\]{}-]{0,12}",
        ".*",
    ]
}

/// Equal, with NaN equal to NaN, up to a few units in the last place
/// (serde_json's default float parser, without its `float_roundtrip`
/// feature, may be a little off: that is serde_json, not NaN handling).
fn same(a: f64, b: f64) -> bool {
    let ulps = (a.to_bits() as i64).wrapping_sub(b.to_bits() as i64);
    a == b || (a.is_nan() && b.is_nan()) || (a.signum() == b.signum() && ulps.abs() <= 4)
}

type Floats = (
    Vec<f64>,
    String,
    Option<f64>,
    std::collections::BTreeMap<String, f64>,
    (f32, f64),
);

/// JSON fragments that make near-valid text around Python's words.
fn fragments() -> impl Strategy<Value = Vec<&'static str>> {
    let piece = prop_oneof![
        Just("NaN"),
        Just("Infinity"),
        Just("-Infinity"),
        Just("-"),
        Just("\""),
        Just("\\"),
        Just("["),
        Just("]"),
        Just("{"),
        Just("}"),
        Just(","),
        Just(":"),
        Just("1"),
        Just("0, 1, "),
        Just("\"k\""),
        Just("Na"),
        Just("null"),
    ];
    vec(piece, 0..24)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any floats, NaN and infinities included, in any place, round-trip
    /// through the JSON codec; strings with the words in them stay strings.
    #[test]
    fn json_non_finite_floats_round_trip(
        floats in vec(any_float(), 0..8),
        text in tricky_string(),
        maybe in proptest::option::of(any_float()),
        map in proptest::collection::btree_map(tricky_string(), any_float(), 0..4),
        pair in (any::<f32>(), any_float()),
        id in any::<u64>(),
    ) {
        let content: Floats = (floats, text, maybe, map, pair);
        let mut buf = Vec::new();
        Json.encode_message(MessageKind::Result, id, &content, &mut buf).expect("encodes");
        let msg = Json.decode_message(Bytes::from(buf.clone())).expect("decodes");
        prop_assert_eq!(msg.id, id);
        let back: Floats = Json.decode_content(&msg.content).expect("content decodes");
        prop_assert_eq!(back.0.len(), content.0.len());
        for (a, b) in back.0.iter().zip(&content.0) {
            prop_assert!(same(*a, *b), "{} vs {}", a, b);
        }
        prop_assert_eq!(&back.1, &content.1);
        prop_assert_eq!(back.2.is_some(), content.2.is_some());
        if let (Some(a), Some(b)) = (back.2, content.2) {
            prop_assert!(same(a, b));
        }
        prop_assert_eq!(back.3.len(), content.3.len());
        for ((ka, va), (kb, vb)) in back.3.iter().zip(&content.3) {
            prop_assert_eq!(ka, kb);
            prop_assert!(same(*va, *vb));
        }
        prop_assert!(same(f64::from(back.4 .0), f64::from(content.4 .0)));
        prop_assert!(same(back.4 .1, content.4 .1));
        // Without non-finite floats it is strict JSON; with them it is not.
        let finite = content.0.iter().chain(content.2.iter()).chain(content.3.values())
            .all(|f| f.is_finite()) && content.4 .0.is_finite() && content.4 .1.is_finite();
        prop_assert_eq!(finite, serde_json::from_slice::<serde_json::Value>(&buf).is_ok());
    }

    /// Text made of JSON pieces and Python's words never panics any
    /// decoder, into any target.
    #[test]
    fn json_near_valid_text_never_panics(pieces in fragments(), id in any::<u32>()) {
        let content = pieces.concat();
        let payload = format!("[1, {id}, {content}]");
        let _ = Json.decode_content::<Floats>(content.as_bytes());
        let _ = Json.decode_content::<serde_json::Value>(content.as_bytes());
        let _ = Json.decode_content::<Vec<Option<f64>>>(content.as_bytes());
        if let Ok(msg) = Json.decode_message(Bytes::from(payload)) {
            let _ = Json.decode_content::<Vec<f64>>(&msg.content);
            let _ = Json.decode_content::<std::collections::HashMap<String, f64>>(&msg.content);
            let _ = Json.decode_content::<(String, Vec<u8>, i64)>(&msg.content);
        }
    }
}

/// MessagePack values of every kind, nested, for the MsgPack round trip.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Nested {
    name: String,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
    ints: Vec<i64>,
    big: u64,
    ratio: f64,
    map: std::collections::BTreeMap<String, Vec<Option<i32>>>,
    tag: Tag,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
enum Tag {
    Unit,
    Wrapped(String),
    Pair(i8, bool),
}

fn nested() -> impl Strategy<Value = Nested> {
    (
        ".*",
        vec(any::<u8>(), 0..300),
        vec(any::<i64>(), 0..20),
        any::<u64>(),
        any::<f64>().prop_filter("NaN is not equal to itself", |f| !f.is_nan()),
        proptest::collection::btree_map(
            ".{0,8}",
            vec(proptest::option::of(any::<i32>()), 0..4),
            0..4,
        ),
        prop_oneof![
            Just(Tag::Unit),
            ".{0,5}".prop_map(Tag::Wrapped),
            (any::<i8>(), any::<bool>()).prop_map(|(a, b)| Tag::Pair(a, b)),
        ],
    )
        .prop_map(|(name, data, ints, big, ratio, map, tag)| Nested {
            name,
            data,
            ints,
            big,
            ratio,
            map,
            tag,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Structs (as maps), bytes, enums, options and maps with string keys
    /// round-trip through MsgPack, exactly (floats are binary).
    #[test]
    fn msgpack_nested_values_round_trip(value in nested(), id in any::<u64>()) {
        let mut buf = Vec::new();
        MsgPack.encode_message(MessageKind::Result, id, &value, &mut buf).expect("encodes");
        let msg = MsgPack.decode_message(Bytes::from(buf.clone())).expect("decodes");
        prop_assert_eq!(msg.id, id);
        let back: Nested = MsgPack.decode_content(&msg.content).expect("content");
        prop_assert_eq!(&back, &value);
        // Every strict prefix is an error, never a panic or a partial value.
        let cut = buf.len() / 2;
        prop_assert!(MsgPack.decode_message(Bytes::copy_from_slice(&buf[..cut])).is_err());
    }

    /// A claimed length (string, bytes, array, map) far beyond the frame is
    /// an error, without allocating what it claims.
    #[test]
    fn msgpack_lying_lengths_are_errors(marker in prop_oneof![
        Just(0xdbu8), Just(0xc6), Just(0xdd), Just(0xdf),
    ], claim in 1_000u32.., tail in vec(any::<u8>(), 0..64)) {
        let mut content = vec![marker];
        content.extend_from_slice(&claim.to_be_bytes());
        content.extend_from_slice(&tail);
        let mut payload = vec![0x93, 0x01, 0x01];
        payload.extend_from_slice(&content);
        prop_assert!(MsgPack.decode_message(Bytes::from(payload)).is_err());
        prop_assert!(MsgPack.decode_content::<serde_json::Value>(&content).is_err());
        prop_assert!(MsgPack.decode_content::<Vec<u8>>(&content).is_err());
        prop_assert!(MsgPack.decode_content::<String>(&content).is_err());
    }
}
