//! The external clock at its edges, the determinism checker with odd run
//! counts and panicking scenarios, and the recorder's bound.

use std::time::Duration;

use agentwire::clock::{Clock, ExternalClock};
use agentwire_debug::{check_determinism, EventKind, Link, Recorder, Sim, SimError, Trace};

use crate::lifecycle::{assert_well_formed, shut_down_checked};
use crate::support::{sim, world};

const BOUND: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_message_that_never_arrives_does_not_move_time_to_the_end() {
    let sim = sim(1, 10);
    sim.set_link("a", "b", Link::new().latency(Duration::MAX));
    let w = world(&sim, &["a", "b", "c"]).await;
    let clock = sim.clock();
    sim.run(tokio::time::timeout(BOUND, async {
        // a -> b never arrives: the connect waits for good.
        let stuck = sim
            .timeout(Duration::from_secs(1), w.containers[0].connect(w.agent(1)))
            .await;
        assert!(matches!(stuck, Err(SimError::Timeout { .. })));
        // Nothing else waits on the clock: a run that waits on something
        // outside must not jump time to the message's due time.
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = tx.send(());
        });
        rx.await.expect("sent");
        assert!(clock.time() < Duration::from_secs(60), "{:?}", clock.time());
        // Other links still work, and time still means something.
        let proxy = w.containers[0].connect(w.agent(2)).await.expect("connects");
        let before = clock.time();
        let sum: i64 = proxy.call("add", (1, 2)).await.expect("adds");
        assert_eq!(sum, 3);
        assert_eq!(clock.time() - before, Duration::from_millis(20));
    }))
    .await
    .expect("ends");
    shut_down_checked(&sim, &w).await;
}

#[tokio::test]
async fn a_zero_timeout_still_gives_a_ready_future_its_value() {
    let sim = sim(1, 10);
    assert_eq!(sim.timeout(Duration::ZERO, async { 7 }).await, Ok(7));
    let pending = sim
        .timeout(Duration::ZERO, std::future::pending::<()>())
        .await;
    assert_eq!(
        pending,
        Err(SimError::Timeout {
            after: Duration::ZERO
        })
    );
    let max = sim.timeout(Duration::MAX, async { 8 }).await;
    assert_eq!(max, Ok(8));
}

#[tokio::test]
async fn stepping_back_is_refused_and_two_sims_may_share_a_clock() {
    let clock = ExternalClock::new();
    let mk = |seed| {
        Sim::builder()
            .seed(seed)
            .external_clock(clock.clone())
            .default_link(Link::new().latency(Duration::from_millis(10)))
            .build()
    };
    let (s1, s2) = (mk(1), mk(2));
    let w1 = world(&s1, &["a", "b"]).await;
    let w2 = world(&s2, &["a", "b"]).await;
    let both = async {
        let p1 = w1.containers[0].connect(w1.agent(1)).await.expect("1");
        let p2 = w2.containers[0].connect(w2.agent(1)).await.expect("2");
        let (x, y) = tokio::join!(
            p1.call::<_, i64>("add", (1, 1)),
            p2.call::<_, i64>("add", (2, 2))
        );
        (x.expect("x"), y.expect("y"))
    };
    let out = tokio::time::timeout(BOUND, s1.run(s2.run(both)))
        .await
        .expect("ends");
    assert_eq!(out, (2, 4));
    let now = clock.time();
    assert!(clock.set_time(now - Duration::from_millis(5)).is_err());
    assert_eq!(clock.time(), now);
    w1.shutdown().await;
    w2.shutdown().await;
    assert_well_formed(&s1.trace());
    assert_well_formed(&s2.trace());
}

#[test]
fn the_checker_with_zero_and_one_runs() {
    let runs = std::sync::atomic::AtomicUsize::new(0);
    let scenario = || {
        runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { Trace::default() }
    };
    check_determinism(1, scenario).expect("one run agrees with itself");
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    check_determinism(0, scenario).expect("zero runs: nothing differs");
}

#[test]
fn a_scenario_that_panics_fails_the_check_clearly() {
    let run = std::sync::atomic::AtomicUsize::new(0);
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check_determinism(3, || {
            let n = run.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                let sim = sim(1, 10);
                let w = world(&sim, &["a", "b"]).await;
                sim.run(async {
                    let proxy = w.containers[0].connect(w.agent(1)).await.expect("connects");
                    let _: i64 = proxy.call("add", (1, 1)).await.expect("adds");
                    assert!(n != 1, "scenario bug in run {n}");
                })
                .await;
                w.shutdown().await;
                sim.trace()
            }
        })
    }));
    let panic = out.expect_err("the panic reaches the caller");
    let text = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    assert!(text.contains("scenario bug in run 1"), "{text}");
}

#[test]
fn a_million_events_are_kept_or_counted() {
    let kind = || EventKind::Fault {
        fault: "x".to_owned(),
    };
    let all = Recorder::new();
    for i in 0..1_000_000u64 {
        all.record(Duration::from_micros(i), kind());
    }
    assert_eq!((all.len(), all.overflow()), (1_000_000, 0));
    let few = Recorder::with_max_events(1000);
    for i in 0..1_000_000u64 {
        few.record(Duration::from_micros(i), kind());
    }
    assert_eq!((few.len(), few.overflow()), (1000, 999_000));
    let trace = few.trace();
    assert_eq!(trace.events.len(), 1000);
    assert_well_formed(&trace);
    let none = Recorder::with_max_events(0);
    assert_eq!(none.record(Duration::ZERO, kind()), 0);
    assert_eq!(none.record(Duration::ZERO, kind()), 1);
    assert!(none.trace().events.is_empty());
}

/// A typed agent that passes a token `n` hops around a ring, each hop
/// with a simulated timeout (a lossy rule drops some).
struct Hopper {
    ctx: agentwire::AgentContext,
    sim: Sim,
}

#[agentwire::agent]
impl Hopper {
    #[expose]
    async fn pass(&self, n: u32, ring: Vec<String>) -> u32 {
        if n == 0 || ring.is_empty() {
            return 0;
        }
        let next = ring[n as usize % ring.len()].clone();
        let hop = async {
            let next: HopperProxy = self.ctx.connect(&next).await.ok()?.into();
            next.pass(n - 1, ring).await.ok()
        };
        match self.sim.timeout(Duration::from_millis(200), hop).await {
            Ok(Some(k)) => k + 1,
            _ => 0,
        }
    }
}

async fn typed_ring(seed: u64) -> Trace {
    let sim = Sim::builder()
        .seed(seed)
        .external_clock(ExternalClock::new())
        .default_link(
            Link::new()
                .latency(Duration::from_millis(5))
                .jitter(Duration::from_millis(3)),
        )
        .build();
    sim.add_rule(
        agentwire_debug::Rule::new("lossy", agentwire_debug::Action::Drop)
            .path("agents/0/pass")
            .probability(0.1),
    );
    let base =
        agentwire::ContainerOptions::new().local_network(transport_local::LocalNetwork::new());
    let mut containers = Vec::new();
    let mut ring = Vec::new();
    for name in ["p", "q", "r", "s"] {
        let c = agentwire::Container::create_with(
            format!("local://{name}"),
            sim.node(name).container_options(base.clone()),
        )
        .await
        .expect("starts");
        let s = sim.clone();
        let h = c
            .register_agent_with(|ctx| Hopper { ctx, sim: s })
            .expect("registers");
        ring.push(h.url().to_owned());
        containers.push(c);
    }
    sim.run(async {
        let first: HopperProxy = containers[0]
            .connect(&ring[1])
            .await
            .expect("connects")
            .into();
        let mut tasks = Vec::new();
        for k in 0..3u32 {
            let (first, ring) = (first.clone(), ring.clone());
            tasks.push(tokio::spawn(async move { first.pass(6 + k, ring).await }));
        }
        sim.clock().sleep(Duration::from_millis(15)).await;
        sim.partition([["p", "q"], ["r", "s"]]);
        sim.clock().sleep(Duration::from_millis(30)).await;
        sim.heal();
        for t in tasks {
            let _ = t.await.expect("task");
        }
    })
    .await;
    for c in &containers {
        c.shutdown().await;
    }
    sim.trace()
}

#[test]
fn typed_agents_under_faults_replay_over_20_runs() {
    let trace = check_determinism(20, || typed_ring(11)).unwrap_or_else(|d| panic!("{d}"));
    assert!(trace.messages().count() > 10, "{trace}");
    assert_well_formed(&trace);
}

#[tokio::test]
async fn two_sims_on_one_clock_keep_each_others_time() {
    let clock = ExternalClock::new();
    let mk = |seed, ms| {
        Sim::builder()
            .seed(seed)
            .external_clock(clock.clone())
            .default_link(Link::new().latency(Duration::from_millis(ms)))
            .build()
    };
    let (s1, s2) = (mk(1, 10), mk(2, 7));
    let w1 = world(&s1, &["a", "b"]).await;
    let w2 = world(&s2, &["a", "b"]).await;
    let timed = |s: Sim, w: &crate::support::World, n: i64| {
        let c = w.containers[0].clone();
        let url = w.agent(1).to_owned();
        async move {
            s.run(async {
                let p = c.connect(&url).await.expect("connects");
                let mut spans = Vec::new();
                for i in 0..n {
                    let t0 = s.clock().time();
                    let _: i64 = p.call("add", (i, 1)).await.expect("adds");
                    spans.push(s.clock().time() - t0);
                }
                spans
            })
            .await
        }
    };
    let (x, y) = tokio::time::timeout(BOUND, async {
        tokio::join!(timed(s1.clone(), &w1, 20), timed(s2.clone(), &w2, 20))
    })
    .await
    .expect("ends");
    assert!(x.iter().all(|d| *d == Duration::from_millis(20)), "{x:?}");
    assert!(y.iter().all(|d| *d == Duration::from_millis(14)), "{y:?}");
    w1.shutdown().await;
    w2.shutdown().await;
}

#[tokio::test]
async fn a_clock_callback_that_panics_fails_the_run_instead_of_stopping_time() {
    let sim = sim(1, 10);
    let clock = sim.clock();
    let run = tokio::spawn({
        let sim = sim.clone();
        async move {
            sim.run(async {
                let _timer = clock
                    .call_in(
                        Duration::from_millis(10),
                        Box::new(|| panic!("a clock callback with a bug")),
                    )
                    .expect("scheduled");
                clock.sleep(Duration::from_secs(1)).await;
            })
            .await;
        }
    });
    let out = tokio::time::timeout(BOUND, run)
        .await
        .expect("the run ends, it does not wait for time that never comes");
    let panic = out
        .expect_err("the callback's panic reaches the run")
        .into_panic();
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(text.contains("a clock callback with a bug"), "{text}");
}

#[tokio::test]
async fn a_sim_run_moves_time_for_another_sims_traffic_on_its_clock() {
    let clock = ExternalClock::new();
    let mk = |seed, ms| {
        Sim::builder()
            .seed(seed)
            .external_clock(clock.clone())
            .default_link(Link::new().latency(Duration::from_millis(ms)))
            .build()
    };
    let (s1, s2) = (mk(1, 10), mk(2, 7));
    let w2 = world(&s2, &["a", "b"]).await;
    let spans = tokio::time::timeout(
        BOUND,
        // Only s1 runs (and has no traffic); s2's calls still take their
        // simulated time, not the time of the next deadline elsewhere.
        s1.run(async {
            let far = clock.sleep(Duration::from_secs(10));
            let p = w2.containers[0]
                .connect(w2.agent(1))
                .await
                .expect("connects");
            let mut spans = Vec::new();
            for i in 0..20 {
                let t0 = clock.time();
                let _: i64 = p.call("add", (i, 1)).await.expect("adds");
                spans.push(clock.time() - t0);
            }
            drop(far);
            spans
        }),
    )
    .await
    .expect("ends");
    assert!(
        spans.iter().all(|d| *d == Duration::from_millis(14)),
        "{spans:?}"
    );
    w2.shutdown().await;
}
