//! Two containers on local queues, whose agents call each other.
//!
//! `ping` in container A calls `pong` in container B, which calls back
//! `count` in A. Run with `cargo run --example container_local`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use agentwire::{Container, ContainerOptions, Router};
use transport_local::LocalNetwork;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A network of its own: `local://` URLs are resolved in it.
    let net = LocalNetwork::new();
    let options = ContainerOptions::new().local_network(net);
    let a = Container::create_with("local://a", options.clone()).await?;
    let b = Container::create_with("local://b", options).await?;

    // Agent 0 of A counts how often it was called.
    let calls = Arc::new(AtomicU64::new(0));
    let counter = Router::new().method("count", move |()| {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        async move { Ok::<_, Infallible>(n) }
    });
    let counter = a.register("Counter", counter)?;

    // Agent 0 of B answers `pong(n)` by calling A's counter back.
    let b_handle = b.clone();
    let counter_url = counter.url().to_owned();
    let ponger = Router::new().method("pong", move |(n,): (u64,)| {
        let (b, url) = (b_handle.clone(), counter_url.clone());
        async move {
            let counter = b.connect(&url).await.map_err(|e| e.to_string())?;
            let count: u64 = counter.call("count", ()).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(format!("pong {n} (counter at {count})"))
        }
    });
    let ponger = b.register("Ponger", ponger)?;
    println!("{} is a {}", counter.url(), counter.class_name());
    println!("{} is a {}", ponger.url(), ponger.class_name());

    // A calls B's agent; B's agent calls A's agent back.
    let proxy = a.connect(ponger.url()).await?;
    for n in 1..=3 {
        let answer: String = proxy.call("pong", (n,)).await?;
        println!("ping {n} -> {answer}");
    }

    // A missing agent is an error, not a proxy.
    match a.connect("local://b/7").await {
        Err(e) => println!("as expected: {e}"),
        Ok(_) => println!("unexpected: agent 7 exists"),
    }

    a.shutdown().await;
    b.shutdown().await;
    Ok(())
}
