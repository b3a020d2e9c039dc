//! Helpers shared by the channel tests: addresses of every backend, a raw
//! byte-level peer, a small request service, and the aiomas (Python) helper.

#![allow(dead_code)]

#[path = "../../shared/aiomas.rs"]
pub mod aiomas;
#[path = "../../shared/backends.rs"]
mod backends;
#[path = "../../../transport-mqtt/tests/mqtt/brokers.rs"]
mod brokers;
#[path = "../../tcp/support.rs"]
mod tcp_support;
pub use backends::*;

use std::sync::{Arc, Mutex};

use agentwire::channel::{Channel, ChannelError, Codec, Request};
use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use transport_api::{Address, Protocol, ProtocolHandle, SharedTransport};

/// What a [`Raw`] peer has seen so far.
#[derive(Debug, Clone, Default)]
pub struct RawState {
    pub data: Vec<u8>,
    pub lost: bool,
    pub error: Option<String>,
}

/// A byte-level peer: records what it receives and when it is disconnected.
/// Optionally pauses reading as soon as it is connected.
#[derive(Debug)]
pub struct Raw {
    state: watch::Sender<RawState>,
    transport: Arc<Mutex<Option<SharedTransport>>>,
    pause_reading: bool,
}

/// The observing end of a [`Raw`] peer.
#[derive(Debug, Clone)]
pub struct RawView {
    pub state: watch::Receiver<RawState>,
    pub transport: Arc<Mutex<Option<SharedTransport>>>,
}

impl Raw {
    pub fn new(pause_reading: bool) -> (Raw, RawView) {
        let (tx, rx) = watch::channel(RawState::default());
        let transport = Arc::new(Mutex::new(None));
        let raw = Raw {
            state: tx,
            transport: Arc::clone(&transport),
            pause_reading,
        };
        (
            raw,
            RawView {
                state: rx,
                transport,
            },
        )
    }
}

impl Protocol for Raw {
    fn connection_made(&mut self, transport: SharedTransport) {
        if self.pause_reading {
            transport.pause_reading();
        }
        *self.transport.lock().expect("not poisoned") = Some(transport);
    }

    fn data_received(&mut self, data: Bytes) {
        self.state.send_modify(|s| s.data.extend_from_slice(&data));
    }

    fn connection_lost(&mut self, error: Option<transport_api::Error>) {
        self.transport.lock().expect("not poisoned").take();
        self.state.send_modify(|s| {
            s.lost = true;
            s.error = error.map(|e| e.to_string());
        });
    }
}

impl RawView {
    /// Waits until the connection is lost.
    pub async fn lost(&mut self) -> RawState {
        self.state
            .wait_for(|s| s.lost)
            .await
            .expect("raw peer alive")
            .clone()
    }

    /// Waits until at least `n` bytes arrived.
    pub async fn received(&mut self, n: usize) -> Vec<u8> {
        self.state
            .wait_for(|s| s.data.len() >= n || s.lost)
            .await
            .expect("raw peer alive")
            .data
            .clone()
    }

    pub fn transport(&self) -> Option<SharedTransport> {
        self.transport.lock().expect("not poisoned").clone()
    }
}

/// Connects a [`Raw`] peer to `addr`.
pub async fn raw_connect<A: Address>(addr: &A) -> (A::Transport, RawView) {
    raw_connect_with(addr, false).await
}

/// Connects a [`Raw`] peer to `addr`, its reading paused if `paused`.
pub async fn raw_connect_with<A: Address>(addr: &A, paused: bool) -> (A::Transport, RawView) {
    let (raw, view) = Raw::new(paused);
    let (transport, _handle): (A::Transport, ProtocolHandle<Raw>) =
        addr.create_connection(raw).await.expect("raw connection");
    (transport, view)
}

/// A frame with `payload`.
pub fn frame(payload: &[u8]) -> Bytes {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    Bytes::from(out)
}

/// The request every test service understands.
pub type Op = (String, i64);

pub fn op(name: &str, n: i64) -> Op {
    (name.to_owned(), n)
}

/// A server-side channel loop: takes requests and handles each in its own
/// task; when `recv` fails, reports the error on `errors` and returns.
pub async fn service<C: Codec>(channel: Channel<C>, errors: mpsc::Sender<ChannelError>) {
    loop {
        match channel.recv().await {
            Ok(request) => {
                tokio::spawn(handle(request));
            }
            Err(e) => {
                let _ = errors.send(e).await;
                return;
            }
        }
    }
}

/// Handles one request of [`service`]:
/// `double n` → `2n`; `text n` → `"n=<n>"`; `fail n` → an exception;
/// `drop` → dropped unanswered; `hold` → never answered (kept forever);
/// `big n` → a reply of `n` bytes.
pub async fn handle<C: Codec>(request: Request<C>) {
    let (name, n): Op = match request.content() {
        Ok(op) => op,
        Err(e) => {
            let _ = request.fail(e).await;
            return;
        }
    };
    let _ = match name.as_str() {
        "double" => request.reply(&(n * 2)).await,
        "text" => request.reply(&format!("n={n}")).await,
        "fail" => request.fail(format!("failing on purpose: {n}")).await,
        "drop" => {
            drop(request);
            Ok(())
        }
        "hold" => {
            std::future::pending::<()>().await;
            drop(request);
            Ok(())
        }
        "big" => {
            let size = usize::try_from(n).unwrap_or(0);
            request.reply(&vec![7u8; size]).await
        }
        other => request.fail(format!("unknown op {other:?}")).await,
    };
}

/// Starts a [`service`] server on `addr`; returns it, its real address and
/// the receiver of the errors its channels ended with.
pub async fn serve<A, C>(
    addr: &A,
    options: agentwire::channel::ChannelOptions<C>,
) -> (A::Server, A, mpsc::Receiver<ChannelError>)
where
    A: Address,
    A::Server: transport_api::Server<Addr = A>,
    C: Codec,
{
    use transport_api::Server as _;
    let (tx, rx) = mpsc::channel(16);
    let server = Channel::start_server(addr, move |ch| service(ch, tx.clone()), options)
        .await
        .expect("server starts");
    let real = server.addr();
    (server, real, rx)
}
