//! Traces as pictures and as JSON Lines.

use agentwire_debug::{to_mermaid, to_svg, EventKind, Trace};

use crate::seeds::jittery;

#[tokio::test]
async fn the_svg_has_a_lane_per_participant_and_an_arrow_per_message() {
    let trace = jittery(11).await;
    let svg = to_svg(&trace);
    let doc = roxmltree::Document::parse(&svg).expect("the SVG is well-formed XML");
    let classes = |c: &str| {
        doc.descendants()
            .filter(|n| {
                n.attribute("class")
                    .is_some_and(|v| v.split(' ').any(|x| x == c))
            })
            .count()
    };
    assert_eq!(trace.participants(), ["a", "b", "c"]);
    assert_eq!(classes("lane"), 3);
    let messages = trace.messages().count();
    assert!(messages > 20);
    assert_eq!(classes("arrow"), messages);
    let drops = trace
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Drop { .. }))
        .count();
    assert!(drops > 0);
    assert_eq!(classes("dropped"), drops);
    // Labels carry paths.
    assert!(svg.contains("agents/0/echo #"));

    let mermaid = to_mermaid(&trace);
    assert!(mermaid.starts_with("sequenceDiagram\n"));
    assert_eq!(mermaid.matches("participant ").count(), 3);
    assert_eq!(mermaid.matches("-x").count(), drops);
}

#[tokio::test]
async fn json_lines_round_trip() {
    let trace = jittery(12).await;
    let text = trace.to_json_lines();
    assert_eq!(text.lines().count(), trace.events.len());
    let back = Trace::from_json_lines(&text).expect("parses");
    assert_eq!(back, trace);
    let err = Trace::from_json_lines("{\"seq\":0}\nnot json").expect_err("bad");
    assert!(err.starts_with("line 1"), "{err}");
}

#[tokio::test]
async fn the_recorder_is_bounded() {
    let sim = agentwire_debug::Sim::builder()
        .seed(1)
        .external_clock(agentwire::clock::ExternalClock::new())
        .max_events(5)
        .build();
    let w = crate::support::world(&sim, &["a", "b"]).await;
    sim.run(async {
        let proxy = w.containers[0].connect(w.agent(1)).await.expect("connects");
        let _: i64 = proxy.call("add", (1, 2)).await.expect("adds");
    })
    .await;
    assert_eq!(sim.trace().events.len(), 5);
    assert!(sim.recorder().overflow() > 0);
    w.shutdown().await;
}
