//! A trace as Mermaid `sequenceDiagram` text.
//!
//! Names and labels are the trace's own text, so they can hold anything,
//! Mermaid syntax included (`-->`, `:`, `;`, `%%`, newlines). Participants
//! are therefore declared by an id of ours (`p0`, `p1`, …) and the name
//! shown as its alias, and every character of a name or label that could
//! mean something to Mermaid is written as a Mermaid entity code (`#35;`
//! for `#`, `#59;` for `;`, `#10;` for a newline): the diagram's lines are
//! the same whatever the names are, and Mermaid shows the names as they
//! were.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::label;
use crate::event::EventKind;
use crate::Trace;

/// `s` as Mermaid text: characters other than letters, digits, inner
/// spaces and a few harmless marks become entity codes (`#<decimal>;`),
/// which Mermaid turns back into the characters when it draws.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let last = s.chars().count().saturating_sub(1);
    for (i, c) in s.chars().enumerate() {
        // Mermaid trims the text: keep a name's outer spaces.
        let outer_space = c == ' ' && (i == 0 || i == last);
        if is_plain(c) && !outer_space {
            out.push(c);
        } else {
            let _ = write!(out, "#{};", u32::from(c));
        }
    }
    if out.is_empty() {
        // An empty alias or label is a syntax error: a zero-width space
        // shows nothing as well.
        out.push_str("#8203;");
    }
    out
}

/// Whether `c` stands for itself in a Mermaid alias or message text.
fn is_plain(c: char) -> bool {
    match c {
        'a'..='z' | 'A'..='Z' | '0'..='9' | ' ' => true,
        '_' | '.' | '/' | '@' | '(' | ')' | ',' | '=' | '?' | '!' | '*' | '[' | ']' => true,
        // Arrows, `:`, `;`, `#`, `%%`, quotes, brackets, tags, control
        // characters.
        c if c.is_ascii() => false,
        // Mermaid's own stand-ins for entity codes while it parses
        // ("ﬂ°°35¶ß" is `#35;`): in a name they would turn into entities.
        '\u{FB02}' | '\u{B6}' => false,
        // Line and paragraph separators, no-break and other spaces,
        // control characters: written out, so that no line ends early.
        c => !(c.is_whitespace() || c.is_control()),
    }
}

/// Renders `trace` as Mermaid text: a participant per endpoint (`p0`,
/// `p1`, … with the endpoint's name as alias), an arrow per message at its
/// delivery (`-x` for a lost one, at its drop) with the simulated time
/// (`@12.5ms`) after its label, faults as notes over all lanes. Names and
/// labels are written with Mermaid entity codes where they hold anything
/// but plain text (see the [module docs](self)).
pub fn to_mermaid(trace: &Trace) -> String {
    let names = trace.participants();
    let alias: BTreeMap<&str, String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), format!("p{i}")))
        .collect();
    let a = |n: &str| alias.get(n).cloned().unwrap_or_else(|| "p?".to_owned());
    let mut sends: BTreeMap<u64, String> = BTreeMap::new();
    let mut delivered: BTreeMap<u64, bool> = BTreeMap::new();
    let mut s = String::from("sequenceDiagram\n");
    for n in &names {
        let _ = writeln!(s, "    participant {} as {}", a(n), encode(n));
    }
    let span = match (names.first(), names.last()) {
        (Some(f), Some(l)) if f != l => format!("{},{}", a(f), a(l)),
        (Some(f), _) => a(f),
        _ => String::new(),
    };
    for e in &trace.events {
        match &e.kind {
            EventKind::Send {
                msg, bytes, info, ..
            } => {
                // A number sent again is a new message (see `Fates`).
                sends.insert(*msg, encode(&label(info.as_deref(), *bytes)));
                delivered.remove(msg);
            }
            EventKind::Deliver { msg, from, to, .. } => {
                let text = sends.get(msg).cloned().unwrap_or_default();
                let dup = delivered.insert(*msg, true).is_some();
                let suffix = if dup { " (duplicate)" } else { "" };
                let _ = writeln!(
                    s,
                    "    {}->>{}: {text}{suffix} @{}ms",
                    a(from),
                    a(to),
                    e.t_us as f64 / 1000.0
                );
            }
            EventKind::Drop {
                msg,
                from,
                to,
                reason,
                ..
            } => {
                let text = sends.get(msg).cloned().unwrap_or_default();
                let _ = writeln!(
                    s,
                    "    {}-x{}: {text} lost ({})",
                    a(from),
                    a(to),
                    encode(reason)
                );
            }
            EventKind::Fault { fault } if !span.is_empty() => {
                let _ = writeln!(s, "    Note over {span}: {}", encode(fault));
            }
            EventKind::Refused { from, to, .. } => {
                let _ = writeln!(s, "    {}--x{}: connect refused", a(from), a(to));
            }
            _ => {}
        }
    }
    s
}
