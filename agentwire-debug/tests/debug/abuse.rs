//! Rules on requests and replies under load: custom rules that panic or
//! call back into the simulation, duplicated and reordered messages under
//! 64 concurrent calls, every `validate_aid` dropped, rules changing while
//! traffic flows.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agentwire::channel::MessageKind;
use agentwire_debug::{Action, EventKind, Rule};

use crate::lifecycle::{assert_well_formed, shut_down_checked, BOUND};
use crate::support::{sim, world};

/// Runs `body` on a thread of its own with a current-thread runtime; a
/// deadlock there (a blocked thread, which no tokio timeout can end) is a
/// test failure after [`BOUND`].
fn on_own_thread<F, Fut>(body: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(body())));
        let _ = tx.send(out);
    });
    match rx.recv_timeout(BOUND) {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("the scenario hung (a thread blocked for {BOUND:?})"),
    }
}

#[test]
fn a_custom_rule_may_call_back_into_the_simulation() {
    on_own_thread(|| async {
        let sim = sim(1, 10);
        let w = world(&sim, &["a", "b"]).await;
        // Reset the link the moment validate_aid goes out: the connect
        // fails, nothing blocks.
        let s = sim.clone();
        sim.add_rule(Rule::custom("reset on validate", move |m| {
            let path = m.info.and_then(|i| i.path.as_deref());
            if path.is_some_and(|p| p.contains("validate")) {
                s.reset("a", "b");
                s.hold("a", "c");
                s.release("a", "c");
                s.add_rule(Rule::new("added by a rule", Action::Delay(Duration::ZERO)));
                s.clear_rules();
                let _ = s.trace();
            }
            None
        }));
        let out = sim
            .run(tokio::time::timeout(
                BOUND,
                w.containers[0].connect_with_timeout(w.agent(1), Some(Duration::ZERO)),
            ))
            .await
            .expect("connect ends");
        drop(out);
        shut_down_checked(&sim, &w).await;
    });
}

#[tokio::test]
async fn a_custom_rule_that_panics_leaves_the_message_alone() {
    let sim = sim(1, 10);
    sim.add_rule(Rule::custom("boom", |m| {
        if m.info
            .is_some_and(|i| i.path.as_deref() == Some("agents/0/add"))
        {
            panic!("a rule with a bug");
        }
        None
    }));
    let w = world(&sim, &["a", "b"]).await;
    let sum = sim
        .run(tokio::time::timeout(BOUND, async {
            let proxy = w.containers[0].connect(w.agent(1)).await.expect("connects");
            proxy.call::<_, i64>("add", (2, 3)).await
        }))
        .await
        .expect("the call ends");
    assert_eq!(sum.expect("adds"), 5);
    let trace = sim.trace();
    assert!(
        trace.events.iter().any(|e| matches!(&e.kind,
            EventKind::Rule { rule, action, .. } if rule == "boom" && action.contains("a rule with a bug"))),
        "{trace}"
    );
    assert_well_formed(&trace);
    w.shutdown().await;
}

#[tokio::test]
async fn duplicated_replies_under_64_concurrent_calls_go_to_their_callers() {
    for action in [Action::Duplicate, Action::Reorder] {
        let sim = sim(4, 1);
        sim.add_rule(
            Rule::new("replies", action)
                .path("agents/*")
                .kind(MessageKind::Result)
                .probability(0.5),
        );
        let w = world(&sim, &["a", "b"]).await;
        let results = sim
            .run(tokio::time::timeout(BOUND, async {
                let proxy = w.containers[0].connect(w.agent(1)).await.expect("connects");
                let calls = (0..64i64).map(|i| {
                    let proxy = proxy.clone();
                    let sim = sim.clone();
                    async move {
                        sim.timeout(
                            Duration::from_secs(1),
                            proxy.call::<_, i64>("add", (i, 1000)),
                        )
                        .await
                        .map(|r| r.expect("no error"))
                    }
                });
                let all = futures_join_all(calls).await;
                // The connection is still usable (a reordered reply waits
                // for the next one, so this one goes without the rule).
                sim.clear_rules();
                let after: i64 = proxy.call("add", (1, 1)).await.expect("adds");
                (all, after)
            }))
            .await
            .unwrap_or_else(|_| panic!("{action}: all calls end\n{}", sim.trace()));
        let (all, after) = results;
        assert_eq!(after, 2);
        for (i, r) in all.into_iter().enumerate() {
            if let Ok(v) = r {
                assert_eq!(v, i as i64 + 1000, "{action}: call {i} got another's reply");
            }
        }
        w.shutdown().await;
        assert_well_formed(&sim.trace());
    }
}

/// `join_all` without the futures crate: spawn-free, in order.
async fn futures_join_all<F: std::future::Future>(
    futs: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futs {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

#[tokio::test]
async fn duplicated_requests_run_twice_and_the_connection_goes_on() {
    let sim = sim(4, 1);
    sim.add_rule(Rule::new("twice", Action::Duplicate).path("agents/0/echo"));
    let w = world(&sim, &["a", "b"]).await;
    sim.run(tokio::time::timeout(BOUND, async {
        let proxy = w.containers[0].connect(w.agent(1)).await.expect("connects");
        let calls = (0..64).map(|i| {
            let proxy = proxy.clone();
            async move {
                let s: String = proxy.call("echo", (format!("m{i}"),)).await.expect("echo");
                let n: i64 = proxy.call("add", (i, 1)).await.expect("add");
                (s, n)
            }
        });
        for (i, (s, n)) in futures_join_all(calls).await.into_iter().enumerate() {
            assert_eq!((s, n), (format!("m{i}"), i as i64 + 1));
        }
    }))
    .await
    .expect("ends");
    assert_eq!(w.echoes[1].load(Ordering::SeqCst), 128);
    w.shutdown().await;
    assert_well_formed(&sim.trace());
}

#[tokio::test]
async fn dropping_every_validate_aid_fails_connect_within_its_timeout() {
    let sim = sim(4, 1);
    sim.add_rule(Rule::new("no validate", Action::Drop).path("*validate*"));
    sim.add_rule(Rule::new("no validate", Action::Drop).kind(MessageKind::Request));
    let w = world(&sim, &["a", "b"]).await;
    let out = sim
        .run(tokio::time::timeout(
            BOUND,
            sim.timeout(Duration::from_secs(2), w.containers[0].connect(w.agent(1))),
        ))
        .await
        .expect("ends");
    assert!(out.is_err() || out.is_ok_and(|r| r.is_err()));
    shut_down_checked(&sim, &w).await;
}

#[tokio::test]
async fn rules_change_while_traffic_flows() {
    let sim = sim(6, 1);
    let w = world(&sim, &["a", "b"]).await;
    let done = Arc::new(AtomicUsize::new(0));
    sim.run(tokio::time::timeout(BOUND, async {
        let proxy = w.containers[0].connect(w.agent(1)).await.expect("connects");
        let traffic = {
            let (proxy, sim, done) = (proxy.clone(), sim.clone(), Arc::clone(&done));
            tokio::spawn(async move {
                for i in 0..200i64 {
                    if let Ok(Ok(v)) = sim
                        .timeout(
                            Duration::from_millis(50),
                            proxy.call::<_, i64>("add", (i, 1)),
                        )
                        .await
                    {
                        assert_eq!(v, i + 1);
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        };
        for round in 0..50 {
            let action = match round % 4 {
                0 => Action::Drop,
                1 => Action::Duplicate,
                2 => Action::Reorder,
                _ => Action::Delay(Duration::from_millis(3)),
            };
            sim.add_rule(Rule::new(format!("r{round}"), action).probability(0.3));
            sim.clock().sleep(Duration::from_millis(2)).await;
            sim.clear_rules();
            sim.clock().sleep(Duration::from_millis(1)).await;
        }
        traffic.await.expect("traffic task");
    }))
    .await
    .expect("ends");
    assert!(done.load(Ordering::SeqCst) > 0);
    w.shutdown().await;
    assert_well_formed(&sim.trace());
}

#[tokio::test]
async fn every_message_duplicated_under_64_concurrent_calls() {
    let sim = sim(8, 1);
    sim.add_rule(Rule::new("all twice", Action::Duplicate));
    let w = world(&sim, &["a", "b"]).await;
    sim.run(tokio::time::timeout(BOUND, async {
        let proxy = w.containers[0].connect(w.agent(1)).await.expect("connects");
        let calls = (0..64i64).map(|i| {
            let proxy = proxy.clone();
            async move { proxy.call::<_, i64>("add", (i, 1)).await }
        });
        for (i, r) in futures_join_all(calls).await.into_iter().enumerate() {
            assert_eq!(r.expect("adds"), i as i64 + 1);
        }
    }))
    .await
    .expect("ends");
    w.shutdown().await;
    assert_well_formed(&sim.trace());
}
