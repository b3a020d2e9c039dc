//! The state that a connection's transport handles share with its driver.
//!
//! Transport methods only change this state and wake the driver; they never
//! touch the socket and never call the protocol. The driver takes what was
//! written, reads the flags, and reports back what it sent.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use transport_api::{Endpoint, Error, FlowControl, Result, WriteBufferLimits, WriteWaiters};

use super::coalesce::Coalescer;

/// A chunk queue (here and in the driver) that has grown past this many
/// entries is given back once it is empty.
pub(crate) const QUEUE_KEEP: usize = 64;

/// What kind of socket a connection runs on, and what it can do.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    /// The URL scheme: `tcp`, `ipc` or `tls`.
    pub(crate) kind: &'static str,
    pub(crate) peer: Option<Endpoint>,
    pub(crate) local: Option<Endpoint>,
    /// What the TLS handshake established, on TLS connections.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::tls::TlsInfo>,
}

#[derive(Debug, Default)]
struct State {
    /// Data waiting for the driver, oldest first.
    queue: VecDeque<Bytes>,
    /// Small writes copied together, after everything in `queue`.
    tail: Coalescer,
    /// Unsent bytes: `queue`, `tail` and what the driver took but has not
    /// handed to the OS yet.
    buffered: usize,
    flow: FlowControl,
    /// `close()` was called, the last handle was dropped, or the protocol
    /// declined to keep a half-closed connection.
    closing: bool,
    aborted: bool,
    /// `write_eof()` was called.
    eof_requested: bool,
    /// The driver is delivering (or has delivered) `connection_lost`.
    finished: bool,
    reading_paused: bool,
    /// The driver task, to wake when there is something for it to do.
    driver_waker: Option<Waker>,
    /// One task waiting in `poll_write_ready`.
    /// Tasks waiting in `poll_write_ready`.
    write_waiters: WriteWaiters,
}

impl State {
    fn accepts_writes(&self) -> bool {
        !(self.closing || self.aborted || self.eof_requested || self.finished)
    }

    fn is_closing(&self) -> bool {
        self.closing || self.aborted || self.finished
    }

    /// Appends one chunk: small ones are copied into the coalescing buffer
    /// (so a borrowed chunk is never cloned), large ones queued as they are;
    /// empty ones are dropped.
    fn push(&mut self, data: Cow<'_, Bytes>) {
        let len = data.len();
        if len == 0 {
            return;
        }
        if Coalescer::takes(len) {
            if let Some(full) = self.tail.push(&data) {
                self.queue.push_back(full);
            }
        } else {
            self.freeze_tail();
            self.queue.push_back(data.into_owned());
        }
        self.buffered += len;
    }

    /// Moves the coalesced run, if any, to the end of the queue.
    fn freeze_tail(&mut self) {
        if let Some(run) = self.tail.take() {
            self.queue.push_back(run);
        }
    }

    /// Everything written was sent: gives back what a burst made large.
    fn drained(&mut self) {
        self.tail.drained();
        if self.queue.is_empty() && self.queue.capacity() > QUEUE_KEEP {
            self.queue = VecDeque::new();
        }
    }
}

/// What the driver needs to know after taking the pending data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Control {
    pub(crate) aborted: bool,
    pub(crate) closing: bool,
    pub(crate) eof_requested: bool,
    pub(crate) reading_paused: bool,
    /// Whether the protocol should currently be paused for writing.
    pub(crate) write_paused: bool,
}

/// The state of one connection, shared by its transport handles and driver.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// A copy of `State::buffered`, stored (not read-modify-written) under
    /// the lock, so that `write_buffer_size` — which a writer may call before
    /// every write — costs no lock.
    buffered: AtomicUsize,
    /// The driver is inside a protocol callback and takes what is written
    /// in its next round anyway: writes need not wake it (a protocol that
    /// answers from `data_received` would otherwise schedule its own
    /// driver again for nothing).
    delivering: AtomicBool,
    pub(crate) info: ConnInfo,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(info: ConnInfo) -> Self {
        Shared {
            state: Mutex::new(State::default()),
            buffered: AtomicUsize::new(0),
            delivering: AtomicBool::new(false),
            info,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding this lock; recover anyway rather than
        // poison every later call.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ----- called by transport handles -----

    pub(crate) fn write(&self, data: Bytes) -> Result<()> {
        self.append(false, |st| st.push(Cow::Owned(data))).map(drop)
    }

    /// Writes `data` if `poll_write_ready` would be ready; gives it back
    /// otherwise.
    pub(crate) fn write_if_ready(&self, data: Bytes) -> Result<Option<Bytes>> {
        let mut data = Some(data);
        let written = self.append(true, |st| {
            if let Some(chunk) = data.take() {
                st.push(Cow::Owned(chunk));
            }
        })?;
        Ok(if written { None } else { data })
    }

    /// Appends every chunk under one lock.
    pub(crate) fn write_all(&self, data: &[Bytes]) -> Result<()> {
        self.append(false, |st| {
            for chunk in data {
                st.push(Cow::Borrowed(chunk));
            }
        })
        .map(drop)
    }

    /// Lets `fill` append to the pending data, if writing is still allowed
    /// (and, with `when_ready`, only if a write is welcome: otherwise
    /// returns false), then updates the count and flow state and wakes the
    /// driver.
    fn append(&self, when_ready: bool, fill: impl FnOnce(&mut State)) -> Result<bool> {
        let mut st = self.lock();
        if !st.accepts_writes() {
            return Err(Error::Closed);
        }
        if when_ready && !st.flow.can_write(st.buffered) {
            return Ok(false);
        }
        let before = st.buffered;
        fill(&mut st);
        if st.buffered == before {
            return Ok(true);
        }
        let buffered = st.buffered;
        self.buffered.store(buffered, Ordering::Relaxed);
        // A pause is delivered by the driver, which we wake anyway (unless
        // it is delivering: then it takes this in its next round).
        let _ = st.flow.update(buffered);
        let waker = if self.delivering.load(Ordering::Acquire) {
            None
        } else {
            st.driver_waker.take()
        };
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(true)
    }

    pub(crate) fn write_eof(&self) -> Result<()> {
        let mut st = self.lock();
        if st.is_closing() {
            return Err(Error::Closed);
        }
        if st.eof_requested {
            return Ok(());
        }
        st.eof_requested = true;
        self.wake_all(st);
        Ok(())
    }

    pub(crate) fn close(&self) {
        let mut st = self.lock();
        if st.is_closing() {
            return;
        }
        st.closing = true;
        self.wake_all(st);
    }

    pub(crate) fn abort(&self) {
        let mut st = self.lock();
        if st.aborted || st.finished {
            return;
        }
        st.aborted = true;
        st.queue = VecDeque::new();
        st.tail.release();
        st.buffered = 0;
        self.buffered.store(0, Ordering::Relaxed);
        self.wake_all(st);
    }

    /// Wakes the driver and a task waiting to write, after releasing `st`.
    fn wake_all(&self, mut st: MutexGuard<'_, State>) {
        let driver = st.driver_waker.take();
        let writers = st.write_waiters.take();
        drop(st);
        driver.into_iter().chain(writers).for_each(Waker::wake);
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.lock().is_closing()
    }

    pub(crate) fn write_buffer_size(&self) -> usize {
        self.buffered.load(Ordering::Relaxed)
    }

    pub(crate) fn limits(&self) -> WriteBufferLimits {
        self.lock().flow.limits()
    }

    pub(crate) fn set_limits(&self, limits: WriteBufferLimits) {
        let mut st = self.lock();
        let buffered = st.buffered;
        let _ = st.flow.set_limits(limits, buffered);
        // The driver reports the change; a writer may now proceed.
        self.wake_all(st);
    }

    pub(crate) fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let mut st = self.lock();
        if !st.accepts_writes() {
            return Poll::Ready(Err(Error::Closed));
        }
        if st.flow.can_write(st.buffered) {
            return Poll::Ready(Ok(()));
        }
        st.write_waiters.register(cx.waker());
        Poll::Pending
    }

    pub(crate) fn set_reading(&self, reading: bool) {
        let mut st = self.lock();
        let resumed = st.reading_paused && reading;
        st.reading_paused = !reading;
        let waker = if resumed {
            st.driver_waker.take()
        } else {
            None
        };
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
    }

    pub(crate) fn is_reading(&self) -> bool {
        let st = self.lock();
        !st.reading_paused && !st.is_closing()
    }

    // ----- called by the driver -----

    /// Runs a protocol callback after which the driver runs another round:
    /// writes meanwhile do not wake it.
    pub(crate) fn delivering<R>(&self, callback: impl FnOnce() -> R) -> R {
        /// Clears the flag also if the callback unwinds.
        struct Done<'a>(&'a AtomicBool);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        self.delivering.store(true, Ordering::Release);
        let _done = Done(&self.delivering);
        callback()
    }

    /// Moves everything written so far to the end of `out`, registers the
    /// driver's waker and returns the flags the driver acts on.
    pub(crate) fn take_pending(&self, cx: &mut Context<'_>, out: &mut VecDeque<Bytes>) -> Control {
        let mut st = self.lock();
        st.freeze_tail();
        if out.is_empty() {
            std::mem::swap(out, &mut st.queue);
        } else {
            out.append(&mut st.queue);
        }
        match &mut st.driver_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Control {
            aborted: st.aborted,
            closing: st.closing,
            eof_requested: st.eof_requested,
            reading_paused: st.reading_paused,
            write_paused: st.flow.is_paused(),
        }
    }

    /// Records that `n` taken bytes reached the OS; wakes a waiting writer if
    /// that brought the buffer back to the low-water mark. Returns whether
    /// the flow state changed (the protocol is to be told).
    pub(crate) fn sent(&self, n: usize) -> bool {
        if n == 0 {
            return false;
        }
        let mut st = self.lock();
        st.buffered = st.buffered.saturating_sub(n);
        let buffered = st.buffered;
        if buffered == 0 {
            st.drained();
        }
        self.buffered.store(buffered, Ordering::Relaxed);
        let changed = st.flow.update(buffered).is_some();
        // Writers wait only under backpressure: most sends have none.
        let writers = if st.flow.can_write(buffered) && !st.write_waiters.is_empty() {
            st.write_waiters.take()
        } else {
            Vec::new()
        };
        drop(st);
        if !writers.is_empty() {
            writers.into_iter().for_each(Waker::wake);
        }
        changed
    }

    /// The protocol declined to keep a half-closed connection: close it as by
    /// `close()`.
    pub(crate) fn close_from_driver(&self) {
        self.close();
    }

    /// The connection is over: nothing more is accepted, buffered data is
    /// dropped and a waiting writer learns it is closed.
    pub(crate) fn finish(&self) {
        let mut st = self.lock();
        st.finished = true;
        st.queue = VecDeque::new();
        st.tail.release();
        st.buffered = 0;
        self.buffered.store(0, Ordering::Relaxed);
        st.driver_waker = None;
        let writers = st.write_waiters.take();
        drop(st);
        writers.into_iter().for_each(Waker::wake);
    }
}
