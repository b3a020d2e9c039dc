//! Data integrity under flow control and closing: seeded random
//! interleavings of writes, pauses, half-closes, closes, aborts and dropped
//! handles on both ends of one connection.
//!
//! Whatever the order, what a peer wrote before a graceful close or
//! `write_eof` arrives, all of it, in order, however long the reader stays
//! paused (by the scenario, or by its own protocol from `data_received`);
//! then (at most one) `eof_received`, then exactly one `connection_lost`,
//! last. An abort drops only what was not yet handed
//! off, so the other end receives a prefix. Nothing is delivered while
//! reading is paused, nor after our own `close`.
//!
//! [`interleaving`] runs one seed (the same seed, the same operations);
//! the `integrity` scenario of [`SCENARIOS`](super::SCENARIOS) runs a
//! fixed set of seeds.

mod ends;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{ensure, shut, step, Backend, Event, Failure, Log, Outcome, PAUSED_LONG};
use crate::{Address, SharedTransport, WriteBufferLimits};
use ends::{
    byte_at, end_side, pause, received, resume, take, write_some, End, Ended, Rng, Side, Watch,
};

/// The seeds the `integrity` scenario runs.
pub const SEEDS: std::ops::Range<u64> = 0..12;

/// Bytes one end writes at most in one interleaving.
const MAX_SENT: usize = 3 * 1024 * 1024;

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
