//! A third attack pass on containers: a `connect` that completes, or is
//! answered, while `shutdown` runs.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use agentwire::{Container, ContainerOptions};
use transport_local::LocalNetwork;

use crate::support::{calc, local_pair};

/// Polls `fut` once.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut *fut).poll(cx))).await
}

/// Two `connect`s to the same container: the first holds the cache entry
/// while it retries (the container is not up yet), the second waits for
/// the entry. When the first is done, the entry is handed to the second; a
/// `shutdown` that ran before the second was polled again found the entry
/// locked and skipped it, so the cached connection was never closed: the
/// first connect's proxy still worked after shutdown, and so did the
/// second connect.
#[tokio::test(flavor = "current_thread")]
async fn connect_completing_during_shutdown() {
    let options = ContainerOptions::new().local_network(LocalNetwork::new());
    let a = Container::create_with("local://a", options.clone())
        .await
        .expect("a starts");
    let url = "local://b/0";
    let retry = Some(Duration::from_secs(10));
    let mut first = pin!(a.connect_with_timeout(url, retry));
    let mut second = pin!(a.connect_with_timeout(url, retry));
    assert!(poll_once(&mut first).await.is_pending(), "retrying");
    assert!(
        poll_once(&mut second).await.is_pending(),
        "waits for the entry"
    );
    let b = Container::create_with("local://b", options)
        .await
        .expect("b starts");
    b.register("Calc", calc()).expect("register");
    let proxy = first.await.expect("first connect");
    assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);

    tokio::time::timeout(Duration::from_secs(10), a.shutdown())
        .await
        .expect("shutdown returns");
    // Every connection of the shut-down container is closed: calls fail.
    let after = tokio::time::timeout(Duration::from_secs(10), proxy.call::<_, i64>("add", (1, 2)))
        .await
        .expect("fails at once");
    assert!(
        after.is_err(),
        "a call over a shut-down container's connection"
    );
    let late = tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .expect("returns");
    assert!(
        late.is_err(),
        "a connect that completes after shutdown fails"
    );
    b.shutdown().await;
}

/// A `connect` whose `validate_aid` was answered while `shutdown` ran
/// returned a proxy over the connection that shutdown had just closed
/// (dead on arrival, after the container was shut down). It fails with
/// `ShutDown` now.
#[tokio::test(flavor = "current_thread")]
async fn connect_in_flight_during_shutdown() {
    let options = ContainerOptions::new().local_network(LocalNetwork::new());
    let (a, b) = local_pair(options).await;
    let agent = b.register("Calc", calc()).expect("register");
    let mut connect = pin!(a.connect(agent.url()));
    assert!(
        poll_once(&mut connect).await.is_pending(),
        "waits for validate_aid"
    );
    // b answers, and the answer waits for the connect in a's channel.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    tokio::time::timeout(Duration::from_secs(10), a.shutdown())
        .await
        .expect("shutdown returns");
    let late = tokio::time::timeout(Duration::from_secs(10), connect)
        .await
        .expect("returns");
    assert!(
        matches!(late, Err(agentwire::ContainerError::ShutDown)),
        "{:?}",
        late.map(|p| p.connection().is_closed())
    );
    b.shutdown().await;
}
