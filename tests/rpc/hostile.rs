//! A third attack pass on RPC connections: what a hostile peer can send
//! through the bincode codec (error texts it provokes), and frames that
//! nest deeper than any sane value. Each case must end as an error for that call
//! only; the connection and other clients go on.

use std::convert::Infallible;
use std::sync::Arc;

use agentwire::channel::MessageKind;
use agentwire::channel::{Bincode, ChannelOptions, Codec, Json, MsgPack};
use agentwire::rpc::{self, Connection, Router, RpcError};
use bytes::Bytes;
use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};
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
    json.extend(std::iter::repeat(b'[').take(DEEP));
    json.extend(std::iter::repeat(b']').take(DEEP));
    json.extend_from_slice(b"], {}]]");
    let reply = Json
        .decode_message(raw_call(&server.addr(), json).await)
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
    drop(server);

    // MsgPack: the same as arrays of one element (0x91), then nil.
    let (server, conn) = serve(&addr, MsgPack, depth_router()).await;
    let mut mp = vec![0x93, 0x00, 0x01, 0x93, 0xa5];
    mp.extend_from_slice(b"depth");
    mp.push(0x91);
    mp.extend(std::iter::repeat(0x91).take(DEEP));
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
