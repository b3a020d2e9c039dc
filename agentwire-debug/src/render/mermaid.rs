//! A trace as Mermaid `sequenceDiagram` text.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::label;
use crate::event::EventKind;
use crate::Trace;

fn clean(s: &str) -> String {
    s.replace([';', '\n'], " ").replace('#', "id ")
}

/// Renders `trace` as Mermaid text: a participant per endpoint, an arrow
/// per message at its delivery (`-x` for a lost one, at its drop), faults
/// as notes over all lanes, the simulated time as a leading `t=` note
/// where it moves on.
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
        let _ = writeln!(s, "    participant {} as {}", a(n), clean(n));
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
                sends.insert(*msg, clean(&label(info.as_deref(), *bytes)));
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
                    clean(reason)
                );
            }
            EventKind::Fault { fault } if !span.is_empty() => {
                let _ = writeln!(s, "    Note over {span}: {}", clean(fault));
            }
            EventKind::Refused { from, to, .. } => {
                let _ = writeln!(s, "    {}--x{}: connect refused", a(from), a(to));
            }
            _ => {}
        }
    }
    s
}
