//! A third attack pass on RPC connections: what a hostile peer can send
//! through the bincode codec (error texts it provokes, frames that claim
//! billions of zero-sized elements), and frames that nest deeper than any
//! sane value on every codec. Each case must end as an error for that call
//! only; the connection and other clients go on.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use agentwire::channel::MessageKind;
use agentwire::channel::{Bincode, ChannelOptions, Codec, Json, MsgPack};
use agentwire::rpc::{self, Connection, Router, RpcError};
use bytes::Bytes;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};
use tokio::sync::mpsc;
use transport_api::{Address, Protocol, Server, SharedTransport, Transport};

/// Serves `router` at `addr` with `codec`, and connects a client.
async fn serve<A, C>(addr: &A, codec: C, router: Router<C>) -> (A::Server, Connection<C>)
where
    A: Address,
    A::Server: Server<Addr = A>,
    C: Codec,
{
    let options = ChannelOptions::new().codec(codec);
    let server = rpc::start_server(addr, Arc::new(router), options.clone(), |_| {})
        .await
        .expect("server starts");
    let conn = Connection::open(&server.addr(), Arc::new(Router::<C>::new()), options)
        .await
        .expect("connects");
    (server, conn)
}

/// The remote error's text.
fn remote_text(err: RpcError) -> String {
    assert!(err.is_remote(), "a remote error, got {err:?}");
    err.to_string()
}

/// The text of a bincode decoding error that reaches the caller is a
/// sentence naming what failed, not the Debug form of bincode's error enum
/// (`OtherString("…")`, `InvalidBooleanValue(5)`, `UnexpectedEnd {
/// additional: 1 }`).
pub async fn readable_bincode_errors<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let router = Router::new()
        .method("add", |(a, b): (i64, i64)| async move {
            Ok::<_, Infallible>(a + b)
        })
        .method(
            "flag",
            |(b,): (bool,)| async move { Ok::<_, Infallible>(b) },
        )
        .method(
            "name",
            |(s,): (String,)| async move { Ok::<_, Infallible>(s) },
        );
    let (server, conn) = serve(&addr, Bincode, router).await;

    let arity = remote_text(
        conn.call::<_, i64>("add", (1i64,))
            .await
            .expect_err("arity"),
    );
    assert!(
        arity.contains("expected 2 positional arguments, got 1"),
        "{arity}"
    );
    assert!(!arity.contains("OtherString"), "{arity}");

    let flag = remote_text(
        conn.call::<_, bool>("flag", (5u8,))
            .await
            .expect_err("bool"),
    );
    assert!(!flag.contains("InvalidBooleanValue"), "{flag}");
    assert!(flag.contains("bool") && flag.contains('5'), "{flag}");

    // A string of invalid UTF-8 (bytes serialize as a length and the bytes,
    // as a string does).
    let utf8 = remote_text(
        conn.call::<_, String>("name", (serde_bytes::Bytes::new(&[0xff, 0xfe]),))
            .await
            .expect_err("utf-8"),
    );
    assert!(!utf8.contains("Utf8 {"), "{utf8}");
    assert!(utf8.contains("UTF-8"), "{utf8}");

    // Cut short: a string that claims more bytes than follow.
    let short = remote_text(
        conn.call::<_, String>("name", (ClaimsMore(5, 1),))
            .await
            .expect_err("truncated"),
    );
    assert!(!short.contains("UnexpectedEnd"), "{short}");
    assert!(short.contains("ends"), "{short}");

    assert_eq!(
        conn.call::<_, i64>("add", (1, 2)).await.expect("goes on"),
        3
    );
    conn.close().await;
    server.close();
}

/// A sequence that claims `.0` elements and holds `.1` zeros (bincode
/// writes the claim as its length prefix and checks nothing).
struct ClaimsMore(usize, usize);

impl Serialize for ClaimsMore {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0))?;
        for _ in 0..self.1 {
            seq.serialize_element(&0u8)?;
        }
        seq.end()
    }
}

/// A map that claims `usize::MAX` entries and holds none.
struct ClaimsHugeMap;

impl Serialize for ClaimsHugeMap {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_map(Some(usize::MAX))?.end()
    }
}

/// A unit struct: zero bytes in bincode.
#[derive(Debug, Serialize, Deserialize)]
struct Marker;

/// A bincode frame whose argument claims 2^64 - 1 zero-sized elements
/// (`Vec<()>`, a `Vec` of a unit struct, a map of units) used to loop that
/// many times on the connection's driver, freezing its runtime thread. Now
/// it is a remote error naming the limit, at once, and the connection and
/// another client go on.
pub async fn zero_sized_element_flood<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let router =
        Router::new()
            .method("units", |(v,): (Vec<()>,)| async move {
                Ok::<_, Infallible>(v.len())
            })
            .method("markers", |(v,): (Vec<Marker>,)| async move {
                Ok::<_, Infallible>(v.len())
            })
            .method(
                "map",
                |(m,): (std::collections::BTreeMap<(), ()>,)| async move {
                    Ok::<_, Infallible>(m.len())
                },
            )
            .method("nested", |(v,): (Vec<Vec<()>>,)| async move {
                Ok::<_, Infallible>(v.len())
            });
    let (server, conn) = serve(&addr, Bincode, router).await;
    let bound = Duration::from_secs(10);

    // Honest calls with zero-sized elements still work.
    let few: usize = conn.call("units", (vec![(); 1000],)).await.expect("units");
    assert_eq!(few, 1000);
    let many: usize = conn
        .call("units", (vec![(); 100_000],))
        .await
        .expect("100,000 units in a 4-byte claim");
    assert_eq!(many, 100_000);

    for path in ["units", "markers"] {
        let call = conn.call::<_, usize>(path, (ClaimsMore(usize::MAX, 0),));
        let err = tokio::time::timeout(bound, call)
            .await
            .expect("answered at once, not after 2^64 iterations")
            .expect_err("refused");
        let text = remote_text(err);
        assert!(text.contains("elements"), "{path}: {text}");
    }
    let call = conn.call::<_, usize>("map", (ClaimsHugeMap,));
    let err = tokio::time::timeout(bound, call)
        .await
        .expect("answered at once")
        .expect_err("refused");
    assert!(remote_text(err).contains("elements"));
    // Many inner claims, each below any per-sequence bound: the budget is
    // the frame's.
    let inner = vec![ClaimsMore(1 << 24, 0); 64];
    let call = conn.call::<_, usize>("nested", (inner,));
    let err = tokio::time::timeout(bound, call)
        .await
        .expect("answered at once")
        .expect_err("refused");
    assert!(remote_text(err).contains("elements"));

    // The connection goes on, and so does another client.
    assert_eq!(
        conn.call::<_, usize>("units", (vec![(); 3],))
            .await
            .expect("goes on"),
        3
    );
    let other = Connection::open(
        &server.addr(),
        Arc::new(Router::<Bincode>::new()),
        ChannelOptions::new().codec(Bincode),
    )
    .await
    .expect("connects");
    assert_eq!(
        other
            .call::<_, usize>("units", (vec![(); 2],))
            .await
            .expect("served"),
        2
    );
    other.close().await;
    conn.close().await;
    server.close();
}

impl Clone for ClaimsMore {
    fn clone(&self) -> Self {
        ClaimsMore(self.0, self.1)
    }
}

/// Sends one request frame with `payload` (an encoded envelope) from a
/// raw peer and returns the payload of the first frame it gets back.
async fn raw_call<A: Address>(addr: &A, payload: Vec<u8>) -> Bytes {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (transport, _) = addr
        .create_connection(Collect(tx))
        .await
        .expect("raw peer connects");
    let mut frame = u32::try_from(payload.len())
        .expect("fits")
        .to_be_bytes()
        .to_vec();
    frame.extend_from_slice(&payload);
    transport.write(Bytes::from(frame)).expect("writes");
    let mut got = Vec::new();
    loop {
        if got.len() >= 4 {
            let len = u32::from_be_bytes([got[0], got[1], got[2], got[3]]) as usize;
            if got.len() >= 4 + len {
                transport.close();
                return Bytes::copy_from_slice(&got[4..4 + len]);
            }
        }
        let chunk: Bytes = rx.recv().await.expect("a reply before the end");
        got.extend_from_slice(&chunk);
    }
}

/// A protocol that hands every chunk it receives over.
struct Collect(mpsc::UnboundedSender<Bytes>);

impl Protocol for Collect {
    fn connection_made(&mut self, _: SharedTransport) {}
    fn data_received(&mut self, data: Bytes) {
        let _ = self.0.send(data);
    }
}

/// `depth(v)`: how many lists deep `v` is.
fn depth_router<C: Codec>() -> Router<C> {
    Router::new().method("depth", |(v,): (serde_json::Value,)| async move {
        let mut depth = 0usize;
        let mut at = &v;
        while let Some(inner) = at.as_array().and_then(|a| a.first()) {
            depth += 1;
            at = inner;
        }
        Ok::<_, Infallible>(depth)
    })
}

/// Nesting far deeper than any sane value is an error for that call, not a
/// stack overflow, with JSON and MsgPack (a `serde_json::Value` argument
/// 100,000 lists deep, written by hand: serializing it would recurse).
pub async fn deep_nesting<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    const DEEP: usize = 100_000;
    // JSON: [0, 1, ["depth", [[[[…]]]], {}]]
    let (server, conn) = serve(&addr, Json, depth_router()).await;
    let mut json = b"[0, 1, [\"depth\", [".to_vec();
    json.extend(std::iter::repeat_n(b'[', DEEP));
    json.extend(std::iter::repeat_n(b']', DEEP));
    json.extend_from_slice(b"], {}]]");
    let reply = Json
        .decode_message(raw_call(&server.addr(), json).await)
        .expect("envelope");
    assert_eq!((reply.kind, reply.id), (MessageKind::Exception, 1));
    // Just below serde_json's limit of 128: decoded, on a test thread's
    // stack, unoptimised; with a Python NaN inside (the lenient path,
    // another wrapper per level), an error naming it.
    for (inner, kind) in [
        (&b"0"[..], MessageKind::Result),
        (&b"NaN"[..], MessageKind::Exception),
    ] {
        let mut json = b"[0, 2, [\"depth\", [".to_vec();
        json.extend(std::iter::repeat_n(b'[', 120));
        json.extend_from_slice(inner);
        json.extend(std::iter::repeat_n(b']', 120));
        json.extend_from_slice(b"], {}]]");
        let reply = Json
            .decode_message(raw_call(&server.addr(), json).await)
            .expect("envelope");
        assert_eq!(reply.kind, kind);
        if kind == MessageKind::Result {
            let depth: usize = Json.decode_content(&reply.content).expect("depth");
            assert_eq!(depth, 120);
        }
    }
    assert_eq!(
        conn.call::<_, usize>("depth", ((((),),),))
            .await
            .expect("on"),
        2
    );
    conn.close().await;
    server.close();
    drop(server);

    // MsgPack: the same as arrays of one element (0x91), then nil.
    let (server, conn) = serve(&addr, MsgPack, depth_router()).await;
    let mut mp = vec![0x93, 0x00, 0x01, 0x93, 0xa5];
    mp.extend_from_slice(b"depth");
    mp.push(0x91);
    mp.extend(std::iter::repeat_n(0x91, DEEP));
    mp.extend_from_slice(&[0xc0, 0x80]);
    let reply = MsgPack
        .decode_message(raw_call(&server.addr(), mp).await)
        .expect("envelope");
    assert_eq!((reply.kind, reply.id), (MessageKind::Exception, 1));
    assert_eq!(
        conn.call::<_, usize>("depth", ((((),),),))
            .await
            .expect("on"),
        2
    );
    conn.close().await;
    server.close();
}

/// A recursive type: each level is one byte in bincode.
#[derive(Debug, Serialize, Deserialize)]
enum Tree {
    Leaf,
    Node(Box<Tree>),
}

/// A bincode frame nesting a recursive type a million levels deep (a
/// megabyte): an error for that call, not a stack overflow.
pub async fn deep_bincode_recursion<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let router = Router::new().method("depth", |(t,): (Tree,)| async move {
        let mut depth = 0usize;
        let mut at = &t;
        while let Tree::Node(inner) = at {
            depth += 1;
            at = inner;
        }
        // Dropping a deep Box chain recurses too: take it apart.
        let mut t = t;
        while let Tree::Node(inner) = t {
            t = *inner;
        }
        Ok::<_, Infallible>(depth)
    });
    let (server, conn) = serve(&addr, Bincode, router).await;
    // As deep as the limit allows (a test thread's 2 MiB stack, unoptimised).
    assert_eq!(
        conn.call::<_, usize>("depth", (DeepTree(120),))
            .await
            .expect("120"),
        120
    );
    assert_eq!(
        conn.call::<_, usize>("depth", (DeepTree(50),))
            .await
            .expect("50"),
        50
    );
    assert!(conn
        .call::<_, usize>("depth", (DeepTree(1_000_000),))
        .await
        .expect_err("too deep")
        .is_remote());
    assert_eq!(
        conn.call::<_, usize>("depth", (DeepTree(2),))
            .await
            .expect("on"),
        2
    );
    conn.close().await;
    server.close();
}

/// Serializes as a [`Tree`] `.0` nodes deep, without building it (and
/// without recursion: bincode writes variant indices as varints).
struct DeepTree(usize);

impl Serialize for DeepTree {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Node = variant 1, Leaf = variant 0: a tuple of raw bytes.
        let mut seq = serializer.serialize_tuple(self.0 + 1)?;
        for _ in 0..self.0 {
            serde::ser::SerializeTuple::serialize_element(&mut seq, &1u8)?;
        }
        serde::ser::SerializeTuple::serialize_element(&mut seq, &0u8)?;
        serde::ser::SerializeTuple::end(seq)
    }
}

/// A call to an unknown path names the path in its error, but a long one
/// only by its start and length: the reply does not echo (escaped, several
/// times longer) whatever a peer sends. The same for a keyword's name.
pub async fn long_unknown_paths_are_not_echoed<A>(addr: A)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    /// The remote side's text (the caller's error also names the path it
    /// called, in full: that is the caller's own input).
    fn message(err: RpcError) -> String {
        match err {
            RpcError::Remote { message, .. } => message,
            other => panic!("expected a remote error, got {other:?}"),
        }
    }
    let router = Router::new().method("add", |(a, b): (i64, i64)| async move {
        Ok::<_, Infallible>(a + b)
    });
    let (server, conn) = serve(&addr, Json, router).await;
    let short = message(conn.call::<_, ()>("nope", ()).await.expect_err("unknown"));
    assert!(short.contains(r#"no such method: "nope""#), "{short}");
    for path in ["x".repeat(100_000), "\u{1}é".repeat(40_000)] {
        let text = message(conn.call::<_, ()>(&path, ()).await.expect_err("unknown"));
        let head: String = text.chars().take(300).collect();
        assert!(text.len() < 2_000, "{} bytes of error: {head}", text.len());
        assert!(text.contains("no such method: \""), "{head}");
        assert!(
            text.contains(&format!("… ({} bytes)", path.len())),
            "names the length: {head}"
        );
    }
    // So is a keyword argument's name (this method takes none).
    let long = "k".repeat(100_000);
    let kwargs = serde_json::json!({ long.as_str(): 1 });
    let text = message(
        conn.call_with_kwargs::<_, _, i64>("add", (2, 3), &kwargs)
            .await
            .expect_err("no keyword arguments"),
    );
    let head: String = text.chars().take(300).collect();
    assert!(text.len() < 2_000, "{} bytes of error: {head}", text.len());
    assert!(text.contains("unexpected keyword argument \""), "{head}");
    assert!(text.contains("… (100000 bytes)"), "{head}");
    assert_eq!(
        conn.call::<_, i64>("add", (2, 3)).await.expect("goes on"),
        5
    );
    conn.close().await;
    server.close();
}
