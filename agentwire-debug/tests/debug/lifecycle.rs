//! Faults at every moment of a container's life: during `connect`, in a
//! handler, during `shutdown()`, after it; what the trace says of them.

use std::convert::Infallible;
use std::time::Duration;

use agentwire::{Container, ContainerOptions, Router};
use agentwire_debug::{EventKind, Rule, Sim, Trace};
use transport_local::LocalNetwork;

use crate::support::{sim, world, World};

/// Bound on every wait of these tests (a hang is a failure, not a stall).
pub const BOUND: Duration = Duration::from_secs(5);

/// Shuts the world down within [`BOUND`], then checks the trace.
pub async fn shut_down_checked(sim: &Sim, w: &World) {
    tokio::time::timeout(BOUND, w.shutdown())
        .await
        .expect("shutdown returns");
    assert_well_formed(&sim.trace());
}

/// Sequence numbers are dense, every delivery comes after its send and
/// every reply after its request (same connection, other direction).
pub fn assert_well_formed(trace: &Trace) {
    let mut sent = std::collections::BTreeSet::new();
    let mut requests = std::collections::BTreeSet::new();
    for (i, e) in trace.events.iter().enumerate() {
        assert_eq!(e.seq, i as u64, "sequence numbers are dense\n{trace}");
        match &e.kind {
            EventKind::Send {
                msg,
                conn,
                from,
                to,
                info,
                ..
            } => {
                sent.insert(*msg);
                if let Some(info) = info {
                    if info.kind == "request" {
                        requests.insert((*conn, from.to_string(), info.id));
                    } else {
                        let request = (*conn, to.to_string(), info.id);
                        assert!(
                            requests.contains(&request),
                            "m{msg} before its request\n{trace}"
                        );
                    }
                }
            }
            EventKind::Deliver { msg, .. } | EventKind::Drop { msg, .. } => {
                assert!(sent.contains(msg), "m{msg} before its send\n{trace}");
            }
            _ => {}
        }
    }
}

/// A container whose `stall` handler holds the link back to its caller:
/// the reply waits in the simulation.
async fn stalling_pair(sim: &Sim, grace: Duration) -> (Container, Container, String) {
    let base = ContainerOptions::new()
        .local_network(LocalNetwork::new())
        .shutdown_grace(grace);
    let a = Container::create_with("local://a", sim.node("a").container_options(base.clone()))
        .await
        .expect("a starts");
    let b = Container::create_with("local://b", sim.node("b").container_options(base))
        .await
        .expect("b starts");
    let s = sim.clone();
    let agent = b
        .register(
            "Staller",
            Router::new().method("stall", move |(x,): (i64,)| {
                s.hold("a", "b");
                async move { Ok::<_, Infallible>(x) }
            }),
        )
        .expect("registers");
    (a, b, agent.url().to_owned())
}

#[tokio::test]
async fn shutdown_with_a_reply_held_ends_the_call() {
    let sim = sim(2, 10);
    let (a, b, url) = stalling_pair(&sim, Duration::from_millis(20)).await;
    let out = sim
        .run(tokio::time::timeout(BOUND, async {
            let proxy = a.connect(&url).await.expect("connects");
            let call = tokio::spawn(async move { proxy.call::<_, i64>("stall", (1,)).await });
            // The reply is held; a shuts down under it.
            while !call.is_finished() && b_handled(&sim) == 0 {
                tokio::task::yield_now().await;
            }
            a.shutdown().await;
            call.await.expect("task")
        }))
        .await
        .expect("the call and the shutdown end");
    let err = out.expect_err("no reply after shutdown");
    assert!(err.is_connection(), "{err}");
    sim.release("a", "b");
    b.shutdown().await;
    assert_well_formed(&sim.trace());
}

#[tokio::test]
async fn shutdown_with_a_request_held_ends_the_call() {
    let sim = sim(2, 10);
    let (a, b, url) = stalling_pair(&sim, Duration::from_millis(20)).await;
    let out = sim
        .run(tokio::time::timeout(BOUND, async {
            let proxy = a.connect(&url).await.expect("connects");
            sim.hold("a", "b");
            let call = tokio::spawn(async move { proxy.call::<_, i64>("stall", (1,)).await });
            tokio::task::yield_now().await;
            a.shutdown().await;
            call.await.expect("task")
        }))
        .await
        .expect("the call and the shutdown end");
    let err = out.expect_err("no reply after shutdown");
    assert!(err.is_connection(), "{err}");
    sim.release("a", "b");
    b.shutdown().await;
    assert_well_formed(&sim.trace());
}

#[tokio::test]
async fn the_peer_shuts_down_under_a_held_reply_then_we_do() {
    let sim = sim(2, 10);
    let (a, b, url) = stalling_pair(&sim, Duration::from_millis(20)).await;
    let out = sim
        .run(tokio::time::timeout(BOUND, async {
            let proxy = a.connect(&url).await.expect("connects");
            let call = tokio::spawn(async move { proxy.call::<_, i64>("stall", (1,)).await });
            while b_handled(&sim) == 0 {
                tokio::task::yield_now().await;
            }
            // b's end goes first: its loss waits behind the held reply.
            b.shutdown().await;
            a.shutdown().await;
            call.await.expect("task")
        }))
        .await
        .expect("the call and both shutdowns end");
    let err = out.expect_err("no reply after shutdown");
    assert!(err.is_connection(), "{err}");
    sim.release("a", "b");
    assert_well_formed(&sim.trace());
}

/// How many requests reached b.
fn b_handled(sim: &Sim) -> usize {
    sim.trace()
        .events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Deliver { to, .. } if &**to == "b"))
        .count()
        .saturating_sub(1)
}

#[tokio::test]
async fn faults_on_a_shut_down_container_change_nothing() {
    let sim = sim(2, 10);
    let w = world(&sim, &["a", "b"]).await;
    sim.run(async {
        let proxy = w.containers[0].connect(w.agent(1)).await.expect("connects");
        let _: i64 = proxy.call("add", (1, 1)).await.expect("adds");
    })
    .await;
    tokio::time::timeout(BOUND, w.shutdown())
        .await
        .expect("shutdown returns");
    sim.partition([["a"], ["b"]]);
    sim.heal();
    sim.hold("a", "b");
    sim.release("a", "b");
    sim.reset("a", "b");
    sim.reset("ghost", "nobody");
    sim.set_link("ghost", "nobody", agentwire_debug::Link::new());
    assert_well_formed(&sim.trace());
}

#[tokio::test]
async fn a_handler_that_resets_its_own_link_fails_only_that_call() {
    let sim = sim(3, 5);
    let base = ContainerOptions::new().local_network(LocalNetwork::new());
    let a = Container::create_with("local://a", sim.node("a").container_options(base.clone()))
        .await
        .expect("a starts");
    let b = Container::create_with("local://b", sim.node("b").container_options(base))
        .await
        .expect("b starts");
    let s = sim.clone();
    let url = b
        .register(
            "Resetter",
            Router::new()
                .method("reset", move |(): ()| {
                    s.reset("a", "b");
                    async { Ok::<_, Infallible>(0i64) }
                })
                .method("one", |(): ()| async { Ok::<_, Infallible>(1i64) }),
        )
        .expect("registers")
        .url()
        .to_owned();
    sim.run(tokio::time::timeout(BOUND, async {
        let proxy = a.connect(&url).await.expect("connects");
        let err = proxy.call::<_, i64>("reset", ()).await.expect_err("reset");
        assert!(err.is_connection(), "{err}");
        // The next connect makes a fresh connection.
        let proxy = a.connect(&url).await.expect("connects again");
        assert_eq!(proxy.call::<_, i64>("one", ()).await.expect("one"), 1);
    }))
    .await
    .expect("ends");
    tokio::time::timeout(BOUND, async {
        a.shutdown().await;
        b.shutdown().await;
    })
    .await
    .expect("shutdown returns");
    assert_well_formed(&sim.trace());
}

#[tokio::test]
async fn shutdown_during_a_held_connect_ends_the_connect() {
    let sim = sim(3, 5);
    let w = world(&sim, &["a", "b"]).await;
    sim.hold("a", "b");
    let a = w.containers[0].clone();
    let url = w.agent(1).to_owned();
    sim.run(tokio::time::timeout(BOUND, async {
        let connect = tokio::spawn(async move { a.connect(&url).await });
        // validate_aid is on its way (held).
        while sim.trace().messages().count() == 0 {
            tokio::task::yield_now().await;
        }
        w.containers[0].shutdown().await;
        let out = connect.await.expect("task");
        assert!(out.is_err(), "no proxy from a shut-down container");
    }))
    .await
    .expect("ends");
    sim.release("a", "b");
    shut_down_checked(&sim, &w).await;
}

#[tokio::test]
async fn a_partition_during_validate_aid_and_a_heal() {
    let sim = sim(3, 5);
    let w = world(&sim, &["a", "b"]).await;
    let s = sim.clone();
    // The partition falls the moment validate_aid is sent.
    sim.add_rule(Rule::custom("split", move |m| {
        if m.info.and_then(|i| i.path.as_deref()) == Some("validate_aid") {
            s.partition([["a"], ["b"]]);
        }
        None
    }));
    sim.run(tokio::time::timeout(BOUND, async {
        let first = sim
            .timeout(Duration::from_secs(1), w.containers[0].connect(w.agent(1)))
            .await;
        assert!(matches!(
            first,
            Err(agentwire_debug::SimError::Timeout { .. })
        ));
        sim.clear_rules();
        sim.heal();
        let proxy = w.containers[0].connect(w.agent(1)).await.expect("connects");
        assert_eq!(proxy.call::<_, i64>("add", (2, 2)).await.expect("adds"), 4);
    }))
    .await
    .expect("ends");
    shut_down_checked(&sim, &w).await;
}

#[tokio::test]
async fn a_simulation_never_stepped_waits_and_resumes() {
    let sim = sim(3, 5);
    let w = world(&sim, &["a", "b"]).await;
    let proxy = sim
        .run(w.containers[0].connect(w.agent(1)))
        .await
        .expect("connects");
    let call = proxy.call::<_, i64>("add", (1, 2));
    tokio::pin!(call);
    // Nobody moves the clock: the call waits (and does not finish).
    assert!(tokio::time::timeout(Duration::from_millis(30), &mut call)
        .await
        .is_err());
    let sum = tokio::time::timeout(BOUND, sim.run(call))
        .await
        .expect("ends once the clock moves");
    assert_eq!(sum.expect("adds"), 3);
    w.shutdown().await;
    assert_well_formed(&sim.trace());
}

#[tokio::test]
async fn a_reset_during_shutdown() {
    let sim = sim(3, 5);
    let w = world(&sim, &["a", "b"]).await;
    sim.run(tokio::time::timeout(BOUND, async {
        let proxy = w.containers[0].connect(w.agent(1)).await.expect("connects");
        let call = tokio::spawn(async move { proxy.call::<_, i64>("add", (1, 2)).await });
        tokio::task::yield_now().await;
        let (_, ()) = tokio::join!(w.containers[0].shutdown(), async {
            sim.reset("a", "b");
            sim.partition([["a"], ["b"]]);
        });
        // Ends one way or the other.
        let _ = call.await.expect("task");
    }))
    .await
    .expect("ends");
    shut_down_checked(&sim, &w).await;
}

/// Applies fault `kind` between a and b.
fn fault(sim: &Sim, kind: usize) {
    match kind {
        0 => sim.reset("a", "b"),
        1 => sim.partition([["a"], ["b"]]),
        2 => sim.hold("a", "b"),
        _ => sim.refuse("a", "b"),
    }
}

fn undo(sim: &Sim) {
    sim.heal();
    sim.release("a", "b");
    sim.accept("a", "b");
}

#[tokio::test]
async fn every_fault_at_every_step_of_connect_call_and_shutdown() {
    for kind in 0..4 {
        for steps in 0..10 {
            let sim = sim(kind as u64, 3);
            let base = ContainerOptions::new()
                .local_network(LocalNetwork::new())
                .shutdown_grace(Duration::from_millis(5));
            let w =
                crate::support::world_at(&sim, &["a", "b"], |n| format!("local://{n}"), base).await;
            let (a, url) = (w.containers[0].clone(), w.agent(1).to_owned());
            sim.run(tokio::time::timeout(BOUND, async {
                // The fault falls `steps` scheduler turns into a connect
                // and a call.
                let work = tokio::spawn({
                    let (a, url, sim) = (a.clone(), url.clone(), sim.clone());
                    async move {
                        let go = async {
                            let p = a.connect(&url).await.ok()?;
                            p.call::<_, i64>("add", (1, 2)).await.ok()
                        };
                        sim.timeout(Duration::from_secs(1), go).await
                    }
                });
                for _ in 0..steps {
                    tokio::task::yield_now().await;
                }
                fault(&sim, kind);
                let _ = work.await.expect("task");
                undo(&sim);
                // Healed: it works again (a fresh connect if need be).
                let p = a.connect(&url).await.expect("connects after the fault");
                assert_eq!(p.call::<_, i64>("add", (2, 2)).await.expect("adds"), 4);
                // And a fault during shutdown.
                let call = tokio::spawn({
                    let p = p.clone();
                    async move { p.call::<_, i64>("add", (3, 3)).await }
                });
                for _ in 0..steps {
                    tokio::task::yield_now().await;
                }
                let (_, ()) = tokio::join!(a.shutdown(), async { fault(&sim, kind) });
                let _ = sim
                    .timeout(Duration::from_secs(1), call)
                    .await
                    .map(|r| r.expect("task"));
            }))
            .await
            .unwrap_or_else(|_| panic!("fault {kind} after {steps} steps: hung\n{}", sim.trace()));
            undo(&sim);
            shut_down_checked(&sim, &w).await;
        }
    }
}

#[tokio::test]
async fn a_message_reaching_a_closed_end_is_dropped_not_delivered() {
    let sim = sim(5, 10);
    let w = world(&sim, &["a", "b"]).await;
    let clock = sim.clock();
    sim.run(tokio::time::timeout(BOUND, async {
        let p = w.containers[0].connect(w.agent(1)).await.expect("connects");
        let t0 = clock.time();
        let first = tokio::spawn({
            let p = p.clone();
            async move { p.call::<_, i64>("add", (1, 1)).await }
        });
        clock.sleep_until(t0 + Duration::from_millis(5)).await;
        let second = tokio::spawn({
            let p = p.clone();
            async move { p.call::<_, i64>("add", (2, 2)).await }
        });
        // b goes away after the first request arrived (t0 + 10 ms) and
        // before the second does (t0 + 15 ms).
        clock.sleep_until(t0 + Duration::from_millis(12)).await;
        w.containers[1].shutdown().await;
        let _ = first.await.expect("task");
        let err = second.await.expect("task").expect_err("b is gone");
        assert!(err.is_connection(), "{err}");
    }))
    .await
    .expect("ends");
    w.shutdown().await;
    let trace = sim.trace();
    assert_well_formed(&trace);
    let second = trace
        .messages()
        .filter_map(|e| match &e.kind {
            EventKind::Send {
                msg, info: Some(i), ..
            } if i.content.contains("[2, 2]") => Some(*msg),
            _ => None,
        })
        .next()
        .expect("the second request was sent");
    assert!(
        !trace
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Deliver { msg, .. } if msg == second)),
        "m{second} reached nobody\n{trace}"
    );
    assert!(
        trace
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Drop { msg, .. } if msg == second)),
        "m{second} is dropped\n{trace}"
    );
}
