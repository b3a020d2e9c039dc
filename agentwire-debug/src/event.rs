//! [`Event`]: one entry of a trace, and [`MessageInfo`], what a trace says
//! about a channel/RPC message.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The name of a message kind in traces: `"request"`, `"result"`,
/// `"exception"`.
pub(crate) fn kind_name(kind: agentwire::channel::MessageKind) -> &'static str {
    use agentwire::channel::MessageKind;
    match kind {
        MessageKind::Request => "request",
        MessageKind::Result => "result",
        MessageKind::Exception => "exception",
    }
}

/// What a trace knows about one channel/RPC frame: the decoded envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageInfo {
    /// `"request"`, `"result"` or `"exception"`.
    pub kind: Cow<'static, str>,
    /// The envelope's id (a reply carries its request's id).
    pub id: u64,
    /// The request's path (`agents/0/add`); for a reply, the path of the
    /// request it answers, when that request was seen.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub path: Option<String>,
    /// The agent the request is for (`local://b/0`), when the path names
    /// one (`agents/<id>/…`) and its container's URL is known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub agent: Option<String>,
    /// A short form of the content (JSON text, cut at 60 characters; empty
    /// for binary codecs).
    pub content: String,
}

/// One event of a trace: a sequence number, the clock's time, what happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// 0, 1, 2, … in the order the events happened.
    pub seq: u64,
    /// The simulation clock's time, in microseconds.
    pub t_us: u64,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. Endpoints are the names of the simulation's nodes (or
/// the URL of an address no node listens on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// `from` connected to `to`; `conn` numbers the connection.
    Connect {
        /// The connection's number.
        conn: u64,
        /// The connecting endpoint.
        from: Arc<str>,
        /// The endpoint connected to.
        to: Arc<str>,
    },
    /// A new connection from `from` to `to` was refused by the simulation.
    Refused {
        /// The connecting endpoint.
        from: Arc<str>,
        /// The endpoint it wanted.
        to: Arc<str>,
        /// Why (`refuse`, the partition).
        reason: String,
    },
    /// A frame (or, for raw byte streams, a chunk) entered the link.
    Send {
        /// The connection.
        conn: u64,
        /// The message's number in the trace (deliveries and drops name it).
        msg: u64,
        /// Sender.
        from: Arc<str>,
        /// Receiver.
        to: Arc<str>,
        /// Size on the wire, with the frame header.
        bytes: usize,
        /// The decoded envelope, for channel frames.
        #[serde(flatten, skip_serializing_if = "Option::is_none", default)]
        info: Option<Box<MessageInfo>>,
    },
    /// Message `msg` reached its receiver.
    Deliver {
        /// The connection.
        conn: u64,
        /// The message's number.
        msg: u64,
        /// Sender.
        from: Arc<str>,
        /// Receiver.
        to: Arc<str>,
    },
    /// Message `msg` was lost.
    Drop {
        /// The connection.
        conn: u64,
        /// The message's number.
        msg: u64,
        /// Sender.
        from: Arc<str>,
        /// Receiver.
        to: Arc<str>,
        /// Why: the rule's name, or the partition.
        reason: String,
    },
    /// A rule fired on message `msg`.
    Rule {
        /// The message's number.
        msg: u64,
        /// The rule's name.
        rule: String,
        /// What it did (`drop`, `delay 5ms`, `duplicate`, `reorder`; or
        /// `panicked: <message>` when a custom rule panicked, which left
        /// the message alone).
        action: String,
    },
    /// A fault was set or cleared (hold, release, partition, heal, reset,
    /// refuse, accept).
    Fault {
        /// The fault, as one line.
        fault: String,
    },
    /// The connection ended, at the connecting side.
    Lost {
        /// The connection.
        conn: u64,
        /// The connecting endpoint.
        from: Arc<str>,
        /// The endpoint connected to.
        to: Arc<str>,
        /// The error, if it did not close cleanly.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        error: Option<String>,
    },
}

/// One line for people (`Trace`'s `Display` writes one per event): names,
/// paths, reasons and errors are the trace's own text, so their control
/// characters (newlines among them) are written as Rust escapes (`\n`,
/// `\u{1}`) and cannot split an event over lines.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.t_us as f64 / 1000.0;
        write!(f, "#{} t={ms}ms ", self.seq)?;
        match &self.kind {
            EventKind::Connect { conn, from, to } => {
                write!(f, "connect c{conn} {} -> {}", OneLine(from), OneLine(to))
            }
            EventKind::Refused { from, to, reason } => {
                write!(
                    f,
                    "refused {} -> {}: {}",
                    OneLine(from),
                    OneLine(to),
                    OneLine(reason)
                )
            }
            EventKind::Send {
                conn,
                msg,
                from,
                to,
                bytes,
                info,
            } => {
                write!(
                    f,
                    "send m{msg} c{conn} {} -> {} {bytes}B",
                    OneLine(from),
                    OneLine(to)
                )?;
                if let Some(i) = info {
                    write!(f, " {} id={}", OneLine(&i.kind), i.id)?;
                    if let Some(p) = &i.path {
                        write!(f, " {}", OneLine(p))?;
                    }
                    write!(f, " {}", OneLine(&i.content))?;
                }
                Ok(())
            }
            EventKind::Deliver {
                conn,
                msg,
                from,
                to,
            } => write!(
                f,
                "deliver m{msg} c{conn} {} -> {}",
                OneLine(from),
                OneLine(to)
            ),
            EventKind::Drop {
                conn,
                msg,
                from,
                to,
                reason,
            } => write!(
                f,
                "drop m{msg} c{conn} {} -> {}: {}",
                OneLine(from),
                OneLine(to),
                OneLine(reason)
            ),
            EventKind::Rule { msg, rule, action } => {
                write!(f, "rule {rule:?} on m{msg}: {}", OneLine(action))
            }
            EventKind::Fault { fault } => write!(f, "fault: {}", OneLine(fault)),
            EventKind::Lost {
                conn,
                from,
                to,
                error,
            } => {
                write!(f, "lost c{conn} {} -> {}", OneLine(from), OneLine(to))?;
                if let Some(e) = error {
                    write!(f, ": {}", OneLine(e))?;
                }
                Ok(())
            }
        }
    }
}

/// A string written on one line: control characters, and the Unicode line
/// and paragraph separators, as Rust escapes.
struct OneLine<'a>(&'a str);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}
