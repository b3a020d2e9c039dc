//! Helpers for the container tests: one container factory per backend, a
//! `Calc` agent, the aiomas (Python) helper.

#![allow(dead_code)]

#[path = "../shared/aiomas.rs"]
pub mod aiomas;
#[path = "../shared/backends.rs"]
mod backends;
pub use backends::{run, TempDir};

use std::convert::Infallible;

use agentwire::rpc::Router;
use agentwire::{Container, ContainerOptions};
use transport_local::LocalNetwork;

/// Where a scenario's containers live.
#[derive(Debug)]
pub enum Backend {
    Local(LocalNetwork),
    Tcp,
    Unix(TempDir),
}

impl Backend {
    pub fn local() -> Self {
        Backend::Local(LocalNetwork::new())
    }

    pub fn unix() -> Self {
        Backend::Unix(TempDir::new())
    }

    /// The options every container of the scenario uses.
    pub fn options(&self) -> ContainerOptions {
        match self {
            Backend::Local(net) => ContainerOptions::new().local_network(net.clone()),
            _ => ContainerOptions::new(),
        }
    }

    /// The address (as a URL) of the container called `name`.
    pub fn url(&self, name: &str) -> String {
        match self {
            Backend::Local(_) => format!("local://{name}"),
            Backend::Tcp => "tcp://127.0.0.1:0".to_owned(),
            Backend::Unix(dir) => format!("ipc://[{}]", dir.path().join(name).display()),
        }
    }

    /// A container called `name`.
    pub async fn container(&self, name: &str) -> Container {
        Container::create_with(self.url(name).as_str(), self.options())
            .await
            .expect("container starts")
    }
}

/// The `Calc` agent of `tests/aiomas/peer.py`, in Rust: `add`, `echo`,
/// `fail`.
pub fn calc() -> Router {
    Router::new()
        .method("add", |(a, b): (i64, i64)| async move {
            Ok::<_, Infallible>(a + b)
        })
        .method("echo", |(v,): (serde_json::Value,)| async move {
            Ok::<_, Infallible>(v)
        })
        .method("fail", |(msg,): (String,)| async move {
            Err::<(), _>(format!("ValueError: {msg}"))
        })
}
