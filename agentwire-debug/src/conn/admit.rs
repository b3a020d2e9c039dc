//! A frame's way in: reassembly, its envelope, the simulation's verdict,
//! its due time; and carrying an item out.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use agentwire::channel::MessageKind;
use bytes::Bytes;

use super::flow::FlowWake;
use super::{lock, ConnShared, Item, What, MAX_PATHS, OUT};
use crate::event::{kind_name, EventKind, MessageInfo};
use crate::frames::Frames;
use crate::recorder::Hop;
use crate::rules::{Action, MessageView};

impl ConnShared {
    /// Bytes from one side: reassemble, judge and schedule each frame.
    pub(super) fn feed(&self, dir: usize, data: Bytes) {
        let mut frames = Frames::default();
        lock(&self.rx[dir]).push(data, &mut frames);
        for frame in frames {
            self.admit(dir, frame);
        }
    }

    /// The envelope of a frame, with the path of a reply's request.
    pub(super) fn describe(&self, dir: usize, frame: &Bytes) -> Option<MessageInfo> {
        if !self.sim.framed || frame.len() < 4 {
            return None;
        }
        let mut env = (self.sim.summarizer)(frame.slice(4..))?;
        // A request's path is remembered once it is admitted (see
        // `admit`); a reply takes its request's.
        let path = match env.kind {
            MessageKind::Request => env.path.take(),
            _ => {
                let mut s = self.state();
                let paths = &mut s.paths[1 - dir];
                let at = paths.iter().rposition(|(id, _)| *id == env.id);
                at.and_then(|i| paths.remove(i)).map(|(_, p)| p)
            }
        };
        let agent = match (&env.kind, &path) {
            (MessageKind::Request, Some(p)) => p.strip_prefix("agents/").and_then(|rest| {
                let aid = rest.split('/').next()?;
                Some(if dir == OUT {
                    format!("{}/{aid}", self.to_url)
                } else {
                    format!("{}/{aid}", self.sim.url_of(&self.from)?)
                })
            }),
            _ => None,
        };
        Some(MessageInfo {
            kind: Cow::Borrowed(kind_name(env.kind)),
            id: env.id,
            path,
            agent,
            content: env.content,
        })
    }

    pub(super) fn admit(&self, dir: usize, frame: Bytes) {
        let sim = &self.sim;
        let (sender, receiver) = self.ends(dir);
        let info = self.describe(dir, &frame);
        let msg = sim.next_msg();
        let conn = self.id();
        let verdict = sim.judge(&MessageView {
            from: &sender,
            to: &receiver,
            info: info.as_ref(),
        });
        let now = sim.now();
        let hop = Hop {
            conn,
            msg,
            from: &sender,
            to: &receiver,
        };
        sim.record_send(now, hop, frame.len(), info.as_ref());
        if let Some(reason) = verdict.partitioned {
            sim.record(EventKind::Drop {
                conn,
                msg,
                from: sender,
                to: receiver,
                reason,
            });
            return;
        }
        let mut extra = Duration::ZERO;
        let mut copies = 1;
        let mut reorder = false;
        if let Some((rule, decision)) = verdict.rule {
            sim.record(EventKind::Rule {
                msg,
                rule: rule.clone(),
                action: match &decision {
                    Ok(action) => action.to_string(),
                    Err(panic) => format!("panicked: {panic}"),
                },
            });
            match decision {
                // A custom rule's closure panicked: the message goes on.
                Err(_) => {}
                Ok(Action::Drop) => {
                    sim.record(EventKind::Drop {
                        conn,
                        msg,
                        from: sender,
                        to: receiver,
                        reason: format!("rule {rule:?}"),
                    });
                    return;
                }
                Ok(Action::Delay(d)) => extra = d,
                Ok(Action::Duplicate) => copies = 2,
                Ok(Action::Reorder) => reorder = true,
            }
        }
        // What a reply will need of this request: its path (moved out of
        // the envelope, which is recorded).
        let request_path = info.and_then(|i| {
            (i.kind == kind_name(MessageKind::Request))
                .then_some(i.id)
                .zip(i.path)
        });
        let held = verdict.held;
        let instant = verdict.link.is_instant() && extra.is_zero();
        let mut run_now = Vec::new();
        let mut run_one = None;
        let mut flow = FlowWake::default();
        {
            let mut s = self.state();
            if s.finished || (dir == OUT && s.closing && s.reset) {
                return;
            }
            if let Some(remembered) = request_path {
                let paths = &mut s.paths[dir];
                if paths.len() >= MAX_PATHS {
                    paths.pop_front();
                }
                paths.push_back(remembered);
            }
            let due = if instant {
                now.max(s.last[dir])
            } else {
                // Saturating: a latency, jitter or delay as long as a
                // `Duration` can be is a message that never arrives, not
                // an overflow.
                let start = now.max(s.busy[dir]);
                let depart = start.saturating_add(verdict.link.transmit_time(frame.len()));
                s.busy[dir] = depart;
                depart
                    .saturating_add(verdict.link.get_latency())
                    .saturating_add(verdict.jitter)
                    .saturating_add(extra)
                    .max(s.last[dir])
            };
            s.last[dir] = due;
            let fast = due <= now
                && !held
                && s.queues[dir].is_empty()
                && !s.executing[dir]
                && (dir == OUT || !s.user_paused);
            if fast && copies == 1 && !reorder && s.stash[dir].is_none() {
                // The common case: one frame, due now, nothing in its way.
                s.executing[dir] = true;
                run_one = Some(Item {
                    due,
                    what: What::Frame { bytes: frame, msg },
                });
            } else {
                let mut items: Vec<Item> = (0..copies)
                    .map(|_| Item {
                        due,
                        what: What::Frame {
                            bytes: frame.clone(),
                            msg,
                        },
                    })
                    .collect();
                if reorder {
                    if let Some(old) = s.stash[dir].take() {
                        items.insert(0, Item { due, ..old });
                    }
                    // This one waits; an earlier one waiting goes now.
                    s.stash[dir] = items.pop();
                } else if let Some(old) = s.stash[dir].take() {
                    items.push(Item { due, ..old });
                }
                if fast {
                    s.executing[dir] = true;
                    run_now = items;
                } else {
                    let bytes = items.len() * frame.len();
                    s.queues[dir].extend(items);
                    if dir == OUT {
                        s.out_bytes += bytes;
                        // Under our lock: a backend calls back into nothing
                        // from `write_buffer_size`.
                        let inner_size = self.inner().map_or(0, |t| t.write_buffer_size());
                        flow = s.update_held(inner_size);
                    } else {
                        s.in_bytes += bytes;
                        s.steer_reading(self.inner());
                    }
                }
            }
        }
        flow.run(self);
        if run_now.is_empty() && run_one.is_none() {
            // Queued: the driver must look (a permit is kept if it is busy).
            self.wake.notify_one();
        } else {
            for item in run_one.into_iter().chain(run_now) {
                self.execute(dir, item, now, true);
            }
            let queued = {
                let mut s = self.state();
                s.executing[dir] = false;
                !s.queues[dir].is_empty() || Self::flow_due(&s)
            };
            // Queued behind us meanwhile (another thread), or a pause or
            // resume waiting for our turn: the driver skipped them while we
            // executed.
            if queued {
                self.wake.notify_one();
            }
        }
    }

    /// A queued frame of `len` bytes leaves its queue: held writers may
    /// go on, or the backend may read again.
    fn dequeued(&self, dir: usize, len: usize) {
        let flow = {
            let mut s = self.state();
            if dir == OUT {
                s.out_bytes = s.out_bytes.saturating_sub(len);
                // Under our lock, as in `admit`.
                let inner_size = self.inner().map_or(0, |t| t.write_buffer_size());
                s.update_held(inner_size)
            } else {
                s.in_bytes = s.in_bytes.saturating_sub(len);
                s.steer_reading(self.inner());
                FlowWake::default()
            }
        };
        flow.run(self);
    }

    /// Carries out one item; called with `executing[dir]` set by the caller.
    /// `fresh`: straight from `admit` at the same instant (already judged,
    /// never counted as queued).
    pub(super) fn execute(&self, dir: usize, item: Item, now: Duration, fresh: bool) {
        let sim = &self.sim;
        let conn = self.id();
        match item.what {
            What::Frame { bytes, msg } => {
                let (sender, receiver) = self.ends(dir);
                if !fresh {
                    self.dequeued(dir, bytes.len());
                }
                // The frame is lost, and the trace says why.
                let lost = |reason: String| {
                    sim.record_at(
                        now,
                        EventKind::Drop {
                            conn,
                            msg,
                            from: Arc::clone(&sender),
                            to: Arc::clone(&receiver),
                            reason,
                        },
                    );
                };
                let partitioned = if fresh {
                    None
                } else {
                    sim.partitioned(&sender, &receiver)
                };
                if let Some(reason) = partitioned {
                    lost(reason);
                    return;
                }
                let hop = Hop {
                    conn,
                    msg,
                    from: &sender,
                    to: &receiver,
                };
                if dir == OUT {
                    // A write after close loses the frame, as a closed
                    // socket would: the trace says so.
                    let written = self
                        .inner()
                        .is_some_and(|t| !t.is_closing() && t.write(bytes).is_ok());
                    if written {
                        sim.record_deliver(now, hop);
                    } else {
                        lost("the connection is closed".to_owned());
                    }
                } else if self.state().closing {
                    // This side closed (or dropped its last handle): a
                    // closed socket reads nothing more, and what was on
                    // its way in when it closed is lost.
                    lost("the receiving side closed".to_owned());
                } else {
                    sim.record_deliver(now, hop);
                    self.user.data(bytes);
                }
            }
            What::Eof if dir == OUT => {
                if let Some(t) = self.inner() {
                    let _ = t.write_eof();
                }
            }
            // The peer's half-close, in order after its data: `false`
            // closes, as a backend does (which was told to keep its side
            // open until now).
            What::Eof => {
                // Nothing is received after our own close.
                if self.state().closing {
                    return;
                }
                if !self.user.eof() {
                    self.close();
                }
            }
            What::Close => {
                if let Some(t) = self.inner() {
                    t.close();
                }
            }
            What::Lost(error) => {
                sim.record_at(
                    now,
                    EventKind::Lost {
                        conn,
                        from: Arc::clone(&self.from),
                        to: Arc::clone(&self.to),
                        error: error.as_ref().map(ToString::to_string),
                    },
                );
                let flow = {
                    let mut s = self.state();
                    s.finished = true;
                    s.queues[OUT].clear();
                    s.end_writes()
                };
                flow.run(self);
                sim.remove_conn(conn);
                self.user.lost(error);
            }
        }
    }
}
