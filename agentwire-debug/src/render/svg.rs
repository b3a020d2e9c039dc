//! A trace as a self-contained SVG sequence diagram.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{label, Fate, Fates};
use crate::event::EventKind;
use crate::Trace;

const LEFT: f64 = 110.0;
const LANE: f64 = 190.0;
const TOP: f64 = 70.0;
const ROW: f64 = 20.0;

/// `s` as XML text: markup characters escaped, a carriage return kept as a
/// character reference (a parser would make it a newline), and the
/// characters XML 1.0 cannot hold at all, even escaped (the C0 controls
/// but tab, newline and carriage return; U+FFFE and U+FFFF), shown as
/// U+FFFD, the replacement character: otherwise one such name would make
/// the whole picture unreadable.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Renders `trace` as SVG: a lane (`class="lane"`) per participant, an
/// arrow (`class="arrow"`, plus `dropped` for a lost message) per message,
/// the time axis on the left, faults (`class="fault"`) as bands across all
/// lanes. Duplicated deliveries are extra thin arrows (`class="dup"`),
/// refused connections red dashes (`class="refused"`).
pub fn to_svg(trace: &Trace) -> String {
    let names = trace.participants();
    let lane_x: BTreeMap<&str, f64> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), LEFT + LANE / 2.0 + i as f64 * LANE))
        .collect();
    let x = |n: &str| lane_x.get(n).copied().unwrap_or(LEFT);
    // Rows: events that draw something.
    let mut row_of = vec![None; trace.events.len()];
    let mut rows = 0usize;
    for (i, e) in trace.events.iter().enumerate() {
        if !matches!(e.kind, EventKind::Rule { .. }) {
            row_of[i] = Some(rows);
            rows += 1;
        }
    }
    let y = |row: usize| TOP + 20.0 + row as f64 * ROW;
    let width = LEFT + names.len().max(1) as f64 * LANE + 20.0;
    let bottom = y(rows) + 10.0;
    let fates = Fates::new(&trace.events);
    let height = bottom + 20.0;

    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="11">
<defs><marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker>
<marker id="headred" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c0392b"/></marker></defs>
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="{ty}" font-weight="bold">time (ms)</text>
<line x1="{ax}" y1="{TOP}" x2="{ax}" y2="{bottom}" stroke="#999"/>
"##,
        ty = TOP - 8.0,
        ax = LEFT - 10.0,
    );
    for n in &names {
        let cx = x(n);
        let _ = writeln!(
            s,
            r##"<g class="lane"><rect x="{rx}" y="10" width="{w}" height="34" rx="6" fill="#eaf2fb" stroke="#2c6fbb"/><text x="{cx}" y="32" text-anchor="middle" font-size="13" font-weight="bold">{name}</text><line x1="{cx}" y1="44" x2="{cx}" y2="{bottom}" stroke="#2c6fbb" stroke-dasharray="4 4"/></g>"##,
            rx = cx - LANE / 2.0 + 15.0,
            w = LANE - 30.0,
            name = esc(n),
        );
    }
    // Time labels where time moves on.
    let mut last_t = None;
    for (i, e) in trace.events.iter().enumerate() {
        let Some(row) = row_of[i] else { continue };
        if last_t != Some(e.t_us) {
            last_t = Some(e.t_us);
            let ms = (e.t_us as f64 / 100.0).round() / 10.0;
            let _ = writeln!(
                s,
                r##"<text class="tick" x="{tx}" y="{ty}" text-anchor="end" fill="#555">{ms}</text><line x1="{l1}" y1="{ly}" x2="{l2}" y2="{ly}" stroke="#999"/>"##,
                tx = LEFT - 14.0,
                ty = y(row) + 4.0,
                l1 = LEFT - 14.0,
                l2 = LEFT - 6.0,
                ly = y(row),
            );
        }
    }
    for (i, e) in trace.events.iter().enumerate() {
        let Some(row) = row_of[i] else { continue };
        let y0 = y(row);
        match &e.kind {
            EventKind::Send {
                msg,
                from,
                to,
                bytes,
                info,
                ..
            } => {
                let (x0, x1) = (x(from), x(to));
                let text = esc(&label(info.as_deref(), *bytes));
                let color = match info.as_ref().map(|i| &*i.kind) {
                    Some("request") => "#1f4e79",
                    Some("exception") => "#c0392b",
                    _ => "#2e7d32",
                };
                match fates.fate(&trace.events, i + 1, *msg) {
                    Fate::Delivered(j) => {
                        let y1 = row_of[j].map_or(y0, y);
                        let _ = writeln!(
                            s,
                            r##"<g class="arrow"><line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="{color}" stroke-width="1.4" marker-end="url(#head)"/><text x="{tx}" y="{ty}" text-anchor="middle" fill="{color}">{text}</text></g>"##,
                            tx = (x0 + x1) / 2.0,
                            ty = (y0 + y1) / 2.0 - 4.0,
                        );
                        // Further deliveries of the same message: duplicates.
                        for k in fates.deliveries(&trace.events, j + 1, *msg) {
                            let y2 = row_of[k].map_or(y0, y);
                            let _ = writeln!(
                                s,
                                r##"<g class="dup"><line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y2}" stroke="#8e44ad" stroke-width="1" stroke-dasharray="2 2" marker-end="url(#head)"/><text x="{x1}" y="{ty}" text-anchor="middle" fill="#8e44ad">duplicate</text></g>"##,
                                ty = y2 + 12.0,
                            );
                        }
                    }
                    Fate::Dropped(j, reason) => {
                        let y1 = row_of[j].map_or(y0, y);
                        let xm = (x0 + x1) / 2.0;
                        let ym = (y0 + y1) / 2.0;
                        let _ = writeln!(
                            s,
                            r##"<g class="arrow dropped"><line x1="{x0}" y1="{y0}" x2="{xm}" y2="{ym}" stroke="#c0392b" stroke-width="1.4" stroke-dasharray="5 3"/><path d="M{a},{b} L{c},{d} M{a},{d} L{c},{b}" stroke="#c0392b" stroke-width="2.2"/><text x="{xm}" y="{ty}" text-anchor="middle" fill="#c0392b">{text} — lost ({r})</text></g>"##,
                            a = xm - 5.0,
                            b = ym - 5.0,
                            c = xm + 5.0,
                            d = ym + 5.0,
                            ty = ym - 8.0,
                            r = esc(&reason),
                        );
                    }
                    Fate::InFlight => {
                        let y1 = bottom;
                        let _ = writeln!(
                            s,
                            r##"<g class="arrow inflight"><line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="{color}" stroke-width="1" stroke-dasharray="2 4"/><text x="{tx}" y="{ty}" text-anchor="middle" fill="{color}">{text} (in flight)</text></g>"##,
                            tx = (x0 + x1) / 2.0,
                            ty = (y0 + y1) / 2.0 - 4.0,
                        );
                    }
                }
            }
            EventKind::Fault { fault } => {
                let _ = writeln!(
                    s,
                    r##"<g class="fault"><rect x="{LEFT}" y="{ry}" width="{w}" height="{h}" fill="#fdebd0" stroke="#e67e22"/><text x="{tx}" y="{ty}" text-anchor="middle" fill="#a04000" font-weight="bold">⚡ {text}</text></g>"##,
                    ry = y0 - ROW / 2.0 + 2.0,
                    w = width - LEFT - 20.0,
                    h = ROW - 4.0,
                    tx = LEFT + (width - LEFT - 20.0) / 2.0,
                    ty = y0 + 4.0,
                    text = esc(fault),
                );
            }
            EventKind::Refused { from, to, reason } => {
                let _ = writeln!(
                    s,
                    r##"<g class="refused"><line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#c0392b" stroke-dasharray="3 3" marker-end="url(#headred)"/><text x="{tx}" y="{ty}" text-anchor="middle" fill="#c0392b">connect refused: {r}</text></g>"##,
                    x0 = x(from),
                    x1 = x(to),
                    tx = (x(from) + x(to)) / 2.0,
                    ty = y0 - 4.0,
                    r = esc(reason),
                );
            }
            EventKind::Connect { from, to, conn } => {
                let _ = writeln!(
                    s,
                    r##"<g class="connect"><line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#7f8c8d" stroke-dasharray="1 3"/><text x="{tx}" y="{ty}" text-anchor="middle" fill="#7f8c8d">connect c{conn}</text></g>"##,
                    x0 = x(from),
                    x1 = x(to),
                    tx = (x(from) + x(to)) / 2.0,
                    ty = y0 - 3.0,
                );
            }
            EventKind::Lost {
                from, conn, error, ..
            } => {
                let what = error.as_deref().unwrap_or("closed");
                let _ = writeln!(
                    s,
                    r##"<text class="lost" x="{tx}" y="{ty}" fill="#7f8c8d">c{conn} lost: {w}</text>"##,
                    tx = x(from) + 4.0,
                    ty = y0 + 4.0,
                    w = esc(what),
                );
            }
            _ => {}
        }
    }
    s.push_str("</svg>\n");
    s
}
