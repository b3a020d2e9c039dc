//! One seed, one trace: jitter and probabilistic rules replay exactly.

use std::time::Duration;

use agentwire::channel::MessageKind;
use agentwire_debug::{Action, Link, Rule, Sim, Trace};

use crate::support::world;

/// Three containers calling each other across jittery links, with a
/// lossy rule; callers give up after 300 ms of simulated time.
pub async fn jittery(seed: u64) -> Trace {
    let sim = Sim::builder()
        .seed(seed)
        .external_clock(agentwire::clock::ExternalClock::new())
        .default_link(
            Link::new()
                .latency(Duration::from_millis(20))
                .jitter(Duration::from_millis(15)),
        )
        .build();
    sim.add_rule(
        Rule::new("lossy echo", Action::Drop)
            .path("agents/0/echo")
            .kind(MessageKind::Request)
            .probability(0.3),
    );
    let w = world(&sim, &["a", "b", "c"]).await;
    sim.run(async {
        let mut tasks = Vec::new();
        for (from, to) in [(0, 1), (1, 2), (2, 0)] {
            let c = w.containers[from].clone();
            let url = w.agent(to).to_owned();
            let sim = sim.clone();
            tasks.push(tokio::spawn(async move {
                let proxy = c.connect(&url).await.expect("connects");
                for i in 0..4 {
                    let said = sim
                        .timeout(
                            Duration::from_millis(300),
                            proxy.call::<_, String>("echo", (format!("m{i}"),)),
                        )
                        .await;
                    if let Ok(said) = said {
                        assert_eq!(said.expect("echo answers"), format!("m{i}"));
                    }
                }
            }));
        }
        for t in tasks {
            t.await.expect("caller task");
        }
    })
    .await;
    w.shutdown().await;
    sim.trace()
}

fn run(seed: u64) -> String {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(jittery(seed))
        .to_json_lines()
}

#[test]
fn twenty_runs_of_one_seed_give_byte_identical_traces() {
    let first = run(42);
    assert!(
        first.contains("\"event\":\"drop\""),
        "the rule fired:\n{first}"
    );
    assert!(first.contains("\"event\":\"deliver\""));
    for i in 1..20 {
        let other = run(42);
        assert!(other == first, "run {i} differs from run 0");
    }
    let other_seed = run(43);
    assert_ne!(other_seed, first, "another seed, another run");
}
