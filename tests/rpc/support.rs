//! Helpers for the RPC tests: addresses of every backend, a test router.

#![allow(dead_code)]

#[path = "../shared/backends.rs"]
mod backends;
pub use backends::*;
#[path = "../shared/raw_peer.rs"]
pub mod raw_peer;

use std::convert::Infallible;

use agentwire::channel::Codec;
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
