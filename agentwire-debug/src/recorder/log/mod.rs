//! The recorder's storage: events as compact bytes, turned back into
//! [`Event`]s only when a trace is asked for.
//!
//! A traced call records four events. Kept as `Event`s, with a boxed
//! envelope and a path string for each message, that was about 670 bytes
//! per call, and touching that much fresh memory cost more time than the
//! recording itself. Here the send of a request is about 15 bytes: a tag,
//! varints, and names, paths and agents as numbers into a table of texts
//! (interned up to a bound; past it a text is written out in full).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::event::{EventKind, MessageInfo};

mod read;

const SEND: u8 = 0;
const DELIVER: u8 = 1;
/// An event of another kind, kept as it is in `others`.
const OTHER: u8 = 2;

/// The message kinds by their code; a kind named otherwise is written out.
const KINDS: [&str; 3] = ["request", "result", "exception"];

/// At most this many texts are interned, each at most [`MAX_INTERNED_LEN`]
/// bytes long, so a run with ever new paths cannot grow the table without
/// bound (the log itself is bounded by the recorder's event limit).
const MAX_TEXTS: usize = 4096;
const MAX_INTERNED_LEN: usize = 256;

/// Events, encoded one after the other.
pub(crate) struct Log {
    bytes: Vec<u8>,
    len: usize,
    /// The time of the last event, in microseconds (times are written as
    /// the difference to it).
    last_t: u64,
    texts: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, u32, BuildHasherDefault<Fnv>>,
    /// The numbers of the texts used last (`u32::MAX`: none).
    recent: [u32; RECENT],
    /// Endpoint names by pointer, with their numbers.
    names: Vec<(Arc<str>, u32)>,
    others: Vec<EventKind>,
}

/// Texts compared before the table is looked up.
const RECENT: usize = 4;
/// Endpoint names remembered by pointer.
const NAMES: usize = 16;

impl Default for Log {
    fn default() -> Self {
        Log {
            bytes: Vec::new(),
            len: 0,
            last_t: 0,
            texts: Vec::new(),
            ids: HashMap::default(),
            recent: [u32::MAX; RECENT],
            names: Vec::new(),
            others: Vec::new(),
        }
    }
}

/// What `Send` and `Deliver` events say of a message: its connection, its
/// number and its ends (borrowed).
#[derive(Clone, Copy)]
pub(crate) struct Hop<'a> {
    pub(crate) conn: u64,
    pub(crate) msg: u64,
    pub(crate) from: &'a Arc<str>,
    pub(crate) to: &'a Arc<str>,
}

impl Hop<'_> {
    /// The `Send` event of this hop.
    pub(crate) fn send(self, bytes: usize, info: Option<&MessageInfo>) -> EventKind {
        EventKind::Send {
            conn: self.conn,
            msg: self.msg,
            from: Arc::clone(self.from),
            to: Arc::clone(self.to),
            bytes,
            info: info.cloned().map(Box::new),
        }
    }

    /// The `Deliver` event of this hop.
    pub(crate) fn deliver(self) -> EventKind {
        EventKind::Deliver {
            conn: self.conn,
            msg: self.msg,
            from: Arc::clone(self.from),
            to: Arc::clone(self.to),
        }
    }
}

impl Log {
    /// How many events it holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends `kind` at `t_us`.
    pub(crate) fn push(&mut self, t_us: u64, kind: EventKind) {
        match kind {
            EventKind::Send {
                conn,
                msg,
                from,
                to,
                bytes,
                info,
            } => {
                let hop = Hop {
                    conn,
                    msg,
                    from: &from,
                    to: &to,
                };
                self.push_send(t_us, hop, bytes, info.as_deref());
            }
            EventKind::Deliver {
                conn,
                msg,
                from,
                to,
            } => self.push_deliver(
                t_us,
                Hop {
                    conn,
                    msg,
                    from: &from,
                    to: &to,
                },
            ),
            other => {
                self.head(OTHER, t_us);
                self.varint(self.others.len() as u64);
                self.others.push(other);
            }
        }
    }

    /// Appends a `Send` event.
    pub(crate) fn push_send(
        &mut self,
        t_us: u64,
        hop: Hop<'_>,
        bytes: usize,
        info: Option<&MessageInfo>,
    ) {
        self.head(SEND, t_us);
        self.hop(hop);
        self.varint(bytes as u64);
        let Some(info) = info else {
            self.bytes.push(0);
            return;
        };
        self.bytes.push(1);
        match KINDS.iter().position(|k| *k == info.kind) {
            Some(code) => self.bytes.push(code as u8),
            None => {
                self.bytes.push(KINDS.len() as u8);
                self.text(&info.kind);
            }
        }
        self.varint(info.id);
        self.optional_text(info.path.as_deref());
        self.optional_text(info.agent.as_deref());
        // Contents vary: written out, never interned.
        self.varint(info.content.len() as u64);
        self.bytes.extend_from_slice(info.content.as_bytes());
    }

    /// Appends a `Deliver` event.
    pub(crate) fn push_deliver(&mut self, t_us: u64, hop: Hop<'_>) {
        self.head(DELIVER, t_us);
        self.hop(hop);
    }

    fn hop(&mut self, hop: Hop<'_>) {
        self.varint(hop.conn);
        self.varint(hop.msg);
        self.name(hop.from);
        self.name(hop.to);
    }

    fn head(&mut self, tag: u8, t_us: u64) {
        self.bytes.push(tag);
        let delta = t_us.wrapping_sub(self.last_t) as i64;
        self.last_t = t_us;
        // Zigzag: times written from several threads may step back a bit.
        self.varint(((delta << 1) ^ (delta >> 63)) as u64);
        self.len += 1;
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.bytes.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.bytes.push(v as u8);
    }

    /// A text: its number in the table (even), or its length (odd) and
    /// bytes.
    fn text(&mut self, text: &str) {
        match self.text_id(text) {
            Some(id) => self.varint(u64::from(id) << 1),
            None => self.text_bytes(text),
        }
    }

    fn text_bytes(&mut self, text: &str) {
        self.varint(((text.len() as u64) << 1) | 1);
        self.bytes.extend_from_slice(text.as_bytes());
    }

    /// An endpoint's name: the same few shared names come again and again,
    /// so they are first looked up by pointer (kept alive here, so a
    /// pointer cannot come back as another name).
    fn name(&mut self, name: &Arc<str>) {
        if let Some((_, id)) = self.names.iter().find(|(n, _)| Arc::ptr_eq(n, name)) {
            return self.varint(u64::from(*id) << 1);
        }
        match self.text_id(name) {
            Some(id) => {
                if self.names.len() < NAMES {
                    self.names.push((Arc::clone(name), id));
                }
                self.varint(u64::from(id) << 1);
            }
            None => self.text_bytes(name),
        }
    }

    /// The number of `text` in the table, adding it if there is room.
    /// The texts used last are compared first: paths repeat.
    fn text_id(&mut self, text: &str) -> Option<u32> {
        for &id in &self.recent {
            if self.texts.get(id as usize).is_some_and(|t| **t == *text) {
                return Some(id);
            }
        }
        let id = match self.ids.get(text) {
            Some(&id) => id,
            None if self.texts.len() < MAX_TEXTS && text.len() <= MAX_INTERNED_LEN => {
                let id = self.texts.len() as u32;
                let shared: Arc<str> = Arc::from(text);
                self.texts.push(Arc::clone(&shared));
                self.ids.insert(shared, id);
                id
            }
            None => return None,
        };
        self.recent.rotate_right(1);
        self.recent[0] = id;
        Some(id)
    }

    fn optional_text(&mut self, text: Option<&str>) {
        match text {
            None => self.bytes.push(0),
            Some(t) => {
                self.bytes.push(1);
                self.text(t);
            }
        }
    }
}

/// FNV-1a: the texts are short names and paths, for which it is several
/// times cheaper than the default hasher (and nothing here is keyed by what
/// a peer could choose to collide: the table is bounded anyway).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn info(kind: &'static str, path: Option<&str>, content: &str) -> MessageInfo {
        MessageInfo {
            kind: Cow::Borrowed(kind),
            id: 300,
            path: path.map(str::to_owned),
            agent: path.map(|p| format!("local://b/{p}")),
            content: content.to_owned(),
        }
    }

    fn send(from: &str, info: Option<MessageInfo>) -> EventKind {
        EventKind::Send {
            conn: 1,
            msg: 1 << 40,
            from: Arc::from(from),
            to: Arc::from("b"),
            bytes: 70_000,
            info: info.map(Box::new),
        }
    }

    #[test]
    fn every_kind_of_event_comes_back_as_it_went_in() {
        let kinds = vec![
            send("a", Some(info("request", Some("agents/0/add"), "[1, 2]"))),
            send("a", Some(info("result", None, ""))),
            send("a", Some(info("custom kind", Some("x"), "é…"))),
            send("a", None),
            EventKind::Deliver {
                conn: 1,
                msg: 7,
                from: Arc::from("a"),
                to: Arc::from("b"),
            },
            EventKind::Fault {
                fault: "partition a | b".into(),
            },
            EventKind::Lost {
                conn: 1,
                from: Arc::from("a"),
                to: Arc::from("b"),
                error: Some("reset".into()),
            },
        ];
        // Times go forward, and (written from several threads) back a bit.
        let times = [0, 5, 5, 1_000_000, 999_999, u64::MAX, 3];
        let mut log = Log::default();
        for (t, kind) in times.iter().zip(kinds.clone()) {
            log.push(*t, kind);
        }
        let events = log.events();
        assert_eq!(events.len(), kinds.len());
        for (i, (event, (t, kind))) in events.iter().zip(times.iter().zip(kinds)).enumerate() {
            assert_eq!(event.seq, i as u64);
            assert_eq!(event.t_us, *t);
            assert_eq!(event.kind, kind);
        }
    }

    #[test]
    fn texts_past_the_table_are_written_out() {
        let mut log = Log::default();
        let long = "p".repeat(MAX_INTERNED_LEN + 1);
        for i in 0..MAX_TEXTS + 10 {
            let path = format!("path/{i}");
            log.push(i as u64, send("a", Some(info("request", Some(&path), ""))));
        }
        log.push(0, send(&long, None));
        assert_eq!(log.texts.len(), MAX_TEXTS);
        let events = log.events();
        assert_eq!(events.len(), MAX_TEXTS + 11);
        for (i, event) in events.iter().take(MAX_TEXTS + 10).enumerate() {
            let EventKind::Send {
                info: Some(info), ..
            } = &event.kind
            else {
                panic!("not a send: {event:?}");
            };
            assert_eq!(info.path.as_deref(), Some(format!("path/{i}").as_str()));
        }
        assert!(
            matches!(&events[MAX_TEXTS + 10].kind, EventKind::Send { from, .. } if **from == *long)
        );
    }

    #[test]
    fn names_come_back_whoever_shares_them() {
        let mut log = Log::default();
        let shared: Vec<Arc<str>> = (0..NAMES * 2).map(|i| Arc::from(format!("n{i}"))).collect();
        let mut expected = Vec::new();
        for round in 0..3 {
            for (i, name) in shared.iter().enumerate() {
                // The same name as a shared pointer and as a fresh one.
                let fresh: Arc<str> = Arc::from(&**name);
                let (from, to) = if round == 1 {
                    (&fresh, name)
                } else {
                    (name, &fresh)
                };
                log.push_deliver(
                    0,
                    Hop {
                        conn: 1,
                        msg: i as u64,
                        from,
                        to,
                    },
                );
                expected.push(name.to_string());
            }
        }
        let events = log.events();
        assert_eq!(events.len(), expected.len());
        for (event, name) in events.iter().zip(&expected) {
            let EventKind::Deliver { from, to, .. } = &event.kind else {
                panic!("not a delivery: {event:?}");
            };
            assert_eq!((&**from, &**to), (name.as_str(), name.as_str()));
        }
        assert_eq!(log.texts.len(), NAMES * 2);
        assert_eq!(log.names.len(), NAMES);
    }

    #[test]
    fn a_message_takes_a_few_bytes() {
        let mut log = Log::default();
        for _ in 0..100 {
            log.push(10, send("client", Some(info("request", Some("add"), ""))));
            log.push(
                10,
                EventKind::Deliver {
                    conn: 1,
                    msg: 9,
                    from: Arc::from("client"),
                    to: Arc::from("b"),
                },
            );
        }
        // Once the names are in the table, a request's send and delivery
        // are about 30 bytes (an `Event` alone was 96).
        assert!(log.bytes.len() < 100 * 40, "{} bytes", log.bytes.len());
    }
}
