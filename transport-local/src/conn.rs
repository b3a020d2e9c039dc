//! The shared state of one local connection and the driver task of each side.
//!
//! A connection has two sides, 0 (server) and 1 (client). Each side has an
//! inbox: the chunks its peer wrote that it has not yet delivered. One mutex
//! guards both sides, so close/abort/flow decisions see one consistent state.
//! Each side's driver owns (a handle to) that side's protocol and delivers its
//! events one at a time, in a fixed priority order, which is what makes
//! delivery deterministic on a current-thread runtime. A driver with nothing
//! to deliver leaves its waker in its side's state, under the same lock as
//! everything it waits on.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use transport_api::{
    ConnectionToken, Error, FlowControl, FlowEvent, Protocol, ProtocolHandle, Result,
    WriteBufferLimits, WriteWaiters,
};

/// Side index of the server's end.
pub(crate) const SERVER: usize = 0;
/// Side index of the client's end.
pub(crate) const CLIENT: usize = 1;

#[derive(Debug, Default)]
struct Side {
    /// Chunks the peer wrote that this side has not delivered yet.
    inbox: VecDeque<Bytes>,
    inbox_bytes: usize,
    /// Flow control of this side's writes; its buffer is the peer's inbox.
    flow: FlowControl,
    /// What this side's protocol was last told (pause or resume).
    reported_paused: bool,
    reading_paused: bool,
    /// `close()` was called on this side.
    closing: bool,
    /// `abort()` was called on this side.
    aborted: bool,
    /// The peer aborted: this side ends with a reset.
    reset: bool,
    /// `connection_lost` has been chosen for delivery; the side is done.
    finished: bool,
    /// Tasks waiting in `poll_write_ready` on this side.
    write_waiters: WriteWaiters,
    /// This side's driver, waiting for its next event.
    driver_waker: Option<Waker>,
}

impl Side {
    fn is_shut(&self) -> bool {
        self.closing || self.aborted || self.finished
    }

    /// Queues a chunk for delivery to this side (empty chunks are dropped).
    fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.inbox_bytes += chunk.len();
            self.inbox.push_back(chunk);
        }
    }

    fn clear_inbox(&mut self) {
        self.inbox.clear();
        self.inbox_bytes = 0;
    }
}

/// An event for one side's protocol.
enum Event {
    Data(Bytes),
    Flow(FlowEvent),
    Lost(Option<Error>),
}

/// One local connection: both sides' state and their wake-ups.
pub(crate) struct Conn {
    sides: Mutex<[Side; 2]>,
    /// The queue served (`local://id`) and this connection's number on it.
    pub(crate) queue_id: String,
    pub(crate) number: u64,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("queue_id", &self.queue_id)
            .field("number", &self.number)
            .finish_non_exhaustive()
    }
}

/// Abandons a side of a connection when dropped (see [`Conn::abandon`]):
/// for a driver that stops early.
pub(crate) struct AbandonGuard<'a> {
    conn: &'a Conn,
    side: usize,
}

impl<'a> AbandonGuard<'a> {
    pub(crate) fn new(conn: &'a Conn, side: usize) -> Self {
        AbandonGuard { conn, side }
    }
}

impl Drop for AbandonGuard<'_> {
    fn drop(&mut self) {
        self.conn.abandon(self.side);
    }
}

/// Splits the pair into (this side, its peer).
fn pair(sides: &mut [Side; 2], side: usize) -> (&mut Side, &mut Side) {
    let [a, b] = sides;
    if side == SERVER {
        (a, b)
    } else {
        (b, a)
    }
}

impl Conn {
    pub(crate) fn new(queue_id: String, number: u64, limits: WriteBufferLimits) -> Self {
        let side = || Side {
            flow: FlowControl::new(limits),
            ..Side::default()
        };
        Conn {
            sides: Mutex::new([side(), side()]),
            queue_id,
            number,
        }
    }

    fn lock(&self) -> MutexGuard<'_, [Side; 2]> {
        // No code path panics while holding the lock; recover anyway rather
        // than poison every later call.
        self.sides.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn write(&self, side: usize, data: Bytes) -> Result<()> {
        self.append(side, false, |inbox| inbox.push(data)).map(drop)
    }

    /// Writes `data` if `poll_write_ready` would be ready; gives it back
    /// otherwise.
    pub(crate) fn write_if_ready(&self, side: usize, data: Bytes) -> Result<Option<Bytes>> {
        let mut data = Some(data);
        let written = self.append(side, true, |inbox| {
            if let Some(chunk) = data.take() {
                inbox.push(chunk);
            }
        })?;
        Ok(if written { None } else { data })
    }

    /// Appends every chunk under one lock.
    pub(crate) fn write_all(&self, side: usize, data: &[Bytes]) -> Result<()> {
        self.append(side, false, |inbox| {
            for chunk in data {
                inbox.push(chunk.clone());
            }
        })
        .map(drop)
    }

    /// Lets `fill` append to the peer's inbox, if this side may still write
    /// (and, with `when_ready`, only if a write is welcome: otherwise returns
    /// false), then wakes the peer (for new data) and this side (for a
    /// pause).
    fn append(&self, side: usize, when_ready: bool, fill: impl FnOnce(&mut Side)) -> Result<bool> {
        let mut sides = self.lock();
        let (me, peer) = pair(&mut sides, side);
        if me.is_shut() || me.reset || peer.is_shut() {
            return Err(Error::Closed);
        }
        if when_ready && !me.flow.can_write(peer.inbox_bytes) {
            return Ok(false);
        }
        let was_empty = peer.inbox.is_empty();
        fill(peer);
        let wake_peer = was_empty && !peer.inbox.is_empty();
        let pause = me.flow.update(peer.inbox_bytes).is_some();
        let peer_driver = wake_peer.then(|| peer.driver_waker.take()).flatten();
        let my_driver = pause.then(|| me.driver_waker.take()).flatten();
        drop(sides);
        peer_driver
            .into_iter()
            .chain(my_driver)
            .for_each(Waker::wake);
        Ok(true)
    }

    pub(crate) fn close(&self, side: usize) {
        let mut sides = self.lock();
        let me = &mut sides[side];
        if me.is_shut() {
            return;
        }
        me.closing = true;
        // Writers waiting on either side learn that writing is over.
        let wakers = Self::all_wakers(&mut sides);
        drop(sides);
        wakers.into_iter().for_each(Waker::wake);
    }

    pub(crate) fn abort(&self, side: usize) {
        self.stop(side, false);
    }

    /// Ends `side` at once: what it wrote and the peer has not seen yet is
    /// dropped and the peer is reset. `abandon`: its driver is gone too, so
    /// the side is also finished (with nothing left to receive); otherwise
    /// its driver delivers the end.
    fn stop(&self, side: usize, abandon: bool) {
        let mut sides = self.lock();
        let (me, peer) = pair(&mut sides, side);
        if me.finished || (me.aborted && !abandon) {
            return;
        }
        me.aborted = true;
        if abandon {
            me.finished = true;
            me.clear_inbox();
        }
        if !peer.finished {
            // What we wrote and the peer has not seen yet is dropped.
            peer.clear_inbox();
            peer.reset = true;
        }
        let wakers = Self::all_wakers(&mut sides);
        drop(sides);
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Both drivers' wakers, then both writers' (in this order), to wake
    /// once the lock is released.
    fn all_wakers(sides: &mut [Side; 2]) -> Vec<Waker> {
        let [a, b] = sides;
        let mut wakers: Vec<Waker> = [a.driver_waker.take(), b.driver_waker.take()]
            .into_iter()
            .flatten()
            .collect();
        wakers.extend(a.write_waiters.take());
        wakers.extend(b.write_waiters.take());
        wakers
    }

    pub(crate) fn is_closing(&self, side: usize) -> bool {
        let mut sides = self.lock();
        let (me, peer) = pair(&mut sides, side);
        me.is_shut() || me.reset || peer.is_shut()
    }

    pub(crate) fn write_buffer_size(&self, side: usize) -> usize {
        let mut sides = self.lock();
        let (_, peer) = pair(&mut sides, side);
        peer.inbox_bytes
    }

    pub(crate) fn limits(&self, side: usize) -> WriteBufferLimits {
        self.lock()[side].flow.limits()
    }

    pub(crate) fn set_limits(&self, side: usize, limits: WriteBufferLimits) {
        let mut sides = self.lock();
        let (me, peer) = pair(&mut sides, side);
        let changed = me.flow.set_limits(limits, peer.inbox_bytes).is_some();
        let waker = if me.flow.is_paused() {
            Vec::new()
        } else {
            me.write_waiters.take()
        };
        let driver = changed.then(|| me.driver_waker.take()).flatten();
        drop(sides);
        driver.into_iter().chain(waker).for_each(Waker::wake);
    }

    pub(crate) fn poll_write_ready(&self, side: usize, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let mut sides = self.lock();
        let (me, peer) = pair(&mut sides, side);
        if me.is_shut() || me.reset || peer.is_shut() {
            return Poll::Ready(Err(Error::Closed));
        }
        if me.flow.can_write(peer.inbox_bytes) {
            return Poll::Ready(Ok(()));
        }
        me.write_waiters.register(cx.waker());
        Poll::Pending
    }

    pub(crate) fn set_reading(&self, side: usize, reading: bool) {
        let mut sides = self.lock();
        let me = &mut sides[side];
        let resumed = me.reading_paused && reading;
        me.reading_paused = !reading;
        let driver = resumed.then(|| me.driver_waker.take()).flatten();
        drop(sides);
        if let Some(w) = driver {
            w.wake();
        }
    }

    pub(crate) fn is_reading(&self, side: usize) -> bool {
        !self.lock()[side].reading_paused
    }

    /// Picks the next event for `side`'s protocol, in a fixed order:
    /// our abort, flow changes, a reset by the peer, data, then the end.
    /// With nothing to deliver, the driver's waker is kept (under the same
    /// lock as the state it waits on, so no change goes unnoticed).
    fn poll_next_event(&self, side: usize, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let mut sides = self.lock();
        let (me, peer) = pair(&mut sides, side);
        let mut wake_peer = false;
        let mut peer_waker = Vec::new();
        let event = 'pick: {
            if me.finished {
                break 'pick None;
            }
            if me.aborted {
                me.clear_inbox();
                break 'pick Some(Event::Lost(None));
            }
            if me.flow.is_paused() != me.reported_paused {
                me.reported_paused = me.flow.is_paused();
                break 'pick Some(Event::Flow(if me.reported_paused {
                    FlowEvent::Pause
                } else {
                    FlowEvent::Resume
                }));
            }
            if me.reset {
                me.clear_inbox();
                break 'pick Some(Event::Lost(Some(Error::ConnectionReset)));
            }
            if me.closing && !me.inbox.is_empty() {
                // After close nothing more is received.
                me.clear_inbox();
            }
            if !me.reading_paused {
                if let Some(chunk) = me.inbox.pop_front() {
                    me.inbox_bytes -= chunk.len();
                    if peer.flow.update(me.inbox_bytes) == Some(FlowEvent::Resume) {
                        wake_peer = true;
                        peer_waker = peer.write_waiters.take();
                    }
                    if peer.closing && me.inbox_bytes <= peer.flow.limits().high() {
                        // The peer's close may complete now.
                        wake_peer = true;
                    }
                    break 'pick Some(Event::Data(chunk));
                }
            }
            // Our close completes once what the peer has not read fits in
            // our high-water mark: handed off, as a socket's close
            // completes once the kernel's buffers took the data (the peer
            // still gets all of it, then the end).
            let my_writes_handed_off = peer.inbox_bytes <= me.flow.limits().high() || peer.finished;
            let peer_done = peer.is_shut() && me.inbox.is_empty();
            if (me.closing && my_writes_handed_off) || peer_done {
                break 'pick Some(Event::Lost(None));
            }
            match &mut me.driver_waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        };
        let lost = matches!(event, Some(Event::Lost(_)));
        if lost {
            me.finished = true;
            wake_peer = true;
            peer_waker.extend(peer.write_waiters.take());
        }
        let my_waker = if lost {
            me.write_waiters.take()
        } else {
            Vec::new()
        };
        let peer_driver = wake_peer.then(|| peer.driver_waker.take()).flatten();
        drop(sides);
        if let Some(w) = peer_driver {
            w.wake();
        }
        // Writers wait only under backpressure or for the end: most events
        // have none to wake (and iterating empty lists is not free here).
        if !peer_waker.is_empty() || !my_waker.is_empty() {
            peer_waker.into_iter().chain(my_waker).for_each(Waker::wake);
        }
        Poll::Ready(event)
    }

    /// `side`'s driver stopped before `connection_lost` (a protocol
    /// callback panicked, or the runtime dropped the task): the side is
    /// finished and its peer ends with a reset, as a socket's peer does
    /// when its driver goes, instead of waiting (and writing) forever while
    /// other handles keep the transport.
    pub(crate) fn abandon(&self, side: usize) {
        self.stop(side, true);
    }

    /// Delivers `side`'s events to its protocol until `connection_lost`.
    pub(crate) async fn drive<P: Protocol + ?Sized>(
        &self,
        side: usize,
        protocol: ProtocolHandle<P>,
        token: Option<ConnectionToken>,
    ) {
        // Abandons the side if the driver stops early (after the end, when
        // the side is finished, abandoning it does nothing).
        let _abandon = AbandonGuard::new(self, side);
        loop {
            // Data is delivered as it is taken, under one lock of the
            // protocol for a run of chunks (each chunk is still taken on its
            // own, so a pause, close or abort from `data_received` stops the
            // run); other events end the run.
            let next = poll_fn(|cx| {
                let mut guard = None;
                loop {
                    match self.poll_next_event(side, cx) {
                        Poll::Ready(Some(Event::Data(data))) => guard
                            .get_or_insert_with(|| protocol.lock())
                            .data_received(data),
                        other => return other,
                    }
                }
            })
            .await;
            match next {
                // (The run above takes every chunk; kept for completeness.)
                Some(Event::Data(data)) => protocol.with(|p| p.data_received(data)),
                Some(Event::Flow(FlowEvent::Pause)) => protocol.with(|p| p.pause_writing()),
                Some(Event::Flow(FlowEvent::Resume)) => protocol.with(|p| p.resume_writing()),
                Some(Event::Lost(err)) => {
                    protocol.with(|p| p.connection_lost(err));
                    break;
                }
                // Finished: nothing more will come.
                None => break,
            }
        }
        drop(token);
    }
}
