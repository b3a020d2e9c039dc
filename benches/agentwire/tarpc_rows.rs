//! tarpc 0.38 on the same work and baselines as the `rpc_*` rows, with no
//! floor: where agentwire stands against the best-known Rust RPC.
//!
//! Local: tarpc's in-process `transport::channel::unbounded`. TCP: its
//! serde transport, bincode over length-delimited frames, `TCP_NODELAY` on
//! both ends as agentwire's TCP sets it. The server runs each request in a
//! task of its own, as tarpc's examples (and agentwire) do. All tarpc code
//! is in this file.

use std::time::Duration;

use futures_util::StreamExt;
use tarpc::server::{BaseChannel, Channel};
use tarpc::tokio_serde::formats::Bincode;
use tarpc::tokio_util::codec::{Framed, LengthDelimitedCodec};
use tarpc::{client, context, serde_transport};
use tokio::net::{TcpListener, TcpStream};

use crate::rpc::{
    self, drive, Caller, C64, LOCAL_CALLS, MPSC_C1, MPSC_C64, TCP_C1, TCP_C64, TCP_CALLS,
};
use crate::transfer::runtime;
use crate::{Scenario, ROUNDS};

pub fn scenarios() -> Vec<Scenario> {
    // The baselines are the `rpc_*` rows' own.
    let row = |name, work: usize, measured, baseline, baseline_name| Scenario {
        name,
        unit: "call/s",
        work: work as f64,
        measured,
        baseline,
        baseline_name,
        floor: None,
        rounds: ROUNDS,
    };
    vec![
        row(
            "tarpc_local_c1",
            LOCAL_CALLS,
            || local(1),
            rpc::mpsc_c1,
            MPSC_C1,
        ),
        row(
            "tarpc_local_c64",
            LOCAL_CALLS,
            || local(C64),
            rpc::mpsc_c64,
            MPSC_C64,
        ),
        row(
            "tarpc_tcp_c1",
            TCP_CALLS,
            || tcp(1),
            rpc::tcp_ping_pong,
            TCP_C1,
        ),
        row(
            "tarpc_tcp_c64",
            TCP_CALLS,
            || tcp(C64),
            rpc::tcp_pipelined,
            TCP_C64,
        ),
    ]
}

/// The service: `add(a, b)`.
#[tarpc::service]
trait Calc {
    async fn add(a: u64, b: u64) -> u64;
}

#[derive(Clone)]
struct CalcServer;

impl Calc for CalcServer {
    async fn add(self, _: context::Context, a: u64, b: u64) -> u64 {
        a + b
    }
}

/// tarpc, the calling side.
#[derive(Clone)]
struct Tarpc(CalcClient);

impl Caller for Tarpc {
    async fn call(&self, x: u64) -> u64 {
        self.0.add(context::current(), x, 1).await.unwrap()
    }
}

/// Serves [`CalcServer`] on `transport`, each request in a task.
fn serve<T>(transport: T)
where
    T: tarpc::Transport<tarpc::Response<CalcResponse>, tarpc::ClientMessage<CalcRequest>>
        + Send
        + 'static,
{
    let requests = BaseChannel::with_defaults(transport).execute(CalcServer.serve());
    tokio::spawn(requests.for_each(|request| async move {
        tokio::spawn(request);
    }));
}

fn local(concurrency: usize) -> Duration {
    runtime().block_on(async {
        let (client_side, server_side) = tarpc::transport::channel::unbounded();
        serve(server_side);
        let client = CalcClient::new(client::Config::default(), client_side).spawn();
        drive(Tarpc(client), concurrency, LOCAL_CALLS).await
    })
}

fn tcp(concurrency: usize) -> Duration {
    runtime().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (client, server) = (client.unwrap(), accepted.unwrap().0);
        client.set_nodelay(true).unwrap();
        server.set_nodelay(true).unwrap();
        let framed = |s| Framed::new(s, LengthDelimitedCodec::new());
        serve(serde_transport::new(framed(server), Bincode::default()));
        let transport = serde_transport::new(framed(client), Bincode::default());
        let client = CalcClient::new(client::Config::default(), transport).spawn();
        drive(Tarpc(client), concurrency, TCP_CALLS).await
    })
}
