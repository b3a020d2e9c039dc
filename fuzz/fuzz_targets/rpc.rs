//! A whole server: containers (JSON, MsgPack, bincode) serving an agent
//! with typed methods (positional and keyword parameters, optional ones,
//! dates, custom types, agent references, a router with keyword arguments),
//! on local queues. Each input is a byte stream from a raw peer, sent in
//! chunks: either raw bytes, or payloads that the target frames; the peer
//! may never read (so the server's writes back up) and may abort. The
//! server must not panic or hang, may only answer with well-formed replies
//! to ids that were asked, and must keep serving other connections.
#![no_main]

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentwire::channel::{Bincode, Codec, FrameDecoder, Json, MessageKind, MsgPack};
use agentwire::local::{LocalNetwork, LocalQueue};
use agentwire::rpc::{Date, Proxy};
use agentwire::{agent, serializable, Container, ContainerOptions, Router};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use transport_api::{Address, Protocol, ProtocolHandle, SharedTransport, Transport};

#[serializable]
#[derive(Debug, Clone, PartialEq)]
struct Point {
    x: f64,
    y: f64,
}

struct Target;

#[agent]
impl Target {
    #[expose]
    async fn add(&self, a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }

    #[expose]
    async fn echo(&self, v: Value) -> Value {
        v
    }

    #[expose]
    async fn greet(&self, name: String, greeting: Option<String>, n: Option<u32>) -> String {
        format!("{} {name} {}", greeting.unwrap_or_default(), n.unwrap_or(0))
    }

    #[expose]
    async fn when(&self, d: Date) -> Date {
        d
    }

    #[expose]
    async fn floats(&self, x: f64, v: Vec<f64>, m: HashMap<String, f32>) -> f64 {
        x + v.iter().sum::<f64>() + m.values().map(|&f| f64::from(f)).sum::<f64>()
    }

    #[expose]
    async fn point(&self, p: Point, bytes: Vec<u8>) -> (Point, usize) {
        (p, bytes.len())
    }

    #[expose]
    async fn fail(&self, why: String) -> Result<(), String> {
        Err(why)
    }

    #[expose]
    async fn peer(&self, who: TargetProxy) -> bool {
        // Keeps the reference only while the call runs; never calls back
        // (the raw peer would not answer).
        drop(who);
        true
    }

    #[expose]
    fn sync_one(&self, t: (i8, u16, bool, char)) -> (i8, u16, bool, char) {
        t
    }
}

/// A raw byte-level peer: records what it receives and when it is lost.
#[derive(Default)]
struct Seen {
    data: Vec<u8>,
    lost: bool,
}

struct Raw(Arc<Mutex<Seen>>, Arc<tokio::sync::Notify>);

impl Protocol for Raw {
    fn connection_made(&mut self, _transport: SharedTransport) {}

    fn data_received(&mut self, data: Bytes) {
        self.0
            .lock()
            .expect("not poisoned")
            .data
            .extend_from_slice(&data);
    }

    fn connection_lost(&mut self, _error: Option<transport_api::Error>) {
        self.0.lock().expect("not poisoned").lost = true;
        self.1.notify_one();
    }
}

struct Server<C: Codec> {
    container: Container<C>,
    queue: LocalQueue,
    proxy: TargetProxy<C>,
}

struct World {
    rt: tokio::runtime::Runtime,
    json: Server<Json>,
    msgpack: Server<MsgPack>,
    bincode: Server<Bincode>,
}

async fn server<C: Codec>(net: &LocalNetwork, name: &str, codec: C) -> Server<C> {
    let options = ContainerOptions::new()
        .local_network(net.clone())
        .serializer::<Point>()
        .codec(codec);
    let container = Container::create_with(format!("local://{name}").as_str(), options.clone())
        .await
        .expect("container");
    container.register_agent(Target).expect("agent 0");
    let router: Router<C> = Router::new()
        .method("plain", |(a, b): (i64, String)| async move {
            Ok::<_, String>(format!("{a}{b}"))
        })
        .method_with_kwargs("kw", |(a,): (i64,), kw: HashMap<String, i64>| async move {
            Ok::<_, String>(a.wrapping_add(kw.values().fold(0i64, |s, v| s.wrapping_add(*v))))
        });
    container.register("Router", router).expect("agent 1");
    let queue = container
        .addr()
        .downcast_ref::<LocalQueue>()
        .expect("a local queue")
        .clone();
    let client = Container::create_with(format!("local://{name}-client").as_str(), options)
        .await
        .expect("client container");
    let proxy: Proxy<C> = client
        .connect(&format!("local://{name}/0"))
        .await
        .expect("connects");
    std::mem::forget(client);
    Server {
        container,
        queue,
        proxy: proxy.into(),
    }
}

thread_local! {
    static WORLD: RefCell<Option<World>> = const { RefCell::new(None) };
}

fn world<R>(f: impl FnOnce(&World) -> R) -> R {
    WORLD.with(|w| {
        let mut w = w.borrow_mut();
        let world = w.get_or_insert_with(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("runtime");
            let net = LocalNetwork::new();
            let (json, msgpack, bincode) = rt.block_on(async {
                (
                    server(&net, "json", Json).await,
                    server(&net, "msgpack", MsgPack).await,
                    server(&net, "bincode", Bincode).await,
                )
            });
            World {
                rt,
                json,
                msgpack,
                bincode,
            }
        });
        f(world)
    })
}

/// The ids of the requests in `stream`, as the server would read them
/// (up to the first frame it cannot read).
fn request_ids<C: Codec>(codec: &C, stream: &[u8]) -> Vec<u64> {
    let mut dec = FrameDecoder::new(agentwire::channel::DEFAULT_MAX_FRAME_SIZE);
    dec.push(Bytes::copy_from_slice(stream));
    let mut ids = Vec::new();
    while let Ok(Some(frame)) = dec.next_frame() {
        match codec.decode_message(frame) {
            Ok(m) if m.kind == MessageKind::Request => ids.push(m.id),
            _ => break,
        }
    }
    ids
}

/// How many whole frames `data` holds.
fn replies(data: &[u8]) -> usize {
    let mut dec = FrameDecoder::new(usize::MAX);
    dec.push(Bytes::copy_from_slice(data));
    let mut n = 0;
    while let Ok(Some(_)) = dec.next_frame() {
        n += 1;
    }
    n
}

/// How the raw peer behaves besides sending.
#[derive(Clone, Copy)]
struct Peer {
    /// Never reads the replies (the server's writes back up).
    paused: bool,
    /// Ends with an abort instead of a close.
    abort: bool,
}

async fn attack<C: Codec>(server: &Server<C>, chunks: Vec<Bytes>, stream: &[u8], peer: Peer) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let notify = Arc::new(tokio::sync::Notify::new());
    let raw = Raw(Arc::clone(&seen), Arc::clone(&notify));
    let (transport, _handle): (_, ProtocolHandle<Raw>) = server
        .queue
        .create_connection(raw)
        .await
        .expect("raw connection");
    if peer.paused {
        transport.pause_reading();
    }
    for chunk in chunks {
        if transport.write(chunk).is_err() {
            break;
        }
        tokio::task::yield_now().await;
    }
    // Give the server the time to answer what it will answer (handlers
    // run as tasks of this runtime) before the close.
    let codec = server.container.options().get_channel_options().get_codec();
    let asked = request_ids(codec, stream);
    for _ in 0..256 {
        let s = seen.lock().expect("not poisoned");
        if s.lost || peer.paused || replies(&s.data) >= asked.len() {
            break;
        }
        drop(s);
        tokio::task::yield_now().await;
    }
    if peer.abort {
        transport.abort();
    } else {
        transport.close();
    }
    let wait = async {
        while !seen.lock().expect("not poisoned").lost {
            notify.notified().await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .is_err()
    {
        panic!("the server did not end a closed connection within 20 s");
    }
    // Whatever came back is replies to ids that were asked.
    let data = std::mem::take(&mut seen.lock().expect("not poisoned").data);
    if std::env::var_os("RPC_FUZZ_DEBUG").is_some() {
        eprintln!("asked {asked:?}, got {:?}", String::from_utf8_lossy(&data));
    }
    let mut dec = FrameDecoder::new(usize::MAX);
    dec.push(Bytes::from(data));
    while let Some(frame) = dec.next_frame().expect("frames") {
        let msg = codec
            .decode_message(frame.clone())
            .unwrap_or_else(|e| panic!("the server sent a bad message {frame:?}: {e}"));
        assert_ne!(msg.kind, MessageKind::Request, "the server sent a request");
        assert!(
            asked.contains(&msg.id),
            "a reply to {} never asked ({asked:?})",
            msg.id
        );
    }
    if !peer.abort && !peer.paused {
        // (Our own abort, or a close while we did not read, may leave a
        // partial frame unread.)
        dec.finish().expect("whole frames");
    }
    // Still serving.
    let sum = tokio::time::timeout(Duration::from_secs(20), server.proxy.add(2, 3))
        .await
        .expect("a call on another connection is answered within 20 s")
        .expect("a call on another connection works");
    assert_eq!(sum, 5);
}

fuzz_target!(|data: &[u8]| {
    let [which, chunking, body @ ..] = data else {
        return;
    };
    // Framed mode: the body is payloads, each prefixed by a one-byte
    // length (255: the rest); raw mode: the body is the stream.
    let stream: Vec<u8> = if which & 4 != 0 {
        let mut out = Vec::new();
        let mut rest = body;
        while let [len, tail @ ..] = rest {
            let n = if *len == 255 {
                tail.len()
            } else {
                usize::from(*len).min(tail.len())
            };
            let (payload, after) = tail.split_at(n);
            out.extend_from_slice(&(n as u32).to_be_bytes());
            out.extend_from_slice(payload);
            rest = after;
        }
        out
    } else {
        body.to_vec()
    };
    let size = usize::from(*chunking).max(1);
    let chunks: Vec<Bytes> = stream.chunks(size).map(Bytes::copy_from_slice).collect();
    let peer = Peer {
        paused: which & 8 != 0,
        abort: which & 16 != 0,
    };
    world(|w| {
        w.rt.block_on(async {
            match (which & 3) % 3 {
                0 => attack(&w.json, chunks, &stream, peer).await,
                1 => attack(&w.msgpack, chunks, &stream, peer).await,
                _ => attack(&w.bincode, chunks, &stream, peer).await,
            }
        })
    });
});
