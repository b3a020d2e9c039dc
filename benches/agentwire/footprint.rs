//! Heap footprints (`_bytes` rows, lower is better): per idle connection,
//! per agent, and the server's growth under a flood of requests.
//!
//! Each counts live heap bytes of the whole process with [`heap`]; what
//! the bench itself keeps (handles, the flood's bytes) is allocated before
//! the count starts.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentwire::channel::{Bincode, ChannelOptions, Codec, MessageKind};
use agentwire::rpc::{self, NoKwargs, Router};
use agentwire::{Container, ContainerOptions};
use tokio::sync::oneshot;
use transport_api::Server;
use transport_local::LocalNetwork;

use crate::heap;
use crate::rpc::{add_router, open, serve_add, Agentwire, Caller};
use crate::tcp::loopback;
use crate::transfer::runtime;
use crate::Footprint;

const IDLE_CONNECTIONS: usize = 1_000;
const AGENTS: usize = 10_000;
const FLOOD: usize = 100_000;
/// The size of each flood request's reply: 100 MB in all, more than the
/// kernel's socket buffers take, so that the server's limits are reached.
const FLOOD_REPLY: usize = 1024;
/// The longest a flood may take; then it is measured as it stands.
const FLOOD_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest an idle-connection or agent round may take.
const ROUND_TIMEOUT: Duration = Duration::from_secs(60);
/// A flood ends early once for this long the server handled no request and
/// the heap made no new peak: the client wrote everything, or the server
/// stopped reading from it at its limits.
const FLOOD_QUIET: Duration = Duration::from_millis(500);

pub fn footprints() -> Vec<Footprint> {
    vec![
        Footprint {
            name: "tcp_idle_conn_bytes",
            measured: idle_tcp_connection,
            ceiling: 64.0 * 1024.0,
            what: "heap per idle agentwire RPC TCP connection after one call, both ends, 1,000 connections",
            rounds: 3,
        },
        Footprint {
            name: "agents_10k_bytes",
            measured: agent,
            ceiling: 1024.0,
            what: "heap per agent (a one-method Router), 10,000 in one Container",
            rounds: 3,
        },
        Footprint {
            name: "flood_server_bytes",
            measured: flood,
            ceiling: 16.0 * 1024.0 * 1024.0,
            what: "peak heap growth while a raw client sends 100,000 bincode RPC requests (1 KiB replies), reading none",
            rounds: 3,
        },
    ]
}

/// Runs one round on a fresh runtime, giving up after [`ROUND_TIMEOUT`]:
/// then the row reads infinite bytes (`OVER`), and the run goes on.
fn bounded(name: &str, round: impl std::future::Future<Output = f64>) -> f64 {
    runtime().block_on(async {
        tokio::time::timeout(ROUND_TIMEOUT, round)
            .await
            .unwrap_or_else(|_| {
                eprintln!("  {name}: gave up after {ROUND_TIMEOUT:?}");
                f64::INFINITY
            })
    })
}

/// Opens [`IDLE_CONNECTIONS`] RPC connections over TCP, one call each, and
/// returns the heap they hold per connection (client and server side).
fn idle_tcp_connection() -> f64 {
    bounded("tcp_idle_conn_bytes", async {
        let options = ChannelOptions::new();
        let server = serve_add(&loopback(), options.clone()).await;
        let addr = server.addr();
        let mut conns = Vec::with_capacity(IDLE_CONNECTIONS);
        let before = heap::live();
        for x in 0..IDLE_CONNECTIONS as u64 {
            let conn = Agentwire(open(&addr, options.clone()).await);
            assert_eq!(conn.call(x).await, x + 1);
            conns.push(conn);
        }
        // Let both ends finish what the calls left (replies, wakeups).
        tokio::time::sleep(Duration::from_millis(50)).await;
        let after = heap::live();
        for conn in &conns {
            conn.0.close().await;
        }
        server.close();
        heap::growth(before, after) / IDLE_CONNECTIONS as f64
    })
}

/// Registers [`AGENTS`] one-method agents in a container and returns the
/// heap it holds per agent (the returned `AgentInfo`s are dropped).
fn agent() -> f64 {
    bounded("agents_10k_bytes", async {
        let options = ContainerOptions::new()
            .codec(Bincode)
            .local_network(LocalNetwork::new());
        let container = Container::create_with("local://agents", options)
            .await
            .unwrap();
        let before = heap::live();
        for _ in 0..AGENTS {
            container.register("Calc", add_router::<Bincode>()).unwrap();
        }
        let after = heap::live();
        container.shutdown().await;
        heap::growth(before, after) / AGENTS as f64
    })
}

/// Frames of `count` requests `add(1, 2)` with ids `first..`, in the bytes
/// agentwire's bincode codec writes: `[0, id, ["add", [1, 2], {}]]`.
fn requests(method: &str, first: u64, count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(count * 24);
    let mut payload = Vec::new();
    for id in first..first + count as u64 {
        payload.clear();
        let content = (method, &[1u64, 2][..], NoKwargs);
        Bincode
            .encode_message(MessageKind::Request, id, &content, &mut payload)
            .unwrap();
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&payload);
    }
    out
}

/// Sends one request and checks its reply is `3`: the flood's bytes are
/// valid calls.
fn check_one(stream: &mut TcpStream) {
    stream.write_all(&requests("add", 0, 1)).unwrap();
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).unwrap();
    let mut payload = vec![0u8; u32::from_be_bytes(header) as usize];
    stream.read_exact(&mut payload).unwrap();
    let reply = Bincode.decode_message(payload.into()).unwrap();
    assert_eq!((reply.kind, reply.id), (MessageKind::Result, 0));
    assert_eq!(Bincode.decode_content::<u64>(&reply.content).unwrap(), 3);
}

/// An agentwire RPC server over TCP; a raw client on a thread of its own
/// (blocking I/O, allocating nothing while it writes) sends [`FLOOD`]
/// requests whose replies are [`FLOOD_REPLY`] bytes each, and never reads
/// one. Returns the peak heap growth from
/// just before the first flood byte until the server handled every request,
/// went quiet, or [`FLOOD_TIMEOUT`] passed.
fn flood() -> f64 {
    let handled = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&handled);
    let router: Router<Bincode> = Router::new()
        .method("add", |(a, b): (u64, u64)| async move {
            Ok::<_, Infallible>(a + b)
        })
        .method("big", move |(_, _): (u64, u64)| {
            counter.fetch_add(1, Ordering::Relaxed);
            async move { Ok::<_, Infallible>(vec![7u8; FLOOD_REPLY]) }
        });
    let rt = runtime();
    let (growth, client) = rt.block_on(async {
        let server =
            rpc::start_server(&loopback(), Arc::new(router), ChannelOptions::new(), |_| {})
                .await
                .unwrap();
        let addr = server.addr().socket_addr().unwrap();
        let (ready_tx, ready_rx) = oneshot::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let client = std::thread::spawn(move || {
            let flood = requests("big", 1, FLOOD);
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.set_nodelay(true).unwrap();
            stream.set_write_timeout(Some(FLOOD_TIMEOUT)).unwrap();
            stream.set_read_timeout(Some(FLOOD_TIMEOUT)).unwrap();
            check_one(&mut stream);
            let _ = ready_tx.send(());
            if go_rx.recv().is_ok() {
                // An error (timeout, reset) just ends the flood.
                let _ = stream.write_all(&flood);
            }
            stream
        });
        if !matches!(
            tokio::time::timeout(FLOOD_TIMEOUT, ready_rx).await,
            Ok(Ok(()))
        ) {
            eprintln!("  flood: the client could not make a first call");
            server.close();
            return (f64::INFINITY, client);
        }
        let start = Instant::now();
        let before = heap::live();
        heap::reset_peak();
        go_tx.send(()).unwrap();
        // Progress: requests handled, or a new heap peak.
        let (mut seen, mut high, mut changed) = (0, 0, Instant::now());
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let (now, peak) = (handled.load(Ordering::Relaxed), heap::peak());
            if now != seen || peak != high {
                (seen, high, changed) = (now, peak, Instant::now());
            }
            // Done when nothing moves: the flood is over, or the server
            // stopped reading from the client (its limits reached).
            let quiet = changed.elapsed() > FLOOD_QUIET;
            if now > FLOOD || quiet || start.elapsed() > FLOOD_TIMEOUT {
                break;
            }
        }
        let peak = heap::peak();
        eprintln!(
            "  flood: {} of {FLOOD} requests handled in {:.2} s, peak +{:.1} MiB",
            seen.saturating_sub(1),
            start.elapsed().as_secs_f64(),
            heap::growth(before, peak) / (1024.0 * 1024.0)
        );
        server.close();
        (heap::growth(before, peak), client)
    });
    // Dropping the runtime drops the server's connection and tasks; the
    // client's blocked write then fails (or times out) and it ends.
    drop(rt);
    drop(client.join());
    growth
}
