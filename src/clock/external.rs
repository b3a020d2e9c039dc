//! [`ExternalClock`]: time that moves only when it is told to.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::oneshot;

pub use super::error::ClockError;
use super::timer::{Callback, TimerHandle, TimerKey};
use super::{date_after, Clock, DateTime, Sleep, Utc};

/// What waits in an external clock's queue.
enum Waiter {
    /// A task in [`Clock::sleep_until`].
    Sleeper(oneshot::Sender<()>),
    /// A call from [`Clock::call_at`] or [`Clock::call_in`].
    Call(Callback),
}

struct State {
    now: Duration,
    /// The date at time zero (aiomas's `utc_start`).
    start_date: DateTime<Utc>,
    /// Sleepers and calls by (deadline, order of scheduling): ties come due
    /// in the order they were scheduled.
    queue: BTreeMap<TimerKey, Waiter>,
    next_seq: u64,
}

impl State {
    /// The date now: the start date plus the time (chrono's last date past
    /// its range).
    fn date(&self) -> DateTime<Utc> {
        date_after(self.start_date, self.now)
    }

    /// Puts `waiter` in the queue at `deadline`, after those already there.
    fn enqueue(&mut self, deadline: Duration, waiter: Waiter) -> TimerKey {
        let key = (deadline, self.next_seq);
        self.next_seq += 1;
        self.queue.insert(key, waiter);
        key
    }
}

/// A clock whose time is set from outside (aiomas's `ExternalClock`), for
/// co-simulation: an agent's `sleep` returns when the simulation says that
/// much time has passed, not when the wall clock does.
///
/// [`set_time`](Self::set_time) handles everything whose deadline has come,
/// in deadline order, ties in the order they were scheduled: it wakes each
/// sleeper (on a current-thread runtime, tasks parked on those sleeps resume
/// in that order, once `set_time` has returned) and runs each call of
/// [`call_at`](Clock::call_at) / [`call_in`](Clock::call_in) right there, on
/// the caller of `set_time`, with no runtime needed.
///
/// Its date ([`utcnow`](Clock::utcnow)) is its start date plus its time, as
/// aiomas's `ExternalClock(utc_start, init_time)` has it. Cheap to clone;
/// clones share the time.
///
/// A sleep does not keep its clock: once every clone (and every container
/// holding one) is dropped, nobody can set it again, and the tasks still
/// sleeping on it wake instead of waiting for ever. Calls scheduled on a
/// dropped clock never run.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use agentwire::clock::{Clock, DateTime, ExternalClock};
///
/// let start: DateTime<_> = "2016-01-01T00:00:00Z".parse().unwrap();
/// let clock = ExternalClock::from_date(start);
/// let wake = clock.sleep(Duration::from_secs(10));
/// let sleeper = tokio::spawn(wake);
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let l = log.clone();
/// clock.call_in(Duration::from_secs(5), Box::new(move || l.lock().unwrap().push("5 s"))).unwrap();
///
/// clock.set_time(Duration::from_secs(10)).unwrap(); // runs the call
/// sleeper.await.unwrap(); // returns: the clock reached 10 s
/// assert_eq!(*log.lock().unwrap(), ["5 s"]);
/// assert_eq!(clock.utcnow().to_rfc3339(), "2016-01-01T00:00:10+00:00");
/// # }
/// ```
#[derive(Clone)]
pub struct ExternalClock {
    state: Arc<Mutex<State>>,
}

impl Default for ExternalClock {
    fn default() -> Self {
        Self::from_date(DateTime::<Utc>::UNIX_EPOCH)
    }
}

impl ExternalClock {
    /// A clock at time zero, whose date starts at the Unix epoch
    /// (1970-01-01T00:00:00Z).
    pub fn new() -> Self {
        Self::default()
    }

    /// A clock at `time`, whose date at time zero is the Unix epoch.
    pub fn starting_at(time: Duration) -> Self {
        let clock = Self::new();
        clock.lock().now = time;
        clock
    }

    /// A clock at time zero whose date is `utc_start` (aiomas's
    /// `ExternalClock(utc_start)`).
    pub fn from_date(utc_start: DateTime<Utc>) -> Self {
        Self::from_date_at(utc_start, Duration::ZERO)
    }

    /// A clock at `init_time` whose date at time zero is `utc_start`
    /// (aiomas's `ExternalClock(utc_start, init_time)`): `utcnow()` is
    /// `utc_start` plus the time, `init_time` included, as aiomas's is
    /// (chrono's last date past its range).
    pub fn from_date_at(utc_start: DateTime<Utc>, init_time: Duration) -> Self {
        ExternalClock {
            state: Arc::new(Mutex::new(State {
                now: init_time,
                start_date: utc_start,
                queue: BTreeMap::new(),
                next_seq: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; recover anyway.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves the clock to `time` and handles, in order, everything whose
    /// deadline is at or before it: sleepers are woken, calls are run here.
    /// Setting the current time again is fine.
    ///
    /// A call may schedule or cancel others, or set the time itself (the
    /// clock is not locked while it runs): what comes due then is handled
    /// in the same order, before the call's `set_time` returns. If a call
    /// panics, the calls due after it still run, and then `set_time`
    /// resumes the first panic.
    ///
    /// # Errors
    ///
    /// [`ClockError::Backwards`] if `time` is before the clock's time; the
    /// clock is left as it was.
    pub fn set_time(&self, time: Duration) -> Result<(), ClockError> {
        let mut state = self.lock();
        if time < state.now {
            return Err(ClockError::Backwards {
                now: state.now,
                requested: time,
            });
        }
        state.now = time;
        drop(state);
        let mut panic = None;
        // One at a time, the earliest first, each taken under the lock: a
        // call that sets the time further on (or another thread that does)
        // handles what comes due then after what is due now, in order, and
        // a call cancelled by an earlier one does not run.
        while let Some(waiter) = self.next_due(time) {
            match waiter {
                // A dropped sleeper is simply gone.
                Waiter::Sleeper(waker) => {
                    let _ = waker.send(());
                }
                Waiter::Call(f) => {
                    if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
                        panic.get_or_insert(p);
                    }
                }
            }
        }
        match panic {
            Some(p) => resume_unwind(p),
            None => Ok(()),
        }
    }

    /// Takes the earliest waiter whose deadline is at or before `time`.
    fn next_due(&self, time: Duration) -> Option<Waiter> {
        let mut state = self.lock();
        // Everything strictly before (time, u64::MAX) is due.
        match state.queue.first_key_value() {
            Some((key, _)) if *key < (time, u64::MAX) => state.queue.pop_first().map(|(_, w)| w),
            _ => None,
        }
    }

    /// The number of tasks sleeping on this clock.
    pub fn sleepers(&self) -> usize {
        self.lock()
            .queue
            .values()
            .filter(|w| matches!(w, Waiter::Sleeper(_)))
            .count()
    }

    /// The number of calls scheduled and not yet run or cancelled.
    pub fn pending_calls(&self) -> usize {
        self.lock()
            .queue
            .values()
            .filter(|w| matches!(w, Waiter::Call(_)))
            .count()
    }

    /// The earliest deadline anyone sleeps until or a call is scheduled
    /// for, if any: where a co-simulation can step to next.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.lock().queue.keys().next().map(|(t, _)| *t)
    }

    /// Removes the call at `key`; whether it was there.
    pub(crate) fn cancel_call(&self, key: TimerKey) -> bool {
        let mut state = self.lock();
        match state.queue.remove(&key) {
            Some(Waiter::Call(f)) => {
                drop(state);
                // Its captures are dropped outside the lock.
                drop(f);
                true
            }
            Some(other) => {
                // Not a call (cannot happen: keys are unique); put it back.
                state.queue.insert(key, other);
                false
            }
            None => false,
        }
    }

    /// Whether the call at `key` is still waiting.
    pub(crate) fn has_call(&self, key: TimerKey) -> bool {
        matches!(self.lock().queue.get(&key), Some(Waiter::Call(_)))
    }
}

impl Clock for ExternalClock {
    fn time(&self) -> Duration {
        self.lock().now
    }

    fn sleep_until(&self, deadline: Duration) -> Sleep {
        let mut state = self.lock();
        if deadline <= state.now {
            return Box::pin(std::future::ready(()));
        }
        let (tx, rx) = oneshot::channel();
        let key = state.enqueue(deadline, Waiter::Sleeper(tx));
        drop(state);
        // Weak: a sleep does not keep its clock. Once every handle of the
        // clock is gone nobody can set it again, and its queue goes with
        // it, which ends the sleep (it does not wait for ever).
        let mut sleeper = Sleeper {
            clock: Arc::downgrade(&self.state),
            key,
            woken: rx,
        };
        Box::pin(async move {
            // The sender only goes away by being fired, or with the clock;
            // either way the sleep is over.
            let _ = (&mut sleeper.woken).await;
        })
    }

    fn utcnow(&self) -> DateTime<Utc> {
        self.lock().date()
    }

    /// Runs `f` inside the [`set_time`](ExternalClock::set_time) that
    /// reaches `time`, in order with everything else due then.
    fn call_at(&self, time: Duration, f: Callback) -> Result<TimerHandle, ClockError> {
        let mut state = self.lock();
        if time <= state.now {
            return Err(ClockError::InThePast {
                now: state.now,
                requested: time,
            });
        }
        let key = state.enqueue(time, Waiter::Call(f));
        Ok(TimerHandle::external(self.clone(), key))
    }

    /// Runs `f` inside the [`set_time`](ExternalClock::set_time) that
    /// reaches the clock's time plus `delay`; a zero delay is an error
    /// ([`ClockError::ZeroDelay`]), as in aiomas.
    fn call_in(&self, delay: Duration, f: Callback) -> Result<TimerHandle, ClockError> {
        if delay.is_zero() {
            return Err(ClockError::ZeroDelay);
        }
        let mut state = self.lock();
        let time = state.now.saturating_add(delay);
        let key = state.enqueue(time, Waiter::Call(f));
        Ok(TimerHandle::external(self.clone(), key))
    }
}

/// One task's sleep; forgets itself when dropped before it was woken.
struct Sleeper {
    clock: Weak<Mutex<State>>,
    key: TimerKey,
    woken: oneshot::Receiver<()>,
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let Some(clock) = self.clock.upgrade() else {
            return;
        };
        let removed = {
            let mut state = clock.lock().unwrap_or_else(|p| p.into_inner());
            match state.queue.get(&self.key) {
                Some(Waiter::Sleeper(_)) => state.queue.remove(&self.key),
                _ => None,
            }
        };
        // Dropped outside the lock (and before the clock, which may be
        // the last handle now).
        drop(removed);
    }
}

impl fmt::Debug for ExternalClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("ExternalClock")
            .field("time", &state.now)
            .field("date", &state.date())
            .field("queued", &state.queue.len())
            .finish()
    }
}
