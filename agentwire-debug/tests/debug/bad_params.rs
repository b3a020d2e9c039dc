//! The toolkit's public API fed extreme parameters: huge latencies and
//! delays, a NaN probability. Errors or clamping, never a panic or a
//! hang.

use std::time::Duration;

use agentwire_debug::{Action, Link, Rule, SimError};

use crate::support::{sim, world};

/// A link whose latency (or jitter, or a rule's delay) is as long as a
/// `Duration` can be: its messages never arrive (in any time the
/// simulation reaches), and nothing overflows.
#[tokio::test]
async fn the_longest_latencies_and_delays_never_deliver_and_never_panic() {
    let sim = sim(3, 0);
    sim.set_link(
        "a",
        "b",
        Link::new().latency(Duration::MAX).jitter(Duration::MAX),
    );
    sim.set_link("a", "c", Link::new().bandwidth(1));
    sim.add_rule(Rule::new("forever", Action::Delay(Duration::MAX)).to("c"));
    let w = world(&sim, &["a", "b", "c"]).await;
    sim.run(async {
        for to in [1, 2] {
            let connect = sim
                .timeout(
                    Duration::from_secs(3600),
                    w.containers[0].connect(w.agent(to)),
                )
                .await;
            assert!(
                matches!(connect, Err(SimError::Timeout { .. })),
                "agent {to}: {:?}",
                connect.map(|r| r.map(|_| ()))
            );
        }
    })
    .await;
    w.shutdown().await;
}

/// A probability that is not a number is no probability: the rule never
/// fires (it does not fire always either).
#[tokio::test]
async fn a_nan_probability_never_fires() {
    let sim = sim(4, 1);
    sim.add_rule(Rule::new("nan", Action::Drop).probability(f64::NAN));
    let w = world(&sim, &["a", "b"]).await;
    let said: String = sim
        .run(async {
            let proxy = sim
                .timeout(Duration::from_secs(10), w.containers[0].connect(w.agent(1)))
                .await
                .expect("not dropped")
                .expect("connects");
            proxy.call("echo", ("hi",)).await.expect("echoes")
        })
        .await;
    assert_eq!(said, "hi");
    w.shutdown().await;
}
