//! Helpers for the container tests: one container factory per backend, a
//! `Calc` agent, the aiomas (Python) helper.

#![allow(dead_code)]

#[path = "../shared/aiomas.rs"]
pub mod aiomas;

use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use agentwire::rpc::Router;
use agentwire::{Container, ContainerOptions};
use transport_local::LocalNetwork;

/// Runs a scenario with a deadline, so a hang fails instead of blocking CI.
pub async fn run(scenario: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(30), scenario)
        .await
        .expect("scenario timed out");
}

/// A fresh directory, removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "agentwire-container-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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
            Backend::Unix(dir) => format!("ipc://[{}]", dir.0.join(name).display()),
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
