//! Simulated time that moves by itself: [`Sim::run`](crate::Sim::run)
//! advances an [`ExternalClock`] to its next deadline whenever the
//! runtime has nothing else to do.
//!
//! # How "idle" is found
//!
//! A helper task (owned by `run`, aborted when it returns) loops on
//! `tokio::task::yield_now()`. On a current-thread runtime a yielded task
//! is woken only after the scheduler has run every task that was ready,
//! so a yield that returns means the run queue drained. When three yields
//! in a row see no simulation activity (no frame sent or delivered, no
//! connection made or lost) and no move of the clock (by another
//! `Sim::run` on the same clock: `Sim`s sharing one clock do not step it
//! twice for one idle moment), every task is waiting: for the clock, for
//! a peer, or for something outside. Then:
//!
//! - if someone sleeps on the clock, it jumps to the earliest deadline
//!   (`ExternalClock::set_time`), which wakes those sleepers in order;
//! - if nobody does, the helper sleeps 1 ms of real time (something
//!   outside the simulation, such as a real socket or a tokio timer, must
//!   make progress first).
//!
//! A clock callback (`Clock::call_at`) that panics while the helper sets
//! the time fails the run with that panic (`Sim::run` resumes it), rather
//! than leaving time stopped.
//!
//! So a call across a 50 ms link completes at simulated 100 ms after a few
//! microseconds of wall time. Time only ever jumps when everything waits,
//! so on a current-thread runtime the run is deterministic. On a
//! multi-thread runtime a yield says less (other workers run meanwhile)
//! and the clock may move early: use it for load, not for reproducible
//! traces.

use std::future::Future;
use std::time::Duration;

use agentwire::clock::ExternalClock;

use crate::Sim;

/// Yields in a row without activity before the clock moves.
const QUIET_YIELDS: u32 = 3;

/// Runs `fut` while a helper task advances `clock` whenever all is idle.
pub(crate) async fn run_advancing<F: Future>(clock: ExternalClock, sim: Sim, fut: F) -> F::Output {
    let helper = tokio::spawn(advance_when_idle(clock, sim));
    // Abort the helper however `fut` ends (also if this future is dropped).
    struct Abort(tokio::task::JoinHandle<()>);
    impl Drop for Abort {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let mut guard = Abort(helper);
    let mut fut = std::pin::pin!(fut);
    tokio::select! {
        biased;
        out = &mut fut => out,
        // The helper only ends by a panic: a clock callback (`call_at`)
        // that `set_time` ran panicked. Time would stand still for good;
        // the run fails with that panic instead.
        ended = &mut guard.0 => match ended {
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled (the runtime shuts down): nothing moves time now.
            _ => fut.await,
        },
    }
}

async fn advance_when_idle(clock: ExternalClock, sim: Sim) {
    loop {
        let mut quiet = 0;
        while quiet < QUIET_YIELDS {
            let before = sim.inner.activity_mark();
            tokio::task::yield_now().await;
            if sim.inner.activity_mark() == before {
                quiet += 1;
            } else {
                quiet = 0;
            }
        }
        match clock.next_deadline() {
            // The deadline is in the future (it would not be pending
            // otherwise), so this cannot go backwards.
            Some(t) => {
                let _ = clock.set_time(t);
            }
            None => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}
