//! [`Recorder`]: every event of a simulation, in order; and [`Trace`], what
//! it recorded, with its JSON Lines form.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::event::{Event, EventKind, MessageInfo};

mod log;

pub(crate) use log::Hop;
use log::Log;

/// Records events with a sequence number and the clock's time, and emits
/// each as a `tracing` event (target `agentwire_debug`, level `DEBUG`).
/// Cheap to clone; clones share the record.
///
/// Bounded: it keeps the first [`DEFAULT_MAX_EVENTS`] events (or as many
/// as [`with_max_events`](Self::with_max_events) says) and counts the rest
/// in [`overflow`](Self::overflow); every event still goes to `tracing`.
///
/// Events are kept compactly (a message's send is some 15 bytes) and made
/// into [`Event`]s by [`trace`](Self::trace).
#[derive(Clone)]
pub struct Recorder {
    events: Arc<Mutex<Store>>,
}

/// How many events a recorder keeps unless told otherwise.
pub const DEFAULT_MAX_EVENTS: usize = 4_000_000;

struct Store {
    log: Log,
    max: usize,
    overflow: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::with_max_events(DEFAULT_MAX_EVENTS)
    }
}

impl Recorder {
    /// An empty recorder keeping up to [`DEFAULT_MAX_EVENTS`] events.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty recorder keeping up to `max` events.
    pub fn with_max_events(max: usize) -> Self {
        Recorder {
            events: Arc::new(Mutex::new(Store {
                log: Log::default(),
                max,
                overflow: 0,
            })),
        }
    }

    /// How many events came after the recorder was full (not kept).
    pub fn overflow(&self) -> u64 {
        self.lock().overflow
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends an event at time `time`; returns its sequence number.
    pub fn record(&self, time: Duration, kind: EventKind) -> u64 {
        let (mut store, seq, t_us) = self.begin(time);
        let event = Event { seq, t_us, kind };
        if tracing_on() {
            emit(&event);
        }
        if let Some(log) = store.room() {
            log.push(t_us, event.kind);
        }
        seq
    }

    /// Appends a `Send` event, as [`record`](Self::record) would, without
    /// building it (unless `tracing` wants it).
    pub(crate) fn record_send(
        &self,
        time: Duration,
        hop: Hop<'_>,
        bytes: usize,
        info: Option<&MessageInfo>,
    ) -> u64 {
        self.append(
            time,
            || hop.send(bytes, info),
            |log, t_us| log.push_send(t_us, hop, bytes, info),
        )
    }

    /// Appends a `Deliver` event, as [`record_send`](Self::record_send).
    pub(crate) fn record_deliver(&self, time: Duration, hop: Hop<'_>) -> u64 {
        self.append(
            time,
            || hop.deliver(),
            |log, t_us| log.push_deliver(t_us, hop),
        )
    }

    /// Numbers an event, emits it to `tracing` (built by `build` only if
    /// anyone listens) and keeps it with `keep` if there is room.
    fn append(
        &self,
        time: Duration,
        build: impl FnOnce() -> EventKind,
        keep: impl FnOnce(&mut Log, u64),
    ) -> u64 {
        let (mut store, seq, t_us) = self.begin(time);
        if tracing_on() {
            emit(&Event {
                seq,
                t_us,
                kind: build(),
            });
        }
        if let Some(log) = store.room() {
            keep(log, t_us);
        }
        seq
    }

    /// The store, locked, with the next event's sequence number and time.
    fn begin(&self, time: Duration) -> (MutexGuard<'_, Store>, u64, u64) {
        let t_us = u64::try_from(time.as_micros()).unwrap_or(u64::MAX);
        let store = self.lock();
        let seq = store.log.len() as u64 + store.overflow;
        (store, seq, t_us)
    }

    /// How many events are kept.
    pub fn len(&self) -> usize {
        self.lock().log.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of what was recorded so far.
    pub fn trace(&self) -> Trace {
        Trace {
            events: self.lock().log.events(),
        }
    }
}

impl Store {
    /// The log, if it may take one more event; else the event is counted
    /// as overflow.
    fn room(&mut self) -> Option<&mut Log> {
        if self.log.len() >= self.max {
            self.overflow += 1;
            return None;
        }
        Some(&mut self.log)
    }
}

/// Whether anyone listens to the recorder's `tracing` events.
fn tracing_on() -> bool {
    tracing::enabled!(target: "agentwire_debug", tracing::Level::DEBUG)
}

fn emit(event: &Event) {
    tracing::debug!(target: "agentwire_debug", seq = event.seq, t_us = event.t_us, "{event}");
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
    pub fn participants<'a>(&'a self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        // Seen ones by name: a long run has many (a lookup in the list
        // made this quadratic).
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        let mut add = |n: &'a str| {
            if seen.insert(n) {
                names.push(n.to_owned());
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
