//! Message rules: drop, duplicate, delay, reorder, and user code.

use std::sync::atomic::Ordering;
use std::time::Duration;

use agentwire::channel::MessageKind;
use agentwire_debug::{Action, EventKind, Rule, SimError};

use crate::support::{sim, world};

fn path_of(e: &agentwire_debug::Event) -> Option<&str> {
    match &e.kind {
        EventKind::Send { info: Some(i), .. } => i.path.as_deref(),
        _ => None,
    }
}

#[tokio::test]
async fn a_drop_rule_on_one_path_loses_exactly_those_messages() {
    let sim = sim(5, 10);
    sim.add_rule(
        Rule::new("no echo", Action::Drop)
            .path("agents/0/echo")
            .kind(MessageKind::Request),
    );
    let w = world(&sim, &["a", "b"]).await;
    sim.run(async {
        let proxy = w.containers[0].connect(w.agent(1)).await.expect("connects");
        for i in 0..3i64 {
            let lost = sim
                .timeout(
                    Duration::from_secs(1),
                    proxy.call::<_, String>("echo", ("x",)),
                )
                .await;
            assert!(matches!(lost, Err(SimError::Timeout { .. })));
            let sum: i64 = proxy.call("add", (i, 1)).await.expect("adds");
            assert_eq!(sum, i + 1);
        }
    })
    .await;
    assert_eq!(w.echoes[1].load(Ordering::SeqCst), 0);
    let trace = sim.trace();
    let dropped: Vec<u64> = trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Drop { msg, reason, .. } => {
                assert_eq!(reason, "rule \"no echo\"");
                Some(*msg)
            }
            _ => None,
        })
        .collect();
    let echo_requests: Vec<u64> = trace
        .messages()
        .filter(|e| path_of(e) == Some("agents/0/echo"))
        .map(|e| match e.kind {
            EventKind::Send { msg, .. } => msg,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(dropped, echo_requests);
    assert_eq!(dropped.len(), 3);
    // Everything else arrived.
    let sends = trace.messages().count();
    let delivered = trace
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Deliver { .. }))
        .count();
    assert_eq!(delivered, sends - 3);
    w.shutdown().await;
}

#[tokio::test]
async fn duplicates_run_twice_and_the_rpc_layer_ignores_the_second_reply() {
    let sim = sim(5, 10);
    // The request is delivered twice: the handler runs twice and two
    // replies come back with the same id.
    sim.add_rule(
        Rule::new("twice", Action::Duplicate)
            .path("agents/0/echo")
            .kind(MessageKind::Request),
    );
    // And every `add` reply is delivered twice.
    sim.add_rule(
        Rule::new("twice back", Action::Duplicate)
            .path("agents/0/add")
            .kind(MessageKind::Result),
    );
    let w = world(&sim, &["a", "b"]).await;
    sim.run(async {
        let proxy = w.containers[0].connect(w.agent(1)).await.expect("connects");
        let said: String = proxy.call("echo", ("once",)).await.expect("echoes");
        assert_eq!(said, "once");
        for i in 0..3i64 {
            let sum: i64 = proxy.call("add", (i, i)).await.expect("adds");
            assert_eq!(sum, 2 * i);
        }
        // The connection is still sound.
        let said: String = proxy.call("echo", ("again",)).await.expect("echoes");
        assert_eq!(said, "again");
    })
    .await;
    assert_eq!(w.echoes[1].load(Ordering::SeqCst), 4);
    let trace = sim.trace();
    let dups = trace
        .events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Rule { action, .. } if action == "duplicate"))
        .count();
    assert_eq!(dups, 2 + 3);
    assert!(!trace
        .events
        .iter()
        .any(|e| matches!(e.kind, EventKind::Lost { .. })));
    w.shutdown().await;
}

#[tokio::test]
async fn delay_and_reorder_and_user_code() {
    let sim = sim(5, 10);
    sim.add_rule(
        Rule::new("slow add", Action::Delay(Duration::from_millis(30)))
            .path("agents/0/add")
            .kind(MessageKind::Request),
    );
    sim.add_rule(Rule::custom("first echo last", |m| {
        // Only the request: a reply held back for a reply that never
        // follows would wait for the connection's end.
        let info = m.info?;
        (info.kind == "request" && info.content.contains("\"first\"")).then_some(Action::Reorder)
    }));
    let w = world(&sim, &["a", "b"]).await;
    let clock = sim.clock();
    sim.run(async {
        let proxy = w.containers[0].connect(w.agent(1)).await.expect("connects");
        let t0 = clock.time();
        let _: i64 = proxy.call("add", (1, 1)).await.expect("adds");
        assert_eq!(clock.time() - t0, Duration::from_millis(50));
        let (x, y) = tokio::join!(
            proxy.call::<_, String>("echo", ("first",)),
            proxy.call::<_, String>("echo", ("second",)),
        );
        assert_eq!(
            (x.expect("first"), y.expect("second")),
            ("first".into(), "second".into())
        );
    })
    .await;
    // "second" reached b before "first".
    let trace = sim.trace();
    let order: Vec<String> = trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Deliver { msg, to, .. } if &**to == "b" => {
                trace.messages().find_map(|s| match &s.kind {
                    EventKind::Send {
                        msg: m,
                        info: Some(i),
                        ..
                    } if m == msg && i.path.as_deref() == Some("agents/0/echo") => {
                        Some(i.content.clone())
                    }
                    _ => None,
                })
            }
            _ => None,
        })
        .collect();
    assert_eq!(order.len(), 2, "{trace}");
    assert!(
        order[0].contains("second") && order[1].contains("first"),
        "{order:?}"
    );
    w.shutdown().await;
}
