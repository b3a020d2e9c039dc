//! [`Recorder`]: every event of a simulation, in order; and [`Trace`], what
//! it recorded, with its JSON Lines form.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::event::{Event, EventKind};

/// Records events with a sequence number and the clock's time, and emits
/// each as a `tracing` event (target `agentwire_debug`, level `DEBUG`).
/// Cheap to clone; clones share the record.
///
/// Bounded: it keeps the first [`DEFAULT_MAX_EVENTS`] events (or as many
/// as [`with_max_events`](Self::with_max_events) says) and counts the rest
/// in [`overflow`](Self::overflow); every event still goes to `tracing`.
#[derive(Clone)]
pub struct Recorder {
    events: Arc<Mutex<Chunks>>,
}

/// How many events a recorder keeps unless told otherwise.
pub const DEFAULT_MAX_EVENTS: usize = 4_000_000;

/// Events in chunks of [`CHUNK`]: appending never moves what is stored.
struct Chunks {
    chunks: Vec<Vec<Event>>,
    len: usize,
    max: usize,
    overflow: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::with_max_events(DEFAULT_MAX_EVENTS)
    }
}

const CHUNK: usize = 16 * 1024;

impl Recorder {
    /// An empty recorder keeping up to [`DEFAULT_MAX_EVENTS`] events.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty recorder keeping up to `max` events.
    pub fn with_max_events(max: usize) -> Self {
        Recorder {
            events: Arc::new(Mutex::new(Chunks {
                chunks: Vec::new(),
                len: 0,
                max,
                overflow: 0,
            })),
        }
    }

    /// How many events came after the recorder was full (not kept).
    pub fn overflow(&self) -> u64 {
        self.lock().overflow
    }

    fn lock(&self) -> MutexGuard<'_, Chunks> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends an event at time `time`; returns its sequence number.
    pub fn record(&self, time: Duration, kind: EventKind) -> u64 {
        let mut events = self.lock();
        let seq = events.len as u64 + events.overflow;
        let event = Event {
            seq,
            t_us: u64::try_from(time.as_micros()).unwrap_or(u64::MAX),
            kind,
        };
        tracing::debug!(target: "agentwire_debug", seq, t_us = event.t_us, "{event}");
        if events.len >= events.max {
            events.overflow += 1;
            return seq;
        }
        if events.chunks.last().is_none_or_full() {
            events.chunks.push(Vec::with_capacity(CHUNK));
        }
        if let Some(last) = events.chunks.last_mut() {
            last.push(event);
        }
        events.len += 1;
        seq
    }

    /// How many events are kept.
    pub fn len(&self) -> usize {
        self.lock().len
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.lock().len == 0
    }

    /// A copy of what was recorded so far.
    pub fn trace(&self) -> Trace {
        let events = self.lock();
        Trace {
            events: events.chunks.iter().flatten().cloned().collect(),
        }
    }
}

trait FullExt {
    fn is_none_or_full(&self) -> bool;
}

impl FullExt for Option<&Vec<Event>> {
    fn is_none_or_full(&self) -> bool {
        self.map_or(true, |c| c.len() >= CHUNK)
    }
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("events", &self.len())
            .finish()
    }
}

/// A recorded run: its events in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// The events, by sequence number.
    pub events: Vec<Event>,
}

impl Trace {
    /// The trace as JSON Lines: one event per line, each a JSON object
    /// with `seq`, `t_us`, `event` and the event's fields. The same run
    /// gives the same bytes.
    pub fn to_json_lines(&self) -> String {
        let mut out = String::new();
        for event in &self.events {
            // Serialising these plain structs cannot fail.
            if let Ok(line) = serde_json::to_string(event) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }

    /// Reads a trace back from [`to_json_lines`](Self::to_json_lines)'s
    /// form (empty lines are skipped).
    ///
    /// # Errors
    ///
    /// The JSON error of the first bad line, with its line number.
    pub fn from_json_lines(text: &str) -> Result<Trace, String> {
        let mut events = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let event = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
            events.push(event);
        }
        Ok(Trace { events })
    }

    /// The participants, in the order they first appear.
    pub fn participants(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let mut add = |n: &std::sync::Arc<str>| {
            if !names.iter().any(|x| **x == **n) {
                names.push(n.to_string());
            }
        };
        for e in &self.events {
            match &e.kind {
                EventKind::Connect { from, to, .. }
                | EventKind::Refused { from, to, .. }
                | EventKind::Send { from, to, .. } => {
                    add(from);
                    add(to);
                }
                _ => {}
            }
        }
        names
    }

    /// The `Send` events: one per message that entered a link.
    pub fn messages(&self) -> impl Iterator<Item = &Event> {
        self.events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Send { .. }))
    }
}

impl fmt::Display for Trace {
    /// One event per line, for people.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.events {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}
