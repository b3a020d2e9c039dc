//! The determinism checker.

use std::collections::HashMap;

use agentwire_debug::{check_determinism, check_determinism_on, Flavor, Trace};

use crate::seeds::jittery;
use crate::support::{sim, world};

#[test]
fn passes_a_deterministic_scenario() {
    let trace = check_determinism(5, || jittery(9)).expect("deterministic");
    assert!(trace.events.len() > 20);
}

/// The callers go in `HashMap` order: a new random order every run.
async fn hash_ordered() -> Trace {
    let sim = sim(1, 10);
    let w = world(&sim, &["a", "b", "c", "d", "e", "f"]).await;
    let callers: HashMap<usize, ()> = (1..6).map(|i| (i, ())).collect();
    sim.run(async {
        for i in callers.keys() {
            let proxy = w.containers[*i]
                .connect(w.agent(0))
                .await
                .expect("connects");
            let _: i64 = proxy.call("add", (1, 1)).await.expect("adds");
        }
    })
    .await;
    w.shutdown().await;
    sim.trace()
}

#[test]
fn catches_a_nondeterministic_scenario_and_names_the_event() {
    let err = check_determinism(10, hash_ordered).expect_err("HashMap order varies");
    let text = err.to_string();
    assert!(
        text.contains(&format!("at event index {}", err.index)),
        "{text}"
    );
    let (first, other) = (err.first.expect("an event"), err.other.expect("an event"));
    assert_ne!(first, other);
    assert!(
        text.contains(&first.to_string()) && text.contains(&other.to_string()),
        "{text}"
    );
}

/// Many callers at once on a multi-thread runtime: the interleaving (and
/// so the trace) changes from run to run.
async fn crowd() -> Trace {
    let sim = sim(1, 0);
    let names: Vec<String> = (0..8).map(|i| format!("n{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let w = world(&sim, &names).await;
    sim.run(async {
        let mut tasks = Vec::new();
        for i in 1..8 {
            let c = w.containers[i].clone();
            let url = w.agent(0).to_owned();
            tasks.push(tokio::spawn(async move {
                let proxy = c.connect(&url).await.expect("connects");
                for k in 0..20i64 {
                    let _: i64 = proxy.call("add", (k, 1)).await.expect("adds");
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
    })
    .await;
    w.shutdown().await;
    sim.trace()
}

#[test]
fn the_same_scenario_is_deterministic_on_one_thread_and_not_on_four() {
    check_determinism(3, crowd).expect("current-thread runs agree");
    let err = check_determinism_on(Flavor::MultiThread(4), 20, crowd)
        .expect_err("multi-thread runs differ");
    assert!(err.to_string().contains("diverged from run 0"), "{err}");
}
