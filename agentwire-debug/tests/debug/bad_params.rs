//! The toolkit's public API fed extreme parameters: huge latencies and
//! delays, a NaN probability, traces of huge runs. Errors or clamping,
//! never a panic or a hang.

use std::sync::Arc;
use std::time::Duration;

use agentwire_debug::{to_mermaid, to_svg, Action, Event, EventKind, Link, Rule, SimError, Trace};

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

/// A trace of a long run (a hundred thousand messages): its pictures are
/// drawn in one pass over the trace, not one per message.
#[test]
fn pictures_of_a_huge_trace_are_drawn() {
    const MESSAGES: u64 = 100_000;
    let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
    let mut events = Vec::new();
    let mut push = |t_us, kind| {
        let seq = events.len() as u64;
        events.push(Event { seq, t_us, kind });
    };
    for msg in 0..MESSAGES {
        push(
            msg,
            EventKind::Send {
                conn: 1,
                msg,
                from: Arc::clone(&a),
                to: Arc::clone(&b),
                bytes: 10,
                info: None,
            },
        );
        push(
            msg,
            EventKind::Deliver {
                conn: 1,
                msg,
                from: Arc::clone(&a),
                to: Arc::clone(&b),
            },
        );
    }
    // The last message is delivered twice.
    push(
        MESSAGES,
        EventKind::Deliver {
            conn: 1,
            msg: MESSAGES - 1,
            from: Arc::clone(&a),
            to: Arc::clone(&b),
        },
    );
    let trace = Trace { events };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send((to_svg(&trace), to_mermaid(&trace)));
    });
    let (svg, mermaid) = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the pictures are drawn");
    assert_eq!(
        svg.matches("<g class=\"arrow\">").count(),
        MESSAGES as usize
    );
    assert_eq!(svg.matches("<g class=\"dup\">").count(), 1);
    assert_eq!(mermaid.matches("(duplicate)").count(), 1);
}
