//! Pictures of a [`Trace`](crate::Trace): a sequence diagram as
//! self-contained SVG ([`svg`]) or as Mermaid text ([`mermaid`]).
//!
//! Both draw one lane per participant (in order of first appearance), one
//! arrow per message from its send to its delivery, labelled by its path
//! (replies: `↩ path`, exceptions: `✗ path`), with drops and faults
//! marked. The SVG has a time axis (simulated milliseconds) on the left;
//! rows follow the order of events, so messages sent at the same instant
//! stay readable.

pub mod mermaid;
pub mod svg;

use crate::event::{Event, EventKind, MessageInfo};

/// The label of a message's arrow.
pub(crate) fn label(info: Option<&MessageInfo>, bytes: usize) -> String {
    match info {
        None => format!("{bytes} bytes"),
        Some(i) => {
            let path = i.path.as_deref().unwrap_or("?");
            match &*i.kind {
                "request" => format!("{path} #{}", i.id),
                "exception" => format!("✗ {path} #{}", i.id),
                _ => format!("↩ {path} #{}", i.id),
            }
        }
    }
}

/// What became of message `msg`: the index of its first delivery or its
/// drop (with the reason), if any.
pub(crate) enum Fate {
    Delivered(usize),
    Dropped(usize, String),
    InFlight,
}

pub(crate) fn fate(events: &[Event], from: usize, msg: u64) -> Fate {
    for (i, e) in events.iter().enumerate().skip(from) {
        match &e.kind {
            EventKind::Deliver { msg: m, .. } if *m == msg => return Fate::Delivered(i),
            EventKind::Drop { msg: m, reason, .. } if *m == msg => {
                return Fate::Dropped(i, reason.clone())
            }
            _ => {}
        }
    }
    Fate::InFlight
}
