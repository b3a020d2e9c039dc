//! Reading the log's bytes back into [`Event`]s.

use std::borrow::Cow;
use std::sync::Arc;

use super::{Log, DELIVER, KINDS, SEND};
use crate::event::{Event, EventKind, MessageInfo};

impl Log {
    /// The events, numbered from 0.
    pub(crate) fn events(&self) -> Vec<Event> {
        let mut out = Vec::with_capacity(self.len);
        let mut reader = Reader {
            log: self,
            at: 0,
            t: 0,
        };
        while out.len() < self.len {
            // The bytes are ours: they always decode. Should they not, the
            // trace ends there rather than the program.
            let Some((t_us, kind)) = reader.event() else {
                break;
            };
            out.push(Event {
                seq: out.len() as u64,
                t_us,
                kind,
            });
        }
        out
    }
}

/// Reads events back, in order.
struct Reader<'a> {
    log: &'a Log,
    at: usize,
    t: u64,
}

impl Reader<'_> {
    fn event(&mut self) -> Option<(u64, EventKind)> {
        let tag = self.byte()?;
        let zigzag = self.varint()?;
        let delta = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
        self.t = self.t.wrapping_add(delta as u64);
        let kind = match tag {
            SEND => EventKind::Send {
                conn: self.varint()?,
                msg: self.varint()?,
                from: self.name()?,
                to: self.name()?,
                bytes: usize::try_from(self.varint()?).ok()?,
                info: match self.byte()? {
                    0 => None,
                    _ => Some(Box::new(self.info()?)),
                },
            },
            DELIVER => EventKind::Deliver {
                conn: self.varint()?,
                msg: self.varint()?,
                from: self.name()?,
                to: self.name()?,
            },
            _ => {
                let index = usize::try_from(self.varint()?).ok()?;
                self.log.others.get(index)?.clone()
            }
        };
        Some((self.t, kind))
    }

    fn info(&mut self) -> Option<MessageInfo> {
        let code = usize::from(self.byte()?);
        let kind = match KINDS.get(code) {
            Some(k) => Cow::Borrowed(*k),
            None => Cow::Owned(self.name()?.to_string()),
        };
        let id = self.varint()?;
        let path = self.optional_string()?;
        let agent = self.optional_string()?;
        let len = usize::try_from(self.varint()?).ok()?;
        let content = self.utf8(len)?.to_owned();
        Some(MessageInfo {
            kind,
            id,
            path,
            agent,
            content,
        })
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.log.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn utf8(&mut self, len: usize) -> Option<&str> {
        let end = self.at.checked_add(len)?;
        let text = std::str::from_utf8(self.log.bytes.get(self.at..end)?).ok()?;
        self.at = end;
        Some(text)
    }

    /// A text, as the shared name it is in the table.
    fn name(&mut self) -> Option<Arc<str>> {
        let v = self.varint()?;
        if v & 1 == 0 {
            let id = usize::try_from(v >> 1).ok()?;
            return self.log.texts.get(id).cloned();
        }
        let len = usize::try_from(v >> 1).ok()?;
        self.utf8(len).map(Arc::from)
    }

    fn optional_string(&mut self) -> Option<Option<String>> {
        match self.byte()? {
            0 => Some(None),
            _ => self.name().map(|t| Some(t.to_string())),
        }
    }
}
