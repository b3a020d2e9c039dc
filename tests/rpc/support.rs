//! Helpers for the RPC tests: addresses of every backend, a test router.

#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use agentwire::channel::Codec;
use agentwire::rpc::Router;
use serde::Deserialize;
use transport_local::{LocalNetwork, LocalQueue};
use transport_tcp::{TcpAddr, UnixAddr};

/// Runs a scenario with a deadline, so a hang fails instead of blocking CI.
pub async fn run(scenario: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(30), scenario)
        .await
        .expect("scenario timed out");
}

pub fn local() -> LocalQueue {
    LocalNetwork::new().get_queue("rpc-test").expect("valid id")
}

pub fn tcp() -> TcpAddr {
    "tcp://127.0.0.1:0".parse().expect("valid tcp address")
}

/// A fresh directory for Unix sockets, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "agentwire-rpc-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn sock(&self) -> UnixAddr {
        UnixAddr::new(self.0.join("s.sock")).expect("valid unix address")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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

/// For each scenario `module::name`, a module `name` with one test per
/// backend: `local`, `tcp` and `unix`.
#[macro_export]
macro_rules! on_every_backend {
    ($($module:ident :: $name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[tokio::test]
            async fn local() {
                support::run($module::$name(support::local())).await;
            }

            #[tokio::test]
            async fn tcp() {
                support::run($module::$name(support::tcp())).await;
            }

            #[tokio::test]
            async fn unix() {
                let dir = support::TempDir::new();
                support::run($module::$name(dir.sock())).await;
            }
        }
    )*};
}
