//! A third attack pass on containers: a `connect` that completes while
//! `shutdown` runs, and containers and channels on a tokio runtime built
//! without timers (whose grace periods must still be bounded, and nothing
//! may panic).

use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use agentwire::channel::{Channel, ChannelOptions};
use agentwire::rpc::Router;
use agentwire::{Container, ContainerOptions};
use bytes::Bytes;
use tokio::sync::mpsc;
use transport_api::{Address, Protocol, SharedTransport, Transport};
use transport_local::LocalNetwork;

use crate::support::calc;
use crate::support::raw_peer::request_frame;

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
    let a = Container::create_with("local://a", options.clone())
        .await
        .expect("a starts");
    let b = Container::create_with("local://b", options)
        .await
        .expect("b starts");
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

/// Runs `scenario` on a current-thread runtime built without timers, in a
/// thread of its own, and fails if it does not finish within `bound` (or
/// panics).
fn on_a_runtime_without_timers<F, Fut>(bound: Duration, scenario: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime without timers");
        rt.block_on(scenario());
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(bound)
        .expect("the scenario finishes (without panicking) in time");
}

/// Never reads, and reports its connection's end.
struct DeafUntilLost {
    made: mpsc::UnboundedSender<SharedTransport>,
    lost: mpsc::UnboundedSender<()>,
}

impl Protocol for DeafUntilLost {
    fn connection_made(&mut self, transport: SharedTransport) {
        transport.pause_reading();
        let _ = self.made.send(transport);
    }
    fn data_received(&mut self, _: Bytes) {}
    fn connection_lost(&mut self, _: Option<transport_api::Error>) {
        let _ = self.lost.send(());
    }
}

/// On a runtime without timers, a container with agents, calls and a peer
/// that does not read shuts down within its grace (it used to panic:
/// `tokio::time::timeout` needs timers).
#[test]
fn container_shutdown_without_timers() {
    on_a_runtime_without_timers(Duration::from_secs(20), || async {
        let net = LocalNetwork::new();
        let options = ContainerOptions::new()
            .local_network(net.clone())
            .shutdown_grace(Duration::from_millis(200));
        let a = Container::create_with("local://a", options.clone())
            .await
            .expect("a starts");
        let b = Container::create_with("local://b", options)
            .await
            .expect("b starts");
        let agent = b
            .register(
                "Calc",
                Router::new().method("add", |(x, y): (i64, i64)| async move {
                    Ok::<_, Infallible>(x + y)
                }),
            )
            .expect("register");
        let proxy = a.connect(agent.url()).await.expect("connects");
        assert_eq!(proxy.call::<_, i64>("add", (2, 3)).await.expect("add"), 5);
        // A peer that sends requests and never takes the replies: b cannot
        // flush to it, so its shutdown has to abort after the grace.
        let (made_tx, mut made) = mpsc::unbounded_channel();
        let (lost_tx, mut lost) = mpsc::unbounded_channel();
        let queue = net.get_queue("b").expect("queue");
        let (transport, _) = queue
            .create_connection(DeafUntilLost {
                made: made_tx,
                lost: lost_tx,
            })
            .await
            .expect("deaf peer connects");
        let _shared = made.recv().await.expect("connected");
        for id in 0..3 {
            transport
                .write(request_frame(id, "validate_aid", &serde_json::json!(["0"])))
                .expect("writes");
        }
        // Let b take them.
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        b.shutdown().await;
        lost.recv()
            .await
            .expect("b aborted the deaf peer's connection");
        a.shutdown().await;
        drop(transport);
    });
}

/// On a runtime without timers, dropping a channel whose peer does not read
/// still aborts it after the close grace (the drop's task used to panic on
/// `tokio::time::timeout`, leaving the connection flushing for ever).
#[test]
fn dropped_channel_without_timers() {
    on_a_runtime_without_timers(Duration::from_secs(20), || async {
        let queue = LocalNetwork::new().get_queue("deaf").expect("queue");
        let (made_tx, mut made) = mpsc::unbounded_channel();
        let (lost_tx, mut lost) = mpsc::unbounded_channel();
        let made_tx = Arc::new(made_tx);
        let lost_tx = Arc::new(lost_tx);
        let _server = queue
            .create_server(move || DeafUntilLost {
                made: (*made_tx).clone(),
                lost: (*lost_tx).clone(),
            })
            .await
            .expect("deaf server");
        let options = ChannelOptions::new().close_grace(Duration::from_millis(100));
        let channel: Channel = Channel::open_connection(&queue, options)
            .await
            .expect("connects");
        let _server_side = made.recv().await.expect("accepted");
        // A request the server never reads, so closing cannot flush.
        let pending = {
            let channel = channel.clone();
            tokio::spawn(async move { channel.request::<_, ()>(&vec![7u8; 64]).await })
        };
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        drop(channel);
        pending.abort();
        lost.recv().await.expect("aborted after the close grace");

        // `close()` itself, too.
        let channel: Channel = Channel::open_connection(
            &queue,
            ChannelOptions::new().close_grace(Duration::from_millis(100)),
        )
        .await
        .expect("connects");
        let _server_side = made.recv().await.expect("accepted");
        let request = {
            let channel = channel.clone();
            tokio::spawn(async move { channel.request::<_, ()>(&vec![7u8; 64]).await })
        };
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        channel.close().await;
        assert!(request.await.expect("joins").is_err());
        lost.recv().await.expect("aborted after the close grace");
    });
}
