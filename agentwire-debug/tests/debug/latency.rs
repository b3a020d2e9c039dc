//! Latency in simulated time.

use std::time::Duration;

use agentwire_debug::{EventKind, Link};

use crate::support::{sim, world};

#[tokio::test]
async fn a_call_across_50ms_completes_at_100ms_of_simulated_time() {
    let sim = sim(1, 50);
    let w = world(&sim, &["a", "b"]).await;
    let clock = sim.clock();
    let (t0, t1, sum) = sim
        .run(async {
            let proxy = w.containers[0].connect(w.agent(1)).await.expect("connects");
            let t0 = clock.time();
            let sum: i64 = proxy.call("add", (1, 2)).await.expect("adds");
            (t0, clock.time(), sum)
        })
        .await;
    assert_eq!(sum, 3);
    // connect's validate_aid took one round trip already.
    assert_eq!(t0, Duration::from_millis(100));
    assert_eq!(t1 - t0, Duration::from_millis(100));
    // The request arrived at +50 ms, the reply at +100 ms.
    let trace = sim.trace();
    let add = trace
        .messages()
        .find(|e| matches!(&e.kind, EventKind::Send { info: Some(i), .. } if i.path.as_deref() == Some("agents/0/add") && i.kind == "request"))
        .expect("the add request is traced");
    assert_eq!(add.t_us, 100_000);
    let delivered: Vec<u64> = trace
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Deliver { .. }))
        .map(|e| e.t_us)
        .collect();
    assert_eq!(delivered, [50_000, 100_000, 150_000, 200_000]);
    w.shutdown().await;
}

/// An hour of latency each way: the test would take two hours of wall
/// time if any of it were real; it takes microseconds.
#[tokio::test]
async fn simulated_hours_take_no_wall_time() {
    let sim = crate::support::sim(1, 0);
    sim.set_link("a", "b", Link::new().latency(Duration::from_secs(3600)));
    let w = world(&sim, &["a", "b"]).await;
    let clock = sim.clock();
    let took = sim
        .run(async {
            let proxy = w.containers[0].connect(w.agent(1)).await.expect("connects");
            let t0 = clock.time();
            let _: String = proxy.call("echo", ("slow",)).await.expect("echoes");
            clock.time() - t0
        })
        .await;
    assert_eq!(took, Duration::from_secs(7200));
    w.shutdown().await;
}

#[tokio::test]
async fn bandwidth_spaces_frames_by_their_size() {
    let sim = crate::support::sim(1, 0);
    // 1000 bytes per second: a frame of n bytes takes n ms.
    sim.set_link("a", "b", Link::new().bandwidth(1000));
    let w = world(&sim, &["a", "b"]).await;
    sim.run(async {
        let proxy = w.containers[0].connect(w.agent(1)).await.expect("connects");
        let _: String = proxy
            .call("echo", ("x".repeat(500),))
            .await
            .expect("echoes");
    })
    .await;
    let trace = sim.trace();
    for send in trace.messages() {
        let EventKind::Send { msg, bytes, .. } = send.kind else {
            unreachable!()
        };
        let deliver = trace
            .events
            .iter()
            .find(|e| matches!(e.kind, EventKind::Deliver { msg: m, .. } if m == msg))
            .expect("delivered");
        assert_eq!(deliver.t_us - send.t_us, bytes as u64 * 1000, "{send}");
    }
    w.shutdown().await;
}
