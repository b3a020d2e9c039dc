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

use std::collections::BTreeMap;

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

/// Where each message's sends, deliveries and drops are in a trace, found
/// in one pass (a picture of a long run must not scan the rest of the
/// trace once per message).
///
/// A message number names the message of the latest `Send` with it: a
/// trace may number messages again (two runs' traces one after the other,
/// each simulation counting from 1), and a delivery after the next `Send`
/// of its number belongs to that one. So every delivery is drawn once,
/// whatever the numbers.
pub(crate) struct Fates {
    /// Message number -> the indices of its `Send`, `Deliver` and `Drop`
    /// events, in order.
    events: BTreeMap<u64, Vec<usize>>,
}

impl Fates {
    pub(crate) fn new(events: &[Event]) -> Self {
        let mut by_msg: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (i, e) in events.iter().enumerate() {
            if let EventKind::Send { msg, .. }
            | EventKind::Deliver { msg, .. }
            | EventKind::Drop { msg, .. } = &e.kind
            {
                by_msg.entry(*msg).or_default().push(i);
            }
        }
        Fates { events: by_msg }
    }

    /// The indices of `msg`'s deliveries and drops from index `from` on,
    /// up to its next `Send` (which starts another message).
    fn ends_from<'a>(
        &'a self,
        events: &'a [Event],
        from: usize,
        msg: u64,
    ) -> impl Iterator<Item = usize> + 'a {
        let all = self.events.get(&msg).map_or(&[][..], Vec::as_slice);
        all[all.partition_point(|&i| i < from)..]
            .iter()
            .copied()
            .take_while(move |&i| !matches!(events[i].kind, EventKind::Send { .. }))
    }

    /// The first delivery or drop of `msg` at or after index `from`.
    pub(crate) fn fate(&self, events: &[Event], from: usize, msg: u64) -> Fate {
        for i in self.ends_from(events, from, msg) {
            match &events[i].kind {
                EventKind::Deliver { .. } => return Fate::Delivered(i),
                EventKind::Drop { reason, .. } => return Fate::Dropped(i, reason.clone()),
                _ => {}
            }
        }
        Fate::InFlight
    }

    /// The indices of `msg`'s deliveries at or after index `from`.
    pub(crate) fn deliveries<'a>(
        &'a self,
        events: &'a [Event],
        from: usize,
        msg: u64,
    ) -> impl Iterator<Item = usize> + 'a {
        self.ends_from(events, from, msg)
            .filter(move |&i| matches!(events[i].kind, EventKind::Deliver { .. }))
    }
}
