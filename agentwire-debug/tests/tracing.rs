//! The recorder's events reach `tracing`. A test binary of its own: a
//! `tracing` callsite caches which subscribers want it, process-wide, so
//! tests running beside it on other threads would muddle what this one
//! sees.

use std::time::Duration;

use agentwire::clock::ExternalClock;
use agentwire::{Container, ContainerOptions, Router};
use agentwire_debug::{Link, Sim, Trace};
use transport_local::LocalNetwork;

async fn scenario() -> Trace {
    let sim = Sim::builder()
        .external_clock(ExternalClock::new())
        .default_link(Link::new().latency(Duration::from_millis(5)))
        .build();
    let base = ContainerOptions::new().local_network(LocalNetwork::new());
    let a = Container::create_with("local://a", sim.node("a").container_options(base.clone()))
        .await
        .expect("a starts");
    let b = Container::create_with("local://b", sim.node("b").container_options(base))
        .await
        .expect("b starts");
    let agent = b
        .register(
            "Calc",
            Router::new().method("add", |(x, y): (i64, i64)| async move {
                Ok::<_, std::convert::Infallible>(x + y)
            }),
        )
        .expect("registers");
    sim.run(async {
        let proxy = a.connect(agent.url()).await.expect("connects");
        let sum: i64 = proxy.call("add", (1, 2)).await.expect("adds");
        assert_eq!(sum, 3);
    })
    .await;
    a.shutdown().await;
    b.shutdown().await;
    sim.trace()
}

/// Counts the `agentwire_debug` events a subscriber sees.
struct Count(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl tracing::Subscriber for Count {
    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        meta.target() == "agentwire_debug"
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target() == "agentwire_debug" {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn every_recorded_event_is_a_tracing_event() {
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let trace = tracing::subscriber::with_default(Count(seen.clone()), || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(scenario())
    });
    assert!(!trace.events.is_empty());
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::SeqCst),
        trace.events.len()
    );
}
