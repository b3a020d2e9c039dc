//! Helpers for the RPC tests: addresses of every backend, a test router.

#![allow(dead_code)]

#[path = "../shared/backends.rs"]
mod backends;
#[path = "../../transport-mqtt/tests/mqtt/brokers.rs"]
mod brokers;
#[path = "../tcp/support.rs"]
mod tcp_support;

pub use backends::*;
#[path = "../shared/raw_peer.rs"]
pub mod raw_peer;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use agentwire::channel::{Codec, Json};
use agentwire::rpc::Router;
use serde::Deserialize;

/// Keyword arguments of `greet`.
#[derive(Debug, Deserialize)]
pub struct Greeting {
    #[serde(default)]
    pub punctuation: Option<String>,
}

/// `add(a, b)`, `echo(v)`, `fail(msg)`, `greet(name, punctuation=…)` and
/// `math/deep/mul(a, b)`, `math/neg(a)`.
pub fn calc<C: Codec>() -> Router<C> {
    let deep = Router::new().method("mul", |(a, b): (i64, i64)| async move {
        Ok::<_, Infallible>(a * b)
    });
    let math = Router::new()
        .method("neg", |(a,): (i64,)| async move { Ok::<_, Infallible>(-a) })
        .service("deep", deep);
    Router::new()
        .method("add", |(a, b): (i64, i64)| async move {
            Ok::<_, Infallible>(a + b)
        })
        .method("echo", |(v,): (Vec<String>,)| async move {
            Ok::<_, Infallible>(v)
        })
        .method("fail", |(msg,): (String,)| async move {
            Err::<(), _>(format!("ValueError: {msg}"))
        })
        .method("ping", |()| async move { Ok::<_, Infallible>("pong") })
        .method_with_kwargs("greet", |(name,): (String,), kw: Greeting| async move {
            let p = kw.punctuation.unwrap_or_else(|| ".".to_owned());
            Ok::<_, Infallible>(format!("hello {name}{p}"))
        })
        .service("math", math)
}

/// Both ends of one connection whose handlers can call the peer back: a
/// server at `addr` and a client, each serving `router(its own end)`.
/// Returns once the server has its end of the connection.
pub struct BothWays<A: transport_api::Address> {
    pub server: A::Server,
    /// The client's end.
    pub conn: agentwire::rpc::Connection<agentwire::channel::Json>,
    /// The server's end.
    pub server_conn: agentwire::rpc::Connection<agentwire::channel::Json>,
}

/// Where a router's handlers find their own end of the connection.
pub type Peer =
    std::sync::Arc<std::sync::OnceLock<agentwire::rpc::Connection<agentwire::channel::Json>>>;

impl<A> BothWays<A>
where
    A: transport_api::Address,
    A::Server: transport_api::Server<Addr = A>,
{
    pub async fn open(
        addr: &A,
        router: impl Fn(Peer) -> Router<agentwire::channel::Json>,
        options: impl Fn() -> agentwire::channel::ChannelOptions<agentwire::channel::Json>,
    ) -> Self {
        use std::sync::Arc;
        use transport_api::Server;
        let server_peer = Peer::default();
        let on_conn = {
            let server_peer = Arc::clone(&server_peer);
            move |conn| {
                let _ = server_peer.set(conn);
            }
        };
        let server = agentwire::rpc::start_server(
            addr,
            Arc::new(router(Arc::clone(&server_peer))),
            options(),
            on_conn,
        )
        .await
        .expect("server starts");
        let client_peer = Peer::default();
        let conn = agentwire::rpc::Connection::open(
            &server.addr(),
            Arc::new(router(Arc::clone(&client_peer))),
            options(),
        )
        .await
        .expect("connects");
        let _ = client_peer.set(conn.clone());
        while server_peer.get().is_none() {
            tokio::task::yield_now().await;
        }
        let server_conn = server_peer.get().expect("server side").clone();
        BothWays {
            server,
            conn,
            server_conn,
        }
    }
}

/// How many `hang` handlers started, and how many of them were dropped.
#[derive(Default)]
pub struct Hangs {
    pub started: AtomicUsize,
    pub dropped: AtomicUsize,
}

/// Counts a handler's drop in [`Hangs::dropped`].
struct DropCount(Arc<Hangs>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// `hang()`, a handler that never finishes, counted in `hangs`.
pub fn hang_router(hangs: &Arc<Hangs>) -> Router<Json> {
    let hangs = Arc::clone(hangs);
    Router::new().method("hang", move |(): ()| {
        hangs.started.fetch_add(1, Ordering::SeqCst);
        let guard = DropCount(Arc::clone(&hangs));
        async move {
            let _guard = guard;
            std::future::pending::<Result<(), Infallible>>().await
        }
    })
}
