//! The connection's driver and its control operations: the next due
//! item, close, abort, reset, and the backend's `connection_lost`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::Ordering::SeqCst;
use std::task::Waker;

use agentwire::api::{Error, Result};

use super::flow::FlowWake;
use super::{ConnShared, ConnState, Item, What, IN, OUT};

impl ConnShared {
    /// The next item to execute, or when to look again.
    fn next_step(&self, now: Duration, held: bool) -> Step {
        let mut s = self.state();
        let reading = !s.user_paused;
        let mut wake_at: Option<Duration> = None;
        for dir in [OUT, IN] {
            if s.executing[dir] {
                continue;
            }
            let Some(head) = s.queues[dir].front() else {
                continue;
            };
            // Data and half-closes wait for a held link and a paused
            // reader; closing and the end do not.
            let control = !matches!(head.what, What::Frame { .. } | What::Eof);
            if head.due > now {
                // Due at the end of time (a latency of `Duration::MAX`):
                // it never arrives, and waiting for it must not make the
                // simulation jump there.
                if head.due < Duration::MAX {
                    wake_at = Some(wake_at.map_or(head.due, |w| w.min(head.due)));
                }
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
        let flow_due = {
            let mut s = self.state();
            s.executing[dir] = false;
            Self::flow_due(&s)
        };
        // A pause or resume waited for this item's turn.
        if flow_due {
            self.wake.notify_one();
        }
    }

    /// The backend lost the connection: deliver that after what is still
    /// on its way in; at once for a reset, and when this side closed or
    /// aborted it (a closed socket reads nothing more, and what a held
    /// link keeps back must not keep the loss from its protocol).
    pub(super) fn lost(&self, error: Option<Error>) {
        let now = self.sim.now();
        let (run_now, flow) = {
            let mut s = self.state();
            let error = if s.reset {
                s.queues = Default::default();
                s.stash = Default::default();
                s.in_bytes = 0;
                Some(Error::ConnectionReset)
            } else {
                if s.closing {
                    s.queues[IN].clear();
                    s.stash[IN] = None;
                    s.in_bytes = 0;
                }
                error
            };
            // Nothing more goes out: held writers learn it now.
            let flow = if s.reset {
                s.end_writes()
            } else {
                FlowWake::default()
            };
            s.unstash(OUT);
            let due = now.max(s.last[IN]);
            let run_now = s.line_up(IN, due, What::Lost(error), true);
            if run_now.is_some() {
                s.executing[IN] = true;
            }
            (run_now, flow)
        };
        flow.run(self);
        if let Some(item) = run_now {
            self.execute(IN, item, now, false);
            self.done_executing(IN);
        }
        self.wake.notify_one();
    }

    /// The backend got the peer's half-close: the user hears it after
    /// what is still on its way in (a held link holds it too).
    pub(super) fn eof_in(&self) {
        let now = self.sim.now();
        let held = self.sim.is_held(&self.from, &self.to);
        let run_now = {
            let mut s = self.state();
            if s.finished || s.closing {
                return;
            }
            let due = now.max(s.last[IN]);
            let may_run = !held && !s.user_paused;
            let run_now = s.line_up(IN, due, What::Eof, may_run);
            if run_now.is_some() {
                s.executing[IN] = true;
            }
            run_now
        };
        if let Some(item) = run_now {
            self.execute(IN, item, now, false);
            self.done_executing(IN);
        }
        self.wake.notify_one();
    }

    /// The user half-closes: after what is still on its way out.
    pub(super) fn write_eof(&self) -> Result<()> {
        {
            let mut s = self.state();
            if s.closing || s.finished || s.eof_written {
                return Err(Error::Closed);
            }
            s.eof_written = true;
            self.ending.store(true, SeqCst);
            if self.in_flight.load(SeqCst) > 0 {
                s.ends_waiting.push(What::Eof);
                return Ok(());
            }
        }
        self.end_out(What::Eof)
    }

    /// A `write` begins: refused once this side closes or half-closes;
    /// otherwise counted until its frames are in line (when the guard
    /// drops), so that a close or half-close made meanwhile goes after
    /// them, as the write came first.
    ///
    /// With `when_ready` (for `write_if_ready`), none begins while held
    /// bytes keep writers back. The guard carries the held bytes as they
    /// were.
    ///
    /// Without locks where no close is under way: the writer counts itself
    /// in, then looks for an end; an end marks itself, then looks for
    /// writers (both sequentially consistent, so one sees the other).
    pub(super) fn begin_write(&self, when_ready: bool) -> Result<Option<Writing<'_>>> {
        self.in_flight.fetch_add(1, SeqCst);
        // Counted out again when dropped, on every way out.
        let mut writing = Writing(self, 0);
        if self.ending.load(SeqCst) {
            return Err(Error::Closed);
        }
        if when_ready {
            let s = self.state();
            if s.held.is_paused() {
                return Ok(None);
            }
            writing.1 = s.out_bytes;
        }
        Ok(Some(writing))
    }

    /// `what` (a half-close or the close) ends the outgoing direction,
    /// after what is in line.
    fn end_out(&self, what: What) -> Result<()> {
        let now = {
            let mut s = self.state();
            let due = s.last[OUT];
            s.line_up(OUT, due, what, true)
        };
        match now.map(|item| item.what) {
            None => {
                self.wake.notify_one();
                Ok(())
            }
            Some(What::Eof) => match self.inner() {
                Some(t) => t.write_eof(),
                None => Err(Error::Closed),
            },
            Some(_) => {
                if let Some(t) = self.inner() {
                    t.close();
                }
                Ok(())
            }
        }
    }

    /// This side closes or aborts: if the backend already reported the
    /// loss (the peer went first) and it waits behind frames on their way
    /// in (a held link, say), those are dropped, as a closed socket reads
    /// nothing more, and the loss is delivered now: else nothing would
    /// ever end this connection for its protocol.
    fn deliver_queued_loss(&self) {
        let item = {
            let mut s = self.state();
            let queued = s.queues[IN]
                .iter()
                .position(|i| matches!(i.what, What::Lost(_)));
            match queued {
                Some(at) if !s.executing[IN] => {
                    let item = s.queues[IN].remove(at);
                    s.queues[IN].clear();
                    s.stash[IN] = None;
                    s.in_bytes = 0;
                    s.executing[IN] = item.is_some();
                    item
                }
                _ => None,
            }
        };
        if let Some(item) = item {
            self.execute(IN, item, self.sim.now(), false);
            self.done_executing(IN);
        }
    }

    /// The simulation resets this connection.
    pub(crate) fn reset(&self) {
        let writers = {
            let mut s = self.state();
            s.reset = true;
            s.closing = true;
            self.ending.store(true, SeqCst);
            s.write_waiters.take()
        };
        writers.into_iter().for_each(Waker::wake);
        if let Some(t) = self.inner() {
            t.abort();
        }
    }

    pub(super) fn close(&self) {
        let (deferred, writers) = {
            let mut s = self.state();
            if std::mem::replace(&mut s.closing, true) {
                return;
            }
            // Writers waiting for held bytes to drain: writing is over.
            let writers = s.write_waiters.take();
            self.ending.store(true, SeqCst);
            let deferred = self.in_flight.load(SeqCst) > 0;
            if deferred {
                s.ends_waiting.push(What::Close);
            }
            (deferred, writers)
        };
        writers.into_iter().for_each(Waker::wake);
        if !deferred {
            let _ = self.end_out(What::Close);
        }
        self.deliver_queued_loss();
        self.wake.notify_one();
    }

    pub(super) fn abort(&self) {
        let flow = {
            let mut s = self.state();
            s.closing = true;
            self.ending.store(true, SeqCst);
            s.queues[OUT].clear();
            s.stash[OUT] = None;
            s.ends_waiting.clear();
            s.end_writes()
        };
        flow.run(self);
        if let Some(t) = self.inner() {
            t.abort();
        }
        self.deliver_queued_loss();
    }
}

/// A `write` in flight (see [`ConnShared::begin_write`]), and the bytes
/// held on their way out when it began.
pub(super) struct Writing<'a>(&'a ConnShared, pub(super) usize);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        let conn = self.0;
        // The last writer out while an end may be waiting for it: under the
        // lock the end took to line itself up, so it is there by now.
        if conn.in_flight.fetch_sub(1, SeqCst) != 1 || !conn.ending.load(SeqCst) {
            return;
        }
        let ends = {
            let mut s = conn.state();
            if conn.in_flight.load(SeqCst) == 0 {
                std::mem::take(&mut s.ends_waiting)
            } else {
                Vec::new()
            }
        };
        for end in ends {
            let _ = conn.end_out(end);
        }
    }
}

impl ConnState {
    /// A frame a reorder rule holds back in `dir` goes back in line (what
    /// ends the direction comes after it).
    fn unstash(&mut self, dir: usize) {
        if let Some(old) = self.stash[dir].take() {
            let due = self.last[dir];
            self.queues[dir].push_back(Item { due, ..old });
        }
    }

    /// Puts `what` last in `dir`'s line, after a frame a reorder rule
    /// holds back; gives it back instead when nothing is ahead of it and
    /// `may_run` (the caller carries it out now).
    fn line_up(&mut self, dir: usize, due: Duration, what: What, may_run: bool) -> Option<Item> {
        self.unstash(dir);
        let item = Item { due, what };
        if may_run && self.queues[dir].is_empty() && !self.executing[dir] {
            Some(item)
        } else {
            self.queues[dir].push_back(item);
            None
        }
    }
}

enum Step {
    Run(usize, Item),
    Wait(Option<Duration>),
    Done,
}

/// The connection's driver: executes queued items when they are due.
pub(super) async fn drive(conn: Arc<ConnShared>) {
    let mut faults = conn.sim.faults();
    loop {
        // A pause or resume for the user's protocol comes first, as a
        // backend's driver delivers flow changes before data.
        if conn.deliver_flow() {
            continue;
        }
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
