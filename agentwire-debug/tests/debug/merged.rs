//! Traces whose message numbers repeat: two runs' traces put one after
//! the other (each simulation numbers its messages from 1), or a trace
//! file edited by hand. A message number names the message of the latest
//! `Send` with it: each send's arrow ends at its own delivery, and a
//! delivery is a duplicate only of the message it belongs to. (Before,
//! every later delivery of the number drew a duplicate arrow from every
//! earlier send: a picture quadratic in the trace, gigabytes for a long
//! one.)

use std::sync::Arc;
use std::time::Duration;

use agentwire_debug::{to_mermaid, to_svg, Event, EventKind, Trace};

/// `runs` runs of `messages` messages each, one after the other, every
/// run numbering its messages from 1; in each run the last message is
/// delivered twice.
fn merged(runs: u64, messages: u64) -> Trace {
    let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
    let mut events = Vec::new();
    let mut push = |kind| {
        let seq = events.len() as u64;
        events.push(Event {
            seq,
            t_us: seq,
            kind,
        });
    };
    let deliver = |msg| EventKind::Deliver {
        conn: 1,
        msg,
        from: Arc::clone(&a),
        to: Arc::clone(&b),
    };
    for _ in 0..runs {
        for msg in 1..=messages {
            push(EventKind::Send {
                conn: 1,
                msg,
                from: Arc::clone(&a),
                to: Arc::clone(&b),
                bytes: 10,
                info: None,
            });
            push(deliver(msg));
        }
        push(deliver(messages));
    }
    Trace { events }
}

/// Draws both pictures on a thread of their own (a hang guard).
fn pictures(trace: Trace) -> (String, String) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send((to_svg(&trace), to_mermaid(&trace)));
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the pictures are drawn")
}

#[test]
fn repeated_message_numbers_are_new_messages() {
    const RUNS: u64 = 3;
    const MESSAGES: u64 = 2_000;
    let (svg, mermaid) = pictures(merged(RUNS, MESSAGES));
    let arrows = svg.matches("<g class=\"arrow\">").count();
    let dups = svg.matches("<g class=\"dup\">").count();
    assert_eq!(arrows, (RUNS * MESSAGES) as usize);
    assert_eq!(dups, RUNS as usize, "one duplicate per run");
    assert!(!svg.contains("in flight"), "every message was delivered");
    assert_eq!(
        mermaid.matches("(duplicate)").count(),
        RUNS as usize,
        "one duplicate per run"
    );
    assert_eq!(
        mermaid.matches("->>").count(),
        (RUNS * (MESSAGES + 1)) as usize
    );
}

/// A send whose message is lost before the number comes again is in
/// flight; it does not take the next send's delivery.
#[test]
fn a_lost_message_does_not_take_a_later_ones_delivery() {
    let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
    let send = || EventKind::Send {
        conn: 1,
        msg: 1,
        from: Arc::clone(&a),
        to: Arc::clone(&b),
        bytes: 3,
        info: None,
    };
    let kinds = vec![
        send(),
        send(),
        EventKind::Deliver {
            conn: 1,
            msg: 1,
            from: Arc::clone(&a),
            to: Arc::clone(&b),
        },
    ];
    let events = kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| Event {
            seq: i as u64,
            t_us: 0,
            kind,
        })
        .collect();
    let (svg, mermaid) = pictures(Trace { events });
    assert_eq!(svg.matches("<g class=\"arrow inflight\">").count(), 1);
    assert_eq!(svg.matches("<g class=\"arrow\">").count(), 1);
    assert_eq!(svg.matches("<g class=\"dup\">").count(), 0);
    assert!(!mermaid.contains("(duplicate)"), "{mermaid}");
}

/// A trace with a hundred thousand participants (a node per connection of
/// a long run): its participants are listed, and its pictures drawn, in
/// time linear in the trace (a hang guard: quadratic took minutes).
#[test]
fn a_trace_with_a_hundred_thousand_participants() {
    const NODES: u64 = 50_000;
    let mut events = Vec::new();
    for n in 0..NODES {
        let from: Arc<str> = format!("client-{n}").into();
        let to: Arc<str> = format!("server-{n}").into();
        for kind in [
            EventKind::Send {
                conn: n,
                msg: n,
                from: Arc::clone(&from),
                to: Arc::clone(&to),
                bytes: 1,
                info: None,
            },
            EventKind::Deliver {
                conn: n,
                msg: n,
                from,
                to,
            },
        ] {
            let seq = events.len() as u64;
            events.push(Event { seq, t_us: 0, kind });
        }
    }
    let trace = Trace { events };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let names = trace.participants();
        let _ = tx.send((names, to_svg(&trace), to_mermaid(&trace)));
    });
    let (names, svg, mermaid) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("listed and drawn");
    assert_eq!(names.len(), 2 * NODES as usize);
    assert_eq!(names[0], "client-0");
    assert_eq!(names[1], "server-0");
    assert_eq!(names.last().map(String::as_str), Some("server-49999"));
    assert_eq!(
        svg.matches("<g class=\"lane\">").count(),
        2 * NODES as usize
    );
    assert_eq!(mermaid.matches("participant ").count(), 2 * NODES as usize);
}
