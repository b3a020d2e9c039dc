//! Partitions, holds, resets and refusals.

use std::io;
use std::time::Duration;

use agentwire_debug::{EventKind, SimError};

use crate::support::{chain, sim, world};

#[tokio::test]
async fn a_partition_stalls_live_links_refuses_new_ones_and_heals() {
    let sim = sim(3, 10);
    let w = world(&sim, &["a", "b", "c", "d"]).await;
    let (a, b) = (&w.containers[0], &w.containers[1]);
    sim.run(async {
        // a has a live connection to c before the partition.
        let a_to_c = a.connect(w.agent(2)).await.expect("connects");
        let a_to_b = a.connect(w.agent(1)).await.expect("connects");
        sim.partition([["a", "b"], ["c", "d"]]);

        // Across it, on the live connection: the message is lost, the
        // caller's timeout says so.
        let lost = sim
            .timeout(Duration::from_secs(1), a_to_c.call::<_, i64>("add", (1, 1)))
            .await;
        assert_eq!(
            lost.map(|_| ()),
            Err(SimError::Timeout {
                after: Duration::from_secs(1)
            })
        );
        // Across it, a new connection: refused, and the error names the
        // partition.
        let err = b.connect(w.agent(3)).await.expect_err("refused");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        let text = chain(&err);
        assert!(text.contains("partitioned: {a, b} | {c, d}"), "{text}");
        // The same side is unaffected.
        let same: i64 = a_to_b.call("add", (2, 2)).await.expect("same side");
        assert_eq!(same, 4);

        sim.heal();
        let healed: i64 = a_to_c.call("add", (3, 3)).await.expect("healed");
        assert_eq!(healed, 6);
        let fresh = b.connect(w.agent(3)).await.expect("connects after heal");
        let fresh: i64 = fresh.call("add", (4, 4)).await.expect("fresh call");
        assert_eq!(fresh, 8);
    })
    .await;
    let trace = sim.trace();
    let drops: Vec<_> = trace
        .events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Drop { reason, .. } if reason.starts_with("partitioned")))
        .collect();
    assert_eq!(drops.len(), 1, "{trace}");
    assert!(trace.events.iter().any(
        |e| matches!(&e.kind, EventKind::Refused { from, to, .. } if &**from == "b" && &**to == "d")
    ));
    w.shutdown().await;
}

#[tokio::test]
async fn a_held_link_delivers_in_order_on_release() {
    let sim = sim(3, 10);
    let w = world(&sim, &["a", "b"]).await;
    let clock = sim.clock();
    sim.run(async {
        let proxy = w.containers[0].connect(w.agent(1)).await.expect("connects");
        sim.hold("a", "b");
        let call = tokio::spawn({
            let proxy = proxy.clone();
            async move {
                let first = proxy.call::<_, String>("echo", ("one",));
                let second = proxy.call::<_, String>("echo", ("two",));
                let (x, y) = tokio::join!(first, second);
                (x.expect("one"), y.expect("two"))
            }
        });
        clock.sleep(Duration::from_secs(5)).await;
        assert!(!call.is_finished(), "nothing passes a held link");
        assert_eq!(w.echoes[1].load(std::sync::atomic::Ordering::SeqCst), 0);
        sim.release("a", "b");
        let released_at = clock.time();
        assert_eq!(call.await.expect("task"), ("one".into(), "two".into()));
        assert_eq!(clock.time() - released_at, Duration::from_millis(10));
    })
    .await;
    w.shutdown().await;
}

#[tokio::test]
async fn reset_fails_calls_in_flight_and_refuse_blocks_new_connections() {
    let sim = sim(3, 10);
    let w = world(&sim, &["a", "b"]).await;
    let a = &w.containers[0];
    sim.run(async {
        let proxy = a.connect(w.agent(1)).await.expect("connects");
        sim.hold("a", "b");
        let pending = tokio::spawn({
            let proxy = proxy.clone();
            async move { proxy.call::<_, i64>("add", (1, 2)).await }
        });
        tokio::task::yield_now().await;
        sim.refuse("a", "b");
        sim.reset("a", "b");
        let err = pending.await.expect("task").expect_err("reset");
        assert!(err.is_connection(), "{err}");
        sim.release("a", "b");
        let err = a.connect(w.agent(1)).await.expect_err("refused");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        assert!(
            chain(&err).contains("refuses new connections"),
            "{}",
            chain(&err)
        );
        sim.accept("a", "b");
        let again = a.connect(w.agent(1)).await.expect("accepted again");
        let sum: i64 = again.call("add", (1, 2)).await.expect("adds");
        assert_eq!(sum, 3);
    })
    .await;
    let trace = sim.trace();
    assert!(
        trace.events.iter().any(|e| matches!(&e.kind,
            EventKind::Lost { error: Some(e), .. } if e.contains("reset"))),
        "{trace}"
    );
    w.shutdown().await;
}
