//! One simulated connection: the connecting side's wrapper around the
//! backend's transport ([`SimTransport`]) and protocol (`SimProtocol`),
//! which carries both directions through the simulation.
//!
//! Each direction is reassembled into frames; each frame is judged
//! (partition, rules, the link's latency, jitter and bandwidth) and gets a
//! due time. A frame due now, with nothing ahead of it, passes at once
//! (the fast path: no task hop); the others wait in the direction's queue
//! for the connection's driver task, which sleeps on the simulation's
//! clock until the head is due (and the link not held).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use agentwire::api::{
    Address, Endpoint, Error, Protocol, ProtocolHandle, Result, SharedTransport, Transport,
    WriteBufferLimits,
};
use agentwire::channel::MessageKind;
use bytes::Bytes;
use tokio::sync::Notify;

use crate::event::{kind_name, EventKind, MessageInfo};
use crate::frames::Reassembler;
use crate::rules::{Action, MessageView};
use crate::sim::{Sim, SimInner};

/// Client to server.
const OUT: usize = 0;
/// Server to client.
const IN: usize = 1;
/// Request paths remembered per direction, to label their replies.
const MAX_PATHS: usize = 4096;

/// The user's protocol, reached through its handle.
trait Deliver: Send + Sync {
    fn made(&self, t: SharedTransport);
    fn data(&self, d: Bytes);
    fn eof(&self) -> bool;
    fn lost(&self, e: Option<Error>);
    fn pause(&self);
    fn resume(&self);
}

impl<P: Protocol> Deliver for ProtocolHandle<P> {
    fn made(&self, t: SharedTransport) {
        self.with(|p| p.connection_made(t));
    }
    fn data(&self, d: Bytes) {
        self.with(|p| p.data_received(d));
    }
    fn eof(&self) -> bool {
        self.with(|p| p.eof_received())
    }
    fn lost(&self, e: Option<Error>) {
        self.with(|p| p.connection_lost(e));
    }
    fn pause(&self) {
        self.with(|p| p.pause_writing());
    }
    fn resume(&self) {
        self.with(|p| p.resume_writing());
    }
}

enum What {
    Frame { bytes: Bytes, msg: u64 },
    Close,
    Lost(Option<Error>),
}

struct Item {
    due: Duration,
    what: What,
}

#[derive(Default)]
struct ConnState {
    queues: [VecDeque<Item>; 2],
    /// Due time of the last frame queued per direction (order is kept).
    last: [Duration; 2],
    /// Until when the link is busy sending, per direction (bandwidth).
    busy: [Duration; 2],
    /// A frame a reorder rule holds back, per direction.
    stash: [Option<Item>; 2],
    /// Someone executes an item of this direction right now.
    executing: [bool; 2],
    /// Paths of requests sent per direction, by id, to label replies
    /// (the latest [`MAX_PATHS`]).
    paths: [VecDeque<(u64, String)>; 2],
    /// Bytes waiting in the outgoing queue.
    out_bytes: usize,
    closing: bool,
    reset: bool,
    finished: bool,
}

pub(crate) struct ConnShared {
    id: OnceLock<u64>,
    from: Arc<str>,
    to: Arc<str>,
    to_url: String,
    sim: Arc<SimInner>,
    inner: OnceLock<SharedTransport>,
    user: Box<dyn Deliver>,
    rx: [Mutex<Reassembler>; 2],
    state: Mutex<ConnState>,
    wake: Notify,
}

/// Connects `protocol` to `addr` from `node` through `sim`.
pub(crate) async fn connect<A: Address, P: Protocol>(
    addr: &A,
    node: &Arc<str>,
    sim: &Sim,
    protocol: P,
) -> Result<(SimTransport, ProtocolHandle<P>)> {
    let inner = &sim.inner;
    let to_url = addr.to_string();
    let to: Arc<str> = inner.name_of(&to_url).into();
    if let Some(reason) = inner.refusal(node, &to) {
        inner.record(EventKind::Refused {
            from: Arc::clone(node),
            to,
            reason: reason.clone(),
        });
        return Err(Error::ConnectionRefused {
            addr: to_url,
            source: Some(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                reason,
            )),
        });
    }
    let user = ProtocolHandle::new(protocol);
    let conn = Arc::new(ConnShared {
        id: OnceLock::new(),
        from: Arc::clone(node),
        to,
        to_url,
        sim: Arc::clone(inner),
        inner: OnceLock::new(),
        user: Box::new(user.clone()),
        rx: [
            Mutex::new(Reassembler::new(inner.framed, inner.max_frame)),
            Mutex::new(Reassembler::new(inner.framed, inner.max_frame)),
        ],
        state: Mutex::new(ConnState::default()),
        wake: Notify::new(),
    });
    let wrapper = SimProtocol {
        conn: Arc::clone(&conn),
    };
    match addr.create_connection(wrapper).await {
        Ok(_) => Ok((SimTransport { conn }, user)),
        Err(e) => {
            inner.record(EventKind::Refused {
                from: Arc::clone(node),
                to: Arc::clone(&conn.to),
                reason: e.to_string(),
            });
            Err(e)
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ConnShared {
    pub(crate) fn from(&self) -> &str {
        &self.from
    }

    pub(crate) fn to(&self) -> &str {
        &self.to
    }

    fn id(&self) -> u64 {
        self.id.get().copied().unwrap_or(0)
    }

    fn state(&self) -> MutexGuard<'_, ConnState> {
        lock(&self.state)
    }

    fn ends(&self, dir: usize) -> (Arc<str>, Arc<str>) {
        let (a, b) = (Arc::clone(&self.from), Arc::clone(&self.to));
        if dir == OUT {
            (a, b)
        } else {
            (b, a)
        }
    }

    fn inner(&self) -> Option<&SharedTransport> {
        self.inner.get()
    }

    /// Bytes from one side: reassemble, judge and schedule each frame.
    fn feed(&self, dir: usize, data: Bytes) {
        let mut frames = Vec::new();
        lock(&self.rx[dir]).push(data, &mut frames);
        for frame in frames {
            self.admit(dir, frame);
        }
    }

    /// The envelope of a frame, with the path of a reply's request.
    fn describe(&self, dir: usize, frame: &Bytes) -> Option<MessageInfo> {
        if !self.sim.framed || frame.len() < 4 {
            return None;
        }
        let env = (self.sim.summarizer)(frame.slice(4..))?;
        let path = {
            let mut s = self.state();
            match env.kind {
                MessageKind::Request => {
                    if let Some(p) = &env.path {
                        let paths = &mut s.paths[dir];
                        if paths.len() >= MAX_PATHS {
                            paths.pop_front();
                        }
                        paths.push_back((env.id, p.clone()));
                    }
                    env.path.clone()
                }
                _ => {
                    let paths = &mut s.paths[1 - dir];
                    let at = paths.iter().rposition(|(id, _)| *id == env.id);
                    at.and_then(|i| paths.remove(i)).map(|(_, p)| p)
                }
            }
        };
        let agent = match (&env.kind, &path) {
            (MessageKind::Request, Some(p)) => p.strip_prefix("agents/").and_then(|rest| {
                let aid = rest.split('/').next()?;
                let base = if dir == OUT {
                    Some(self.to_url.clone())
                } else {
                    self.sim.url_of(&self.from)
                }?;
                Some(format!("{base}/{aid}"))
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

    fn admit(&self, dir: usize, frame: Bytes) {
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
        sim.record_at(
            now,
            EventKind::Send {
                conn,
                msg,
                from: Arc::clone(&sender),
                to: Arc::clone(&receiver),
                bytes: frame.len(),
                info: info.map(Box::new),
            },
        );
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
        if let Some((rule, action)) = verdict.rule {
            sim.record(EventKind::Rule {
                msg,
                rule: rule.clone(),
                action: action.to_string(),
            });
            match action {
                Action::Drop => {
                    sim.record(EventKind::Drop {
                        conn,
                        msg,
                        from: sender,
                        to: receiver,
                        reason: format!("rule {rule:?}"),
                    });
                    return;
                }
                Action::Delay(d) => extra = d,
                Action::Duplicate => copies = 2,
                Action::Reorder => reorder = true,
            }
        }
        let held = verdict.held;
        let instant = verdict.link.is_instant() && extra.is_zero();
        let mut run_now = Vec::new();
        {
            let mut s = self.state();
            if s.finished || (dir == OUT && s.closing && s.reset) {
                return;
            }
            let due = if instant {
                now.max(s.last[dir])
            } else {
                let start = now.max(s.busy[dir]);
                let depart = start + verdict.link.transmit_time(frame.len());
                s.busy[dir] = depart;
                (depart + verdict.link.get_latency() + verdict.jitter + extra).max(s.last[dir])
            };
            s.last[dir] = due;
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
            let fast = due <= now
                && !held
                && s.queues[dir].is_empty()
                && !s.executing[dir]
                && (dir == OUT || self.inner().is_none_or_reading());
            if fast {
                s.executing[dir] = true;
                run_now = items;
            } else {
                if dir == OUT {
                    s.out_bytes += items.len() * frame.len();
                }
                s.queues[dir].extend(items);
            }
        }
        if run_now.is_empty() {
            // Queued: the driver must look (a permit is kept if it is busy).
            self.wake.notify_one();
        } else {
            for item in run_now {
                self.execute(dir, item, now, true);
            }
            let queued = {
                let mut s = self.state();
                s.executing[dir] = false;
                !s.queues[dir].is_empty()
            };
            // Queued behind us meanwhile (another thread): the driver
            // skipped them while we executed.
            if queued {
                self.wake.notify_one();
            }
        }
    }

    /// Carries out one item; called with `executing[dir]` set by the caller.
    /// `fresh`: straight from `admit` at the same instant (already judged,
    /// never counted as queued).
    fn execute(&self, dir: usize, item: Item, now: Duration, fresh: bool) {
        let sim = &self.sim;
        let conn = self.id();
        match item.what {
            What::Frame { bytes, msg } => {
                let (sender, receiver) = self.ends(dir);
                if dir == OUT && !fresh {
                    let mut s = self.state();
                    s.out_bytes = s.out_bytes.saturating_sub(bytes.len());
                }
                let partitioned = if fresh {
                    None
                } else {
                    sim.partitioned(&sender, &receiver)
                };
                if let Some(reason) = partitioned {
                    sim.record_at(
                        now,
                        EventKind::Drop {
                            conn,
                            msg,
                            from: sender,
                            to: receiver,
                            reason,
                        },
                    );
                    return;
                }
                sim.record_at(
                    now,
                    EventKind::Deliver {
                        conn,
                        msg,
                        from: sender,
                        to: receiver,
                    },
                );
                if dir == OUT {
                    if let Some(t) = self.inner() {
                        // A write after close loses the frame, as a
                        // closed socket would.
                        let _ = t.write(bytes);
                    }
                } else {
                    self.user.data(bytes);
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
                {
                    let mut s = self.state();
                    s.finished = true;
                    s.queues[OUT].clear();
                    s.out_bytes = 0;
                }
                sim.remove_conn(conn);
                self.user.lost(error);
            }
        }
    }

    /// The next item to execute, or when to look again.
    fn next_step(&self, now: Duration, held: bool) -> Step {
        let mut s = self.state();
        let reading = self.inner().is_none_or_reading();
        let mut wake_at: Option<Duration> = None;
        for dir in [OUT, IN] {
            if s.executing[dir] {
                continue;
            }
            let Some(head) = s.queues[dir].front() else {
                continue;
            };
            let control = !matches!(head.what, What::Frame { .. });
            if head.due > now {
                wake_at = Some(wake_at.map_or(head.due, |w| w.min(head.due)));
                continue;
            }
            if !control && (held || (dir == IN && !reading)) {
                continue;
            }
            if let Some(item) = s.queues[dir].pop_front() {
                s.executing[dir] = true;
                return Step::Run(dir, item);
            }
        }
        if s.finished && s.queues.iter().all(VecDeque::is_empty) {
            return Step::Done;
        }
        Step::Wait(wake_at)
    }

    fn done_executing(&self, dir: usize) {
        self.state().executing[dir] = false;
    }

    /// The backend lost the connection: deliver that after what is still
    /// on its way in (at once for a reset).
    fn lost(&self, error: Option<Error>) {
        let now = self.sim.now();
        let run_now = {
            let mut s = self.state();
            let error = if s.reset {
                s.queues = Default::default();
                s.stash = Default::default();
                Some(Error::ConnectionReset)
            } else {
                error
            };
            for dir in [OUT, IN] {
                if let Some(old) = s.stash[dir].take() {
                    let due = s.last[dir];
                    s.queues[dir].push_back(Item { due, ..old });
                }
            }
            let due = now.max(s.last[IN]);
            let item = Item {
                due,
                what: What::Lost(error),
            };
            if s.queues[IN].is_empty() && !s.executing[IN] {
                s.executing[IN] = true;
                Some(item)
            } else {
                s.queues[IN].push_back(item);
                None
            }
        };
        if let Some(item) = run_now {
            self.execute(IN, item, now, false);
            self.done_executing(IN);
        }
        self.wake.notify_one();
    }

    /// The simulation resets this connection.
    pub(crate) fn reset(&self) {
        {
            let mut s = self.state();
            s.reset = true;
            s.closing = true;
        }
        if let Some(t) = self.inner() {
            t.abort();
        }
    }

    fn close(&self) {
        let close_now = {
            let mut s = self.state();
            if std::mem::replace(&mut s.closing, true) {
                return;
            }
            if let Some(old) = s.stash[OUT].take() {
                let due = s.last[OUT];
                s.queues[OUT].push_back(Item { due, ..old });
            }
            if s.queues[OUT].is_empty() && !s.executing[OUT] {
                true
            } else {
                let due = s.last[OUT];
                s.queues[OUT].push_back(Item {
                    due,
                    what: What::Close,
                });
                false
            }
        };
        if close_now {
            if let Some(t) = self.inner() {
                t.close();
            }
        }
        self.wake.notify_one();
    }

    fn abort(&self) {
        {
            let mut s = self.state();
            s.closing = true;
            s.queues[OUT].clear();
            s.stash[OUT] = None;
            s.out_bytes = 0;
        }
        if let Some(t) = self.inner() {
            t.abort();
        }
    }
}

enum Step {
    Run(usize, Item),
    Wait(Option<Duration>),
    Done,
}

trait ReadingExt {
    fn is_none_or_reading(&self) -> bool;
}

impl ReadingExt for Option<&SharedTransport> {
    fn is_none_or_reading(&self) -> bool {
        self.map_or(true, |t| t.is_reading())
    }
}

/// The connection's driver: executes queued items when they are due.
async fn drive(conn: Arc<ConnShared>) {
    let mut faults = conn.sim.faults();
    loop {
        let now = conn.sim.now();
        let held = conn.sim.is_held(&conn.from, &conn.to);
        match conn.next_step(now, held) {
            Step::Run(dir, item) => {
                conn.execute(dir, item, now, false);
                conn.done_executing(dir);
            }
            Step::Done => return,
            Step::Wait(at) => {
                let sleep = at.map(|t| conn.sim.clock.sleep_until(t));
                tokio::select! {
                    biased;
                    _ = conn.wake.notified() => {}
                    _ = faults.changed() => {}
                    _ = async { match sleep { Some(s) => s.await, None => std::future::pending().await } } => {}
                }
            }
        }
    }
}

/// The protocol the backend sees: forwards to the user's through the
/// simulation.
struct SimProtocol {
    conn: Arc<ConnShared>,
}

impl Protocol for SimProtocol {
    fn connection_made(&mut self, transport: SharedTransport) {
        let conn = &self.conn;
        let _ = conn.inner.set(transport);
        let id = conn.sim.add_conn(conn);
        let _ = conn.id.set(id);
        conn.sim.record(EventKind::Connect {
            conn: id,
            from: Arc::clone(&conn.from),
            to: Arc::clone(&conn.to),
        });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            // The driver ends with the connection (after `connection_lost`).
            drop(rt.spawn(drive(Arc::clone(conn))));
        }
        conn.user.made(Arc::new(SimTransport {
            conn: Arc::clone(conn),
        }));
    }

    fn data_received(&mut self, data: Bytes) {
        self.conn.feed(IN, data);
    }

    fn eof_received(&mut self) -> bool {
        self.conn.user.eof()
    }

    fn connection_lost(&mut self, error: Option<Error>) {
        self.conn.lost(error);
    }

    fn pause_writing(&mut self) {
        self.conn.user.pause();
    }

    fn resume_writing(&mut self) {
        self.conn.user.resume();
    }
}

/// The transport of a simulated connection: writes go through the
/// simulation, everything else to the backend's transport.
///
/// Bytes the simulation holds back count in
/// [`write_buffer_size`](Transport::write_buffer_size); flow control
/// (`poll_write_ready`, pause/resume) is the backend's.
#[derive(Clone)]
pub struct SimTransport {
    conn: Arc<ConnShared>,
}

impl std::fmt::Debug for SimTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimTransport")
            .field("from", &self.conn.from)
            .field("to", &self.conn.to)
            .field("inner", &self.conn.inner())
            .finish()
    }
}

impl Transport for SimTransport {
    fn write(&self, data: Bytes) -> Result<()> {
        if self.is_closing() {
            return Err(Error::Closed);
        }
        self.conn.feed(OUT, data);
        Ok(())
    }

    fn write_eof(&self) -> Result<()> {
        Err(Error::Unsupported(
            "write_eof on a simulated link (it would overtake queued data)",
        ))
    }

    fn can_write_eof(&self) -> bool {
        false
    }

    fn close(&self) {
        self.conn.close();
    }

    fn abort(&self) {
        self.conn.abort();
    }

    fn is_closing(&self) -> bool {
        self.conn.state().closing || self.conn.inner().is_some_and(|t| t.is_closing())
    }

    fn peer_addr(&self) -> Option<Endpoint> {
        self.conn.inner().and_then(|t| t.peer_addr())
    }

    fn local_addr(&self) -> Option<Endpoint> {
        self.conn.inner().and_then(|t| t.local_addr())
    }

    fn write_buffer_size(&self) -> usize {
        let held = self.conn.state().out_bytes + lock(&self.conn.rx[OUT]).buffered();
        held + self.conn.inner().map_or(0, |t| t.write_buffer_size())
    }

    fn write_buffer_limits(&self) -> WriteBufferLimits {
        self.conn
            .inner()
            .map(|t| t.write_buffer_limits())
            .unwrap_or_default()
    }

    fn set_write_buffer_limits(&self, limits: WriteBufferLimits) {
        if let Some(t) = self.conn.inner() {
            t.set_write_buffer_limits(limits);
        }
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.conn.state().closing {
            return Poll::Ready(Err(Error::Closed));
        }
        match self.conn.inner() {
            Some(t) => t.poll_write_ready(cx),
            None => Poll::Ready(Err(Error::Closed)),
        }
    }

    fn pause_reading(&self) {
        if let Some(t) = self.conn.inner() {
            t.pause_reading();
        }
    }

    fn resume_reading(&self) {
        if let Some(t) = self.conn.inner() {
            t.resume_reading();
        }
        self.conn.wake.notify_one();
    }

    fn is_reading(&self) -> bool {
        self.conn.inner().is_none_or_reading()
    }
}
