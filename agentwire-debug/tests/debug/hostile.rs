//! Pictures and text of a trace whose names and labels hold the syntax of
//! the formats they are written in (Mermaid arrows, `:`, `;`, `%%`, XML
//! markup, control characters, newlines): the structure of every output
//! is what the trace says, whatever the names.

use std::borrow::Cow;
use std::sync::Arc;

use agentwire_debug::{to_mermaid, to_svg, Event, EventKind, MessageInfo, Trace};

/// Endpoint names no one should use, and someone will.
const NAMES: &[&str] = &[
    "a-->b",
    "x->>y: z",
    "semi;colon #hash",
    "%%{init: {'theme':'dark'}}%%",
    "say \"hi\" & 'bye' <b>bold</b>",
    "new\nline\r\nend",
    "uni ✓ 日本 ﬂ°°35¶ß #35;",
    "end",
    "  outer spaces  ",
    "",
    "ctrl\u{0}\u{1}\u{b}\u{7f}\u{FFFF}\u{2028}tab\t",
    "-x--x-)--)<<->>",
];

/// A label or reason with the same ingredients.
const HOSTILE: &str = "p0->>p1: fake\n    participant p9 as Evil;#\"%%";

/// A trace over `NAMES`: per neighbouring pair a connection, a request
/// delivered, a reply delivered twice, a lost message; a refused
/// connection, a fault, a rule and a lost connection.
fn hostile_trace() -> Trace {
    let mut events = Vec::new();
    let mut push = |kind: EventKind| {
        let seq = events.len() as u64;
        events.push(Event {
            seq,
            t_us: seq * 1500,
            kind,
        });
    };
    let name = |i: usize| -> Arc<str> { Arc::from(NAMES[i % NAMES.len()]) };
    let mut msg = 0;
    for (i, own) in NAMES.iter().enumerate() {
        let (a, b) = (name(i), name(i + 1));
        let conn = i as u64;
        push(EventKind::Connect {
            conn,
            from: a.clone(),
            to: b.clone(),
        });
        for (kind, from, to, copies) in [("request", &a, &b, 1), ("result", &b, &a, 2)] {
            msg += 1;
            push(EventKind::Send {
                conn,
                msg,
                from: from.clone(),
                to: to.clone(),
                bytes: 42,
                info: Some(Box::new(MessageInfo {
                    kind: Cow::Borrowed(kind),
                    id: msg,
                    path: Some(format!("agents/{own}/{HOSTILE}")),
                    agent: None,
                    content: HOSTILE.to_owned(),
                })),
            });
            for _ in 0..copies {
                push(EventKind::Deliver {
                    conn,
                    msg,
                    from: from.clone(),
                    to: to.clone(),
                });
            }
        }
        msg += 1;
        push(EventKind::Send {
            conn,
            msg,
            from: a.clone(),
            to: b.clone(),
            bytes: 7,
            info: None,
        });
        push(EventKind::Drop {
            conn,
            msg,
            from: a.clone(),
            to: b.clone(),
            reason: format!("rule {HOSTILE}"),
        });
        push(EventKind::Rule {
            msg,
            rule: HOSTILE.to_owned(),
            action: HOSTILE.to_owned(),
        });
        push(EventKind::Lost {
            conn,
            from: a,
            to: b,
            error: Some(HOSTILE.to_owned()),
        });
    }
    push(EventKind::Refused {
        from: name(0),
        to: name(1),
        reason: HOSTILE.to_owned(),
    });
    push(EventKind::Fault {
        fault: format!("partition {{{}}}", NAMES.join(", ")),
    });
    Trace { events }
}

fn count(trace: &Trace, f: impl Fn(&EventKind) -> bool) -> usize {
    trace.events.iter().filter(|e| f(&e.kind)).count()
}

/// Mermaid entity codes (`#35;`) back to their characters; `None` if a
/// `#` starts no entity code.
fn decode_entities(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('#') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';')? + i;
        let code: u32 = rest[i + 1..end].parse().ok()?;
        out.push(char::from_u32(code)?);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Text that means nothing to Mermaid: outside entity codes, no arrow,
/// separator, comment, quote, bracket or tag characters, no line break or
/// control character, no Mermaid entity placeholder.
fn assert_inert(text: &str, line: &str) {
    let mut plain = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('#') {
        plain.push_str(&rest[..i]);
        let end = rest[i..].find(';').expect("an entity code ends with ;") + i;
        assert!(
            rest[i + 1..end].bytes().all(|b| b.is_ascii_digit()) && end > i + 1,
            "a bare # in {line:?}"
        );
        rest = &rest[end + 1..];
    }
    plain.push_str(rest);
    for c in plain.chars() {
        assert!(
            !"-<>:;#%\"'{}`\\&|+".contains(c)
                && !c.is_control()
                && (c == ' ' || !c.is_whitespace())
                && c != 'ﬂ'
                && c != '¶',
            "{c:?} unescaped in {line:?}"
        );
    }
    assert_eq!(
        text.trim(),
        text,
        "Mermaid would trim outer spaces: {line:?}"
    );
}

/// `pN` at the start of `s`: N and the rest.
fn lane(s: &str) -> (usize, &str) {
    let s = s.strip_prefix('p').expect("a participant id");
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    (s[..digits].parse().expect("its number"), &s[digits..])
}

#[test]
fn mermaid_keeps_its_structure_whatever_the_names() {
    let trace = hostile_trace();
    let names = trace.participants();
    assert_eq!(names.len(), NAMES.len());
    let text = to_mermaid(&trace);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("sequenceDiagram"));
    let (mut participants, mut arrows, mut lost, mut refused, mut notes) = (0, 0, 0, 0, 0);
    for line in lines {
        let body = line.strip_prefix("    ").expect("indented");
        if let Some(decl) = body.strip_prefix("participant ") {
            let (n, rest) = lane(decl);
            assert_eq!(n, participants, "participants in order");
            let alias = rest.strip_prefix(" as ").expect("an alias");
            assert_inert(alias, line);
            let shown = decode_entities(alias).expect("entity codes");
            let want = if names[n].is_empty() {
                "\u{200B}"
            } else {
                &names[n]
            };
            assert_eq!(shown, want, "the alias shows the name");
            participants += 1;
        } else if let Some(note) = body.strip_prefix("Note over ") {
            let (first, rest) = lane(note);
            let (last, rest) = lane(rest.strip_prefix(',').expect("a span"));
            assert_eq!((first, last), (0, names.len() - 1));
            let text = rest.strip_prefix(": ").expect("the note's text");
            assert_inert(text, line);
            assert!(decode_entities(text).expect("codes").contains(NAMES[0]));
            notes += 1;
        } else {
            let (from, rest) = lane(body);
            let (arrow, rest) = ["->>", "--x", "-x"]
                .iter()
                .find_map(|a| rest.strip_prefix(a).map(|r| (*a, r)))
                .expect("an arrow right after the sender");
            let (to, rest) = lane(rest);
            assert!(from < names.len() && to < names.len(), "{line:?}");
            let text = rest.strip_prefix(": ").expect("a label");
            assert_inert(text, line);
            let shown = decode_entities(text).expect("codes");
            match arrow {
                "->>" => {
                    assert!(
                        shown.contains(HOSTILE),
                        "the label shows the path: {shown:?}"
                    );
                    arrows += 1;
                }
                "-x" => {
                    assert!(
                        shown.contains("42") || shown.contains("7 bytes"),
                        "{shown:?}"
                    );
                    assert!(shown.contains(&format!("(rule {HOSTILE})")), "{shown:?}");
                    lost += 1;
                }
                _ => {
                    assert_eq!(shown, "connect refused");
                    refused += 1;
                }
            }
        }
    }
    assert_eq!(participants, names.len());
    assert_eq!(
        arrows,
        count(&trace, |k| matches!(k, EventKind::Deliver { .. }))
    );
    assert_eq!(lost, count(&trace, |k| matches!(k, EventKind::Drop { .. })));
    assert_eq!(
        refused,
        count(&trace, |k| matches!(k, EventKind::Refused { .. }))
    );
    assert_eq!(
        notes,
        count(&trace, |k| matches!(k, EventKind::Fault { .. }))
    );
}

/// What XML 1.0 can hold of `s`: the characters it cannot, even escaped,
/// as U+FFFD.
fn xml_chars(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect()
}

#[test]
fn the_svg_is_well_formed_whatever_the_names() {
    let trace = hostile_trace();
    let svg = to_svg(&trace);
    let doc = roxmltree::Document::parse(&svg).expect("the SVG is well-formed XML");
    let groups = |class: &str| -> Vec<roxmltree::Node<'_, '_>> {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some(class))
            .collect()
    };
    let text_of = |g: &roxmltree::Node<'_, '_>| -> String {
        g.descendants()
            .filter(|n| n.has_tag_name("text"))
            .flat_map(|t| t.children().filter_map(|c| c.text()))
            .collect()
    };
    let lanes: Vec<String> = groups("lane").iter().map(text_of).collect();
    let want: Vec<String> = trace.participants().iter().map(|n| xml_chars(n)).collect();
    assert_eq!(lanes, want, "a lane per participant, showing its name");
    assert_eq!(
        groups("arrow").len(),
        count(&trace, |k| {
            matches!(k, EventKind::Send { info: Some(_), .. })
        })
    );
    assert_eq!(
        groups("arrow dropped").len(),
        count(&trace, |k| matches!(k, EventKind::Drop { .. }))
    );
    for arrow in groups("arrow") {
        assert!(text_of(&arrow).contains(&xml_chars(HOSTILE)));
    }
    let refused = groups("refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(
        text_of(&refused[0]),
        format!("connect refused: {}", xml_chars(HOSTILE))
    );
    assert_eq!(groups("fault").len(), 1);
    assert_eq!(groups("lost").len(), NAMES.len());
}

#[test]
fn text_and_json_lines_keep_one_event_per_line() {
    let trace = hostile_trace();
    let text = trace.to_string();
    assert_eq!(text.lines().count(), trace.events.len(), "{text}");
    assert!(!text.contains(['\r', '\u{2028}', '\u{0}']));
    for (line, event) in text.lines().zip(&trace.events) {
        assert!(line.starts_with(&format!("#{} ", event.seq)), "{line:?}");
    }
    assert!(text.contains(r"new\nline\r\nend"), "escaped, not dropped");

    let json = trace.to_json_lines();
    assert_eq!(json.lines().count(), trace.events.len());
    assert_eq!(Trace::from_json_lines(&json).expect("parses"), trace);
}
