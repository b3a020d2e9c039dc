//! More seeds of the kit's `integrity` interleavings than the scenario
//! runs, on every backend here: `INTEGRITY_SEEDS=a..b` picks them (a
//! failure names its seed, which reproduces it).

use transport_api::conformance::integrity::interleaving;
use transport_api::conformance::Backend;

use crate::erased::Erased;
use crate::local::LocalBackend;
use crate::sockets::{Tcp, Tls, Unix};

/// The seeds from `INTEGRITY_SEEDS` (`a..b`), else some past the scenario's.
fn seeds() -> std::ops::Range<u64> {
    let from_env = std::env::var("INTEGRITY_SEEDS").ok().and_then(|s| {
        let (a, b) = s.split_once("..")?;
        Some(a.trim().parse().ok()?..b.trim().parse().ok()?)
    });
    from_env.unwrap_or(12..24)
}

async fn run<B: Backend>(backend: B) {
    let mut failures = Vec::new();
    for seed in seeds() {
        if let Err(f) = interleaving(&backend, seed).await {
            failures.push(f.message);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test(flavor = "current_thread")]
async fn local() {
    run(LocalBackend::default()).await;
}

#[tokio::test(flavor = "current_thread")]
async fn tcp() {
    run(Tcp).await;
}

#[tokio::test(flavor = "current_thread")]
async fn unix() {
    run(Unix).await;
}

#[tokio::test(flavor = "current_thread")]
async fn tls() {
    run(Tls).await;
}

#[tokio::test(flavor = "current_thread")]
async fn erased_tcp() {
    run(Erased(Tcp)).await;
}

/// On a multi-thread runtime the callbacks run beside the scenario.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_multi_thread() {
    run(Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_multi_thread() {
    run(LocalBackend::default()).await;
}
