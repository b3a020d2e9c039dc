//! Data integrity under flow control and closing: seeded random
//! interleavings of writes, pauses, half-closes, closes, aborts and dropped
//! handles on both ends of one connection.
//!
//! Whatever the order, what a peer wrote before a graceful close or
//! `write_eof` arrives, all of it, in order, however long the reader stays
//! paused (by the scenario, or by its own protocol from `data_received`); then (at most one) `eof_received`, then exactly one
//! `connection_lost`, last. An abort drops only what was not yet handed
//! off, so the other end receives a prefix. Nothing is delivered while
//! reading is paused, nor after our own `close`.
//!
//! [`interleaving`] runs one seed (the same seed, the same operations);
//! the `integrity` scenario of [`SCENARIOS`](super::SCENARIOS) runs a
//! fixed set of seeds.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;

use super::recorder::WAIT;
use super::{ensure, shut, step, Backend, Event, Failure, Log, Outcome, PAUSED_LONG};
use crate::{Address, Error, Protocol, SharedTransport, Transport, WriteBufferLimits};

/// The seeds the `integrity` scenario runs.
pub const SEEDS: std::ops::Range<u64> = 0..12;

/// Bytes one end writes at most in one interleaving.
const MAX_SENT: usize = 3 * 1024 * 1024;

/// A small seeded generator (xorshift64*): the same seed, the same choices.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((x >> 32) % n as u64) as usize
    }
}

/// The byte at `offset` of what end `side` writes: depends on the
/// position, so a lost, duplicated or reordered chunk shows.
fn byte_at(side: usize, offset: usize) -> u8 {
    let x = (offset as u64).wrapping_mul(0x9e37_79b9) ^ (offset as u64 >> 13);
    (x as u8) ^ ((x >> 8) as u8) ^ (side as u8).wrapping_mul(0x5b)
}

/// What the scenario flags, for the protocol to check in its callbacks.
#[derive(Debug, Default)]
struct Watch {
    /// `pause_reading` returned and `resume_reading` was not called since.
    paused: AtomicBool,
    /// Our `close`, `abort` or drop of the last handle returned.
    ended: AtomicBool,
    /// Check the flags (only on a current-thread runtime, where no
    /// callback runs while the scenario calls the transport).
    strict: bool,
    /// The protocol pauses its own reading every this many chunks, from
    /// `data_received` (0: never; the scenario turns it off before it
    /// waits for data).
    self_pause: AtomicUsize,
    /// What the callbacks found wrong.
    violations: Mutex<Vec<String>>,
}

impl Watch {
    fn check(&self, what: &str) {
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
struct End {
    log: Log,
    slot: Arc<Mutex<Option<SharedTransport>>>,
    watch: Arc<Watch>,
    keep_open_on_eof: bool,
    /// Our transport, without keeping it open, to pause it from a callback.
    me: Option<Weak<dyn Transport>>,
    chunks: usize,
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
enum Ended {
    Closed,
    Aborted,
    Dropped,
}

/// The scenario's view of one end.
struct Side {
    name: &'static str,
    /// The only handle (taken from the protocol); `None` once dropped.
    transport: Option<SharedTransport>,
    log: Log,
    watch: Arc<Watch>,
    /// Bytes of the writes that returned `Ok`, as `byte_at` makes them.
    sent: usize,
    ended: Option<Ended>,
    eof_written: bool,
    /// Whether all we sent must arrive (cleared by what may legitimately
    /// lose some of it: an abort, a reset provoked by closing with unread
    /// data or writing to a closed peer).
    exact: bool,
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
    fn new(name: &'static str, log: Log, watch: Arc<Watch>, transport: SharedTransport) -> Self {
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

    fn chunk(&self, len: usize) -> Bytes {
        let id = usize::from(self.name == "server");
        (self.sent..self.sent + len)
            .map(|i| byte_at(id, i))
            .collect()
    }

    fn end(&mut self, how: Ended) {
        self.ended.get_or_insert(how);
        self.watch.ended.store(true, Ordering::SeqCst);
    }
}

/// Waits for `transport` to appear in `slot` (`connection_made`).
async fn take(
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
fn write_some(rng: &mut Rng, sides: &mut [Side; 2], me: usize, trace: &mut Vec<String>) {
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
fn end_side(sides: &mut [Side; 2], me: usize, how: Ended, trace: &mut Vec<String>) {
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
fn pause(side: &Side, trace: &mut Vec<String>) {
    if let Some(t) = &side.transport {
        t.pause_reading();
        side.watch.paused.store(true, Ordering::SeqCst);
        trace.push(format!("{} pause", side.name));
    }
}

/// Resumes reading on `side`, if it has a handle.
fn resume(side: &Side, trace: &mut Vec<String>) {
    if let Some(t) = &side.transport {
        side.watch.paused.store(false, Ordering::SeqCst);
        t.resume_reading();
        trace.push(format!("{} resume", side.name));
    }
}

/// Waits until `to` received `want` bytes from `from`, or its connection
/// was lost (which the checks then judge).
async fn received(to: &Side, want: usize, from: &str) -> Outcome {
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

/// Runs one seeded interleaving against `backend`: a connection whose two
/// ends write random amounts (1 B .. 300 KB), pause and resume reading
/// (sometimes for longer than a backend's periodic look at a paused peer),
/// `write_eof`, close, abort and drop their handles in a random order,
/// then resume late and close what is left.
///
/// # Errors
///
/// A [`Failure`] naming the seed and listing the operations, when data is
/// lost, corrupted, reordered or delivered while paused or after close, when
/// the events come out of order, or when the connection does not end.
pub async fn interleaving<B: Backend>(backend: &B, seed: u64) -> Outcome {
    let mut trace = Vec::new();
    let result = run(backend, seed, &mut trace).await;
    result.map_err(|f| {
        Failure::new(format!(
            "seed {seed}: {}\noperations: {}",
            f.message,
            trace.join("; ")
        ))
    })
}

async fn run<B: Backend>(backend: &B, seed: u64, trace: &mut Vec<String>) -> Outcome {
    let mut rng = Rng::new(seed);
    let strict = tokio::runtime::Handle::current().runtime_flavor()
        == tokio::runtime::RuntimeFlavor::CurrentThread;
    let watches = [(); 2].map(|()| {
        Arc::new(Watch {
            strict,
            self_pause: AtomicUsize::new([0, 0, 1, 3][rng.below(4)]),
            ..Watch::default()
        })
    });
    let logs = [Log::new(), Log::new()];
    let slots: [Arc<Mutex<Option<SharedTransport>>>; 2] = Default::default();
    let keep_open = [rng.below(2) == 0, rng.below(2) == 0];

    let server_end = {
        let (log, slot, watch) = (logs[1].clone(), slots[1].clone(), watches[1].clone());
        let keep_open_on_eof = keep_open[1];
        move || End {
            log: log.clone(),
            slot: slot.clone(),
            watch: watch.clone(),
            keep_open_on_eof,
            me: None,
            chunks: 0,
        }
    };
    let server = step(
        "create_server",
        backend.fresh_addr().create_server(server_end).await,
    )?;
    let addr = backend.client_addr(&server);
    let client_end = End {
        log: logs[0].clone(),
        slot: slots[0].clone(),
        watch: watches[0].clone(),
        keep_open_on_eof: keep_open[0],
        me: None,
        chunks: 0,
    };
    let (returned, _) = step(
        &format!("create_connection to {addr}"),
        addr.create_connection(client_end).await,
    )?;
    let client = take(&slots[0], "client").await?;
    // The server's side first (over TLS its handshake ends last).
    let server_t = take(&slots[1], "server").await?;
    drop(returned);
    let [w0, w1] = watches;
    let [l0, l1] = logs;
    let mut sides = [
        Side::new("client", l0, w0, client),
        Side::new("server", l1, w1, server_t),
    ];
    trace.push(format!(
        "keep_open_on_eof {keep_open:?}, self-pause every {:?} chunks",
        sides
            .each_ref()
            .map(|s| s.watch.self_pause.load(Ordering::SeqCst))
    ));
    for side in &sides {
        if rng.below(2) == 0 {
            // Small water marks: writers pause, closes wait for the reader.
            let high = 4096 << rng.below(7);
            if let (Some(t), Ok(limits)) = (&side.transport, WriteBufferLimits::new(high, high / 4))
            {
                t.set_write_buffer_limits(limits);
                trace.push(format!("{} high-water mark {high}", side.name));
            }
        }
    }

    // Most writes come from one end, which is where a paused reader on
    // the other end meets a large backlog; aborts only in some seeds, so
    // that most runs can demand every byte.
    let talker = rng.below(2);
    let aborts = rng.below(4) == 0;
    let long = seed % 3 == 0;
    let mut long_sleeps = usize::from(long);
    let ops = 8 + rng.below(32);
    for _ in 0..ops {
        let mut me = rng.below(2);
        match rng.below(100) {
            0..=54 => {
                if rng.below(10) < 7 {
                    me = talker;
                }
                // Writing to a peer that closed is rarer (and not done in
                // the seeds that stay paused long): it may reset, which
                // may cut what that peer sent before.
                if sides[1 - me].ended.is_none() || (!long && rng.below(4) == 0) {
                    write_some(&mut rng, &mut sides, me, trace);
                }
            }
            55..=66 => pause(&sides[me], trace),
            67..=74 => {
                if let Some(t) = &sides[me].transport {
                    sides[me].watch.paused.store(false, Ordering::SeqCst);
                    t.resume_reading();
                    trace.push(format!("{} resume", sides[me].name));
                }
            }
            75..=79 => {
                let ms = 1 + rng.below(20);
                trace.push(format!("sleep {ms} ms"));
                tokio::time::sleep(Duration::from_millis(ms as u64)).await;
            }
            80..=87 => {
                if let Some(t) = &sides[me].transport {
                    if t.can_write_eof() {
                        let r = t.write_eof();
                        trace.push(format!("{} write_eof: {}", sides[me].name, r.is_ok()));
                        sides[me].eof_written |= r.is_ok();
                    }
                }
            }
            _ => {
                let how = match rng.below(6) {
                    0..=2 => Ended::Closed,
                    3 | 4 => Ended::Dropped,
                    _ if aborts => Ended::Aborted,
                    _ => Ended::Closed,
                };
                if sides[me].ended.is_some() || sides[me].transport.is_none() {
                    continue;
                }
                // Mostly read what the peer sent first: closing with data
                // unread may reset the connection, which proves nothing.
                if how != Ended::Aborted && rng.below(4) != 0 && sides[1 - me].exact {
                    sides[me].watch.self_pause.store(0, Ordering::SeqCst);
                    resume(&sides[me], trace);
                    let want = sides[1 - me].sent;
                    received(&sides[me], want, sides[1 - me].name).await?;
                }
                if long_sleeps > 0 {
                    // What it sends last waits unread while the peer is paused.
                    pause(&sides[1 - me], trace);
                    write_some(&mut rng, &mut sides, me, trace);
                }
                end_side(&mut sides, me, how, trace);
                if long_sleeps > 0 {
                    // The peer stays paused past a backend's periodic look.
                    long_sleeps -= 1;
                    trace.push("sleep long".to_owned());
                    tokio::time::sleep(PAUSED_LONG).await;
                }
            }
        }
        for _ in 0..rng.below(4) {
            tokio::task::yield_now().await;
        }
    }

    if long_sleeps > 0 {
        // Nobody ended: one end stays paused past a periodic look anyway.
        pause(&sides[1 - talker], trace);
        trace.push("sleep long".to_owned());
        tokio::time::sleep(PAUSED_LONG).await;
    }
    // Resume late, let what must arrive arrive, then close what is left.
    for side in &sides {
        side.watch.self_pause.store(0, Ordering::SeqCst);
        resume(side, trace);
    }
    for me in 0..2 {
        if sides[me].exact {
            received(&sides[1 - me], sides[me].sent, sides[me].name).await?;
        }
    }
    // Closing now loses nothing: what must arrive has arrived.
    let exact = [sides[0].exact, sides[1].exact];
    for me in [rng.below(2), 0, 1] {
        if sides[me].transport.is_some() && sides[me].ended.is_none() {
            end_side(&mut sides, me, Ended::Closed, trace);
        }
    }
    for (side, exact) in sides.iter_mut().zip(exact) {
        side.transport = None;
        side.exact = exact;
    }
    for side in &sides {
        side.log
            .wait_lost()
            .await
            .map_err(|f| Failure::new(format!("{}: {}", side.name, f.message)))?;
    }
    // Late callbacks would show now.
    tokio::task::yield_now().await;
    for me in 0..2 {
        check(&sides[me], &sides[1 - me])?;
    }
    if exact == [true, true] {
        for side in &sides {
            ensure!(
                side.log.events().last() == Some(&Event::Lost(None)),
                "{}: no abort and no reset, but the end was not clean: {side:?}",
                side.name
            );
        }
    }
    shut(&server).await
}

/// Checks what `to` received from `from`, and the order of `to`'s events.
fn check(from: &Side, to: &Side) -> Outcome {
    let violations = to
        .watch
        .violations
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    ensure!(
        violations.is_empty(),
        "{}: {}",
        to.name,
        violations.join("; ")
    );
    let events = to.log.events();
    ensure!(
        events.first() == Some(&Event::Made),
        "{}: connection_made is not first: {to:?}",
        to.name
    );
    let lost = to.log.lost_count();
    ensure!(
        lost == 1 && matches!(events.last(), Some(Event::Lost(_))),
        "{}: connection_lost {lost} times, or not last: {to:?}",
        to.name
    );
    let eofs = to.log.count(&Event::Eof);
    ensure!(eofs <= 1, "{}: eof_received {eofs} times: {to:?}", to.name);
    if let Some(at) = events.iter().position(|e| *e == Event::Eof) {
        ensure!(
            !events[at..].iter().any(|e| matches!(e, Event::Data(_))),
            "{}: data_received after eof_received: {to:?}",
            to.name
        );
    }
    let got = to.log.data();
    let id = usize::from(from.name == "server");
    if let Some(bad) = got
        .iter()
        .enumerate()
        .position(|(i, &b)| b != byte_at(id, i))
    {
        return Err(Failure::new(format!(
            "{} received a byte at offset {bad} that {} did not write there \
             (lost, duplicated or reordered data; {} bytes received of {} sent): {to:?}",
            to.name,
            from.name,
            got.len(),
            from.sent
        )));
    }
    ensure!(
        got.len() <= from.sent,
        "{} received {} bytes, more than the {} that {} wrote",
        to.name,
        got.len(),
        from.sent,
        from.name
    );
    ensure!(
        !from.exact || got.len() == from.sent,
        "{} received {} of the {} bytes {} wrote, with no abort and no reset: {from:?}; {to:?}",
        to.name,
        got.len(),
        from.sent,
        from.name
    );
    Ok(())
}

/// The `integrity` scenario: [`interleaving`] for every seed of [`SEEDS`].
pub(crate) async fn interleavings<B: Backend>(backend: &B) -> Outcome {
    for seed in SEEDS {
        interleaving(backend, seed).await?;
    }
    Ok(())
}
