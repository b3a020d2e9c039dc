//! RPC scenarios: agentwire's `Connection::call` against raw request/reply
//! baselines, with one call or 64 calls outstanding.
//!
//! Every call is `add(x, 1)`. All RPC calling and serving code of agentwire
//! is in [`serve_add`], [`open`] and [`Agentwire`], so an API change touches
//! only those; [`drive`] runs any [`Caller`] (agentwire, tarpc, the mpsc
//! baseline) the same way.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentwire::channel::{Bincode, ChannelOptions, Codec, Json, MsgPack};
use agentwire::rpc::{self, Connection, Proxy, Router};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use transport_api::{Address, Server};
use transport_local::LocalNetwork;

use crate::tcp::{loopback, raw_pair};
use crate::transfer::{decode_all, runtime};
use crate::{Scenario, ROUNDS};

/// Calls per round over local queues (and the mpsc baseline).
pub const LOCAL_CALLS: usize = 64 * 2_000;
/// Calls per round over TCP (and the raw TCP baselines).
pub const TCP_CALLS: usize = 64 * 600;
/// Calls outstanding in the `_c64` rows.
pub const C64: usize = 64;
/// Payload of the raw TCP baselines' frames.
const PAYLOAD: usize = 64;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "rpc_local_c1",
            unit: "call/s",
            work: LOCAL_CALLS as f64,
            measured: rpc_local_c1,
            baseline: mpsc_c1,
            baseline_name: MPSC_C1,
            floor: Some(0.25),
            rounds: ROUNDS,
        },
        Scenario {
            name: "rpc_local_c64",
            unit: "call/s",
            work: LOCAL_CALLS as f64,
            measured: || agentwire_local(Bincode, C64),
            baseline: mpsc_c64,
            baseline_name: MPSC_C64,
            floor: Some(0.35),
            rounds: ROUNDS,
        },
        Scenario {
            name: "rpc_local_proxy_c1",
            unit: "call/s",
            work: LOCAL_CALLS as f64,
            measured: rpc_local_proxy_c1,
            baseline: mpsc_c1,
            baseline_name: MPSC_C1,
            floor: None,
            rounds: ROUNDS,
        },
        Scenario {
            name: "channel_local_c1",
            unit: "call/s",
            work: LOCAL_CALLS as f64,
            measured: channel_local_c1,
            baseline: mpsc_c1,
            baseline_name: MPSC_C1,
            floor: None,
            rounds: ROUNDS,
        },
        Scenario {
            name: "rpc_local_json_c1",
            unit: "call/s",
            work: LOCAL_CALLS as f64,
            measured: || agentwire_local(Json, 1),
            baseline: mpsc_c1,
            baseline_name: MPSC_C1,
            floor: None,
            rounds: ROUNDS,
        },
        Scenario {
            name: "rpc_local_json_c64",
            unit: "call/s",
            work: LOCAL_CALLS as f64,
            measured: || agentwire_local(Json, C64),
            baseline: mpsc_c64,
            baseline_name: MPSC_C64,
            floor: None,
            rounds: ROUNDS,
        },
        Scenario {
            name: "rpc_local_msgpack_c1",
            unit: "call/s",
            work: LOCAL_CALLS as f64,
            measured: || agentwire_local(MsgPack, 1),
            baseline: mpsc_c1,
            baseline_name: MPSC_C1,
            floor: None,
            rounds: ROUNDS,
        },
        Scenario {
            name: "rpc_local_msgpack_c64",
            unit: "call/s",
            work: LOCAL_CALLS as f64,
            measured: || agentwire_local(MsgPack, C64),
            baseline: mpsc_c64,
            baseline_name: MPSC_C64,
            floor: None,
            rounds: ROUNDS,
        },
        Scenario {
            name: "rpc_tcp_c1",
            unit: "call/s",
            work: TCP_CALLS as f64,
            measured: || agentwire_tcp(1),
            baseline: tcp_ping_pong,
            baseline_name: TCP_C1,
            floor: Some(0.85),
            rounds: ROUNDS,
        },
        Scenario {
            name: "rpc_tcp_c64",
            unit: "call/s",
            work: TCP_CALLS as f64,
            measured: || agentwire_tcp(C64),
            baseline: tcp_pipelined,
            baseline_name: TCP_C64,
            floor: Some(0.40),
            rounds: ROUNDS,
        },
    ]
}

/// Baseline names, shared with the tarpc rows.
pub const MPSC_C1: &str = "tokio mpsc + oneshot request/reply, 1 outstanding";
pub const MPSC_C64: &str = "tokio mpsc + oneshot request/reply, 64 outstanding";
pub const TCP_C1: &str = "raw TcpStream ping-pong, 64 B length-prefixed frames";
pub const TCP_C64: &str = "raw TcpStream, 64 frames pipelined per batch";

/// One side of a request/reply benchmark: `call(x)` must return `x + 1`.
pub trait Caller: Clone + Send + Sync + 'static {
    fn call(&self, x: u64) -> impl Future<Output = u64> + Send + '_;
}

/// Makes `calls` calls through `caller`, `concurrency` at a time (each in a
/// task of its own, one after another), and returns how long they took.
pub async fn drive<C: Caller>(caller: C, concurrency: usize, calls: usize) -> Duration {
    let per_task = calls / concurrency;
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let caller = caller.clone();
        tasks.spawn(async move {
            for x in 0..per_task as u64 {
                assert_eq!(caller.call(x).await, x + 1);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    start.elapsed()
}

/// agentwire's RPC router with method `add(a, b)`.
pub fn add_router<C: Codec>() -> Router<C> {
    Router::new().method("add", |(a, b): (u64, u64)| async move {
        Ok::<_, Infallible>(a + b)
    })
}

/// Serves [`add_router`] at `addr`.
pub async fn serve_add<A: Address, C: Codec>(addr: &A, options: ChannelOptions<C>) -> A::Server {
    rpc::start_server(addr, Arc::new(add_router::<C>()), options, |_| {})
        .await
        .unwrap()
}

/// An RPC connection to `addr` that serves nothing.
pub async fn open<A: Address, C: Codec>(addr: &A, options: ChannelOptions<C>) -> Connection<C> {
    Connection::open(addr, Arc::new(Router::<C>::new()), options)
        .await
        .unwrap()
}

/// agentwire's RPC, the calling side.
#[derive(Clone)]
pub struct Agentwire<C: Codec>(pub Connection<C>);

impl<C: Codec> Caller for Agentwire<C> {
    async fn call(&self, x: u64) -> u64 {
        self.0.call::<_, u64>("add", (x, 1u64)).await.unwrap()
    }
}

/// Times `calls` agentwire calls over one connection to a server at `addr`.
pub fn agentwire_calls<A, C>(addr: A, codec: C, concurrency: usize, calls: usize) -> Duration
where
    A: Address,
    A::Server: Server<Addr = A>,
    C: Codec,
{
    runtime().block_on(async {
        let options = ChannelOptions::with_codec(codec);
        let server = serve_add(&addr, options.clone()).await;
        let conn = open(&server.addr(), options).await;
        let elapsed = drive(Agentwire(conn.clone()), concurrency, calls).await;
        conn.close().await;
        server.close();
        elapsed
    })
}

/// The `rpc_local_c1` row's measured side (also the baseline of
/// `rpc_local_c1_traced`).
pub fn rpc_local_c1() -> Duration {
    agentwire_local(Bincode, 1)
}

fn agentwire_local<C: Codec>(codec: C, concurrency: usize) -> Duration {
    let addr = LocalNetwork::new().get_queue("rpc").unwrap();
    agentwire_calls(addr, codec, concurrency, LOCAL_CALLS)
}

/// `rpc_local_c1` as an agent's caller makes it: through a [`Proxy`] for
/// the methods under a prefix (`calc/add`), as `Container::connect` returns.
fn rpc_local_proxy_c1() -> Duration {
    #[derive(Clone)]
    struct ViaProxy(Proxy<Bincode>);

    impl Caller for ViaProxy {
        async fn call(&self, x: u64) -> u64 {
            self.0.call::<_, u64>("add", (x, 1u64)).await.unwrap()
        }
    }

    let addr = LocalNetwork::new().get_queue("proxy").unwrap();
    runtime().block_on(async {
        let options = ChannelOptions::with_codec(Bincode);
        let root = Router::new().service("calc", add_router::<Bincode>());
        let server = rpc::start_server(&addr, Arc::new(root), options.clone(), |_| {})
            .await
            .unwrap();
        let conn = open(&server.addr(), options).await;
        let elapsed = drive(ViaProxy(conn.proxy("calc")), 1, LOCAL_CALLS).await;
        conn.close().await;
        server.close();
        elapsed
    })
}

/// The channel under the RPC, alone: a request `x` answered with `x + 1`
/// by a loop that receives and replies (what the RPC layer adds is the
/// difference to `rpc_local_c1`).
fn channel_local_c1() -> Duration {
    use agentwire::channel::Channel;

    #[derive(Clone)]
    struct Raw(Channel<Bincode>);

    impl Caller for Raw {
        async fn call(&self, x: u64) -> u64 {
            self.0.request::<_, u64>(&x).await.unwrap()
        }
    }

    let addr = LocalNetwork::new().get_queue("channel").unwrap();
    runtime().block_on(async {
        let options = ChannelOptions::new();
        let server = Channel::start_server(
            &addr,
            |channel: Channel<Bincode>| async move {
                while let Ok(request) = channel.recv().await {
                    let x: u64 = request.content().unwrap();
                    let _ = request.reply(&(x + 1)).await;
                }
            },
            options.clone(),
        )
        .await
        .unwrap();
        let channel = Channel::open_connection(&server.addr(), options)
            .await
            .unwrap();
        let elapsed = drive(Raw(channel.clone()), 1, LOCAL_CALLS).await;
        channel.close().await;
        server.close();
        elapsed
    })
}

fn agentwire_tcp(concurrency: usize) -> Duration {
    agentwire_calls(loopback(), Bincode, concurrency, TCP_CALLS)
}

/// The in-process baseline, calling side: a request and its reply sender
/// through a bounded mpsc channel to one serving task.
#[derive(Clone)]
struct Mpsc(mpsc::Sender<(u64, oneshot::Sender<u64>)>);

impl Caller for Mpsc {
    async fn call(&self, x: u64) -> u64 {
        let (tx, rx) = oneshot::channel();
        self.0.send((x, tx)).await.unwrap();
        rx.await.unwrap()
    }
}

/// The mpsc baseline, one call outstanding.
pub fn mpsc_c1() -> Duration {
    mpsc_baseline(1)
}

/// The mpsc baseline, 64 calls outstanding.
pub fn mpsc_c64() -> Duration {
    mpsc_baseline(C64)
}

fn mpsc_baseline(concurrency: usize) -> Duration {
    runtime().block_on(async {
        let (tx, mut rx) = mpsc::channel::<(u64, oneshot::Sender<u64>)>(1024);
        tokio::spawn(async move {
            while let Some((x, reply)) = rx.recv().await {
                let _ = reply.send(x + 1);
            }
        });
        drive(Mpsc(tx), concurrency, LOCAL_CALLS).await
    })
}

/// `n` length-prefixed frames of [`PAYLOAD`] bytes, back to back.
fn frames(n: usize) -> Vec<u8> {
    let mut frame = (PAYLOAD as u32).to_be_bytes().to_vec();
    frame.resize(4 + PAYLOAD, 7);
    frame.repeat(n)
}

/// A raw echo server: answers every complete frame it reads with one frame,
/// all frames of one read in one write.
fn spawn_echo(mut server: tokio::net::TcpStream, batch: usize) {
    tokio::spawn(async move {
        let replies = frames(batch);
        let mut buf = BytesMut::with_capacity(64 * 1024);
        loop {
            match server.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let mut n = decode_all(&mut buf);
            while n > 0 {
                let k = n.min(batch);
                if server
                    .write_all(&replies[..k * (4 + PAYLOAD)])
                    .await
                    .is_err()
                {
                    return;
                }
                n -= k;
            }
        }
    });
}

/// Raw TCP, one frame out and one back at a time.
pub fn tcp_ping_pong() -> Duration {
    raw_batches(1)
}

/// Raw TCP, 64 frames out in one write, 64 back, then the next 64.
pub fn tcp_pipelined() -> Duration {
    raw_batches(C64)
}

fn raw_batches(batch: usize) -> Duration {
    raw_batches_of(batch, TCP_CALLS)
}

/// Raw TCP, `calls` frames in batches of `batch`.
pub fn raw_batches_of(batch: usize, calls: usize) -> Duration {
    runtime().block_on(async {
        let (mut client, server) = raw_pair(None).await;
        spawn_echo(server, batch);
        let requests = frames(batch);
        let mut replies = vec![0u8; requests.len()];
        let start = Instant::now();
        for _ in 0..calls / batch {
            client.write_all(&requests).await.unwrap();
            client.read_exact(&mut replies).await.unwrap();
        }
        start.elapsed()
    })
}
