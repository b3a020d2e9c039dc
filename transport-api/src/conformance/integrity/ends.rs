//! The two ends of an interleaving: their protocol, which checks what
//! arrives against the scenario's flags, the scenario's view of each, and
//! the operations it drives them with.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;

use super::MAX_SENT;
use crate::conformance::recorder::WAIT;
use crate::conformance::{ensure, Event, Failure, Log, Outcome};
use crate::{Error, Protocol, SharedTransport, Transport};

/// A small seeded generator (xorshift64*): the same seed, the same choices.
#[derive(Debug)]
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((x >> 32) % n as u64) as usize
    }
}

/// The byte at `offset` of what end `side` writes: depends on the
/// position, so a lost, duplicated or reordered chunk shows.
pub(super) fn byte_at(side: usize, offset: usize) -> u8 {
    let x = (offset as u64).wrapping_mul(0x9e37_79b9) ^ (offset as u64 >> 13);
    (x as u8) ^ ((x >> 8) as u8) ^ (side as u8).wrapping_mul(0x5b)
}

/// What the scenario flags, for the protocol to check in its callbacks.
#[derive(Debug, Default)]
pub(super) struct Watch {
    /// `pause_reading` returned and `resume_reading` was not called since.
    pub(super) paused: AtomicBool,
    /// Our `close`, `abort` or drop of the last handle returned.
    pub(super) ended: AtomicBool,
    /// Check the flags (only on a current-thread runtime, where no
    /// callback runs while the scenario calls the transport).
    pub(super) strict: bool,
    /// The protocol pauses its own reading every this many chunks, from
    /// `data_received` (0: never; the scenario turns it off before it
    /// waits for data).
    pub(super) self_pause: AtomicUsize,
    /// What the callbacks found wrong.
    pub(super) violations: Mutex<Vec<String>>,
}

impl Watch {
    pub(super) fn check(&self, what: &str) {
        if !self.strict {
            return;
        }
        let mut problem = None;
        if self.ended.load(Ordering::SeqCst) {
            problem = Some(format!("{what} after our own close/abort/drop"));
        } else if self.paused.load(Ordering::SeqCst) && what == "data_received" {
            problem = Some(format!("{what} while reading was paused"));
        }
        if let Some(p) = problem {
            self.violations
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(p);
        }
    }
}

/// One end's protocol: records into a [`Log`], hands its transport to the
/// scenario (which then holds the only handle) and checks the flags.
pub(super) struct End {
    pub(super) log: Log,
    pub(super) slot: Arc<Mutex<Option<SharedTransport>>>,
    pub(super) watch: Arc<Watch>,
    pub(super) keep_open_on_eof: bool,
    /// Our transport, without keeping it open, to pause it from a callback.
    pub(super) me: Option<Weak<dyn Transport>>,
    pub(super) chunks: usize,
}

impl Protocol for End {
    fn connection_made(&mut self, transport: SharedTransport) {
        self.me = Some(Arc::downgrade(&transport));
        *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(transport);
        self.log.push(Event::Made);
    }

    fn data_received(&mut self, data: Bytes) {
        self.watch.check("data_received");
        self.log.push(Event::Data(data));
        self.chunks += 1;
        let every = self.watch.self_pause.load(Ordering::SeqCst);
        if every > 0 && self.chunks % every == 0 {
            // asyncio's flow control from inside the callback: no more
            // data until someone resumes.
            if let Some(t) = self.me.as_ref().and_then(Weak::upgrade) {
                t.pause_reading();
                self.watch.paused.store(true, Ordering::SeqCst);
            }
        }
    }

    fn eof_received(&mut self) -> bool {
        self.watch.check("eof_received");
        self.log.push(Event::Eof);
        self.keep_open_on_eof
    }

    fn connection_lost(&mut self, error: Option<Error>) {
        self.log.push(Event::Lost(error.map(|e| e.kind())));
    }
}

/// How an end was ended by the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ended {
    Closed,
    Aborted,
    Dropped,
}

/// The scenario's view of one end.
pub(super) struct Side {
    pub(super) name: &'static str,
    /// The only handle (taken from the protocol); `None` once dropped.
    pub(super) transport: Option<SharedTransport>,
    pub(super) log: Log,
    pub(super) watch: Arc<Watch>,
    /// Bytes of the writes that returned `Ok`, as `byte_at` makes them.
    pub(super) sent: usize,
    pub(super) ended: Option<Ended>,
    pub(super) eof_written: bool,
    /// Whether all we sent must arrive (cleared by what may legitimately
    /// lose some of it: an abort, a reset provoked by closing with unread
    /// data or writing to a closed peer).
    pub(super) exact: bool,
}

impl fmt::Debug for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (sent {}, ended {:?}, eof {}, exact {}): {:?}",
            self.name, self.sent, self.ended, self.eof_written, self.exact, self.log
        )
    }
}

impl Side {
    pub(super) fn new(
        name: &'static str,
        log: Log,
        watch: Arc<Watch>,
        transport: SharedTransport,
    ) -> Self {
        Side {
            name,
            transport: Some(transport),
            log,
            watch,
            sent: 0,
            ended: None,
            eof_written: false,
            exact: true,
        }
    }

    pub(super) fn chunk(&self, len: usize) -> Bytes {
        let id = usize::from(self.name == "server");
        (self.sent..self.sent + len)
            .map(|i| byte_at(id, i))
            .collect()
    }

    pub(super) fn end(&mut self, how: Ended) {
        self.ended.get_or_insert(how);
        self.watch.ended.store(true, Ordering::SeqCst);
    }
}

/// Waits for `transport` to appear in `slot` (`connection_made`).
pub(super) async fn take(
    slot: &Mutex<Option<SharedTransport>>,
    who: &str,
) -> Result<SharedTransport, Failure> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(t) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Ok(t);
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "{who}: no connection_made"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// One write of a random size (mostly small, sometimes up to 300 KB) by
/// `sides[me]`, with `write`, `writelines` or `write_if_ready`.
pub(super) fn write_some(rng: &mut Rng, sides: &mut [Side; 2], me: usize, trace: &mut Vec<String>) {
    let len = match rng.below(10) {
        0..=6 => 1 + rng.below(4096),
        7 | 8 => 1 + rng.below(64 * 1024),
        _ => 1 + rng.below(300_000),
    };
    let peer_ended = sides[1 - me].ended.is_some();
    let side = &sides[me];
    let Some(t) = side.transport.clone() else {
        return;
    };
    if side.sent + len > MAX_SENT {
        return;
    }
    let data = side.chunk(len);
    let (how, taken) = match rng.below(4) {
        0 => {
            let half = len / 2;
            (
                "writelines",
                t.writelines(&[data.slice(..half), data.slice(half..)])
                    .is_ok(),
            )
        }
        1 => ("write_if_ready", matches!(t.write_if_ready(data), Ok(None))),
        _ => ("write", t.write(data).is_ok()),
    };
    trace.push(format!("{} {how} {len}: {taken}", side.name));
    if taken {
        sides[me].sent += len;
        if peer_ended {
            // Writing to a peer that closed provokes a reset, which may
            // cut what the peer sent before.
            sides[1 - me].exact = false;
        }
    }
}

/// Ends `sides[me]` as `how` says, and clears what that may lose.
pub(super) fn end_side(sides: &mut [Side; 2], me: usize, how: Ended, trace: &mut Vec<String>) {
    let peer = 1 - me;
    let unread = sides[me].log.data_len() < sides[peer].sent;
    let side = &mut sides[me];
    let Some(t) = side.transport.take() else {
        return;
    };
    trace.push(format!("{} {how:?} (unread: {unread})", side.name));
    match how {
        Ended::Closed => {
            t.close();
            side.transport = Some(t);
        }
        Ended::Aborted => {
            t.abort();
            side.transport = Some(t);
        }
        Ended::Dropped => drop(t),
    }
    side.end(how);
    // We receive nothing more: what the peer sends may be cut.
    sides[peer].exact = false;
    if how == Ended::Aborted || unread {
        // An abort drops what was not handed off; closing with unread data
        // resets the connection, which may cut what we sent.
        sides[me].exact = false;
    }
}

/// Pauses reading on `side`, if it has a handle.
pub(super) fn pause(side: &Side, trace: &mut Vec<String>) {
    if let Some(t) = &side.transport {
        t.pause_reading();
        side.watch.paused.store(true, Ordering::SeqCst);
        trace.push(format!("{} pause", side.name));
    }
}

/// Resumes reading on `side`, if it has a handle.
pub(super) fn resume(side: &Side, trace: &mut Vec<String>) {
    if let Some(t) = &side.transport {
        side.watch.paused.store(false, Ordering::SeqCst);
        t.resume_reading();
        trace.push(format!("{} resume", side.name));
    }
}

/// Waits until `to` received `want` bytes from `from`, or its connection
/// was lost (which the checks then judge).
pub(super) async fn received(to: &Side, want: usize, from: &str) -> Outcome {
    to.log
        .wait_for(
            &format!("{} to receive the {want} bytes {from} sent", to.name),
            |ev| {
                let mut got = 0;
                for e in ev {
                    match e {
                        Event::Data(d) => got += d.len(),
                        Event::Lost(_) => return true,
                        _ => {}
                    }
                }
                got >= want
            },
        )
        .await
}
