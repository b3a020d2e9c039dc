//! [`ExternalClock`]: time that moves only when it is told to.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;

use super::{Clock, Sleep};

/// Setting an [`ExternalClock`] went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClockError {
    /// Time can only move forward.
    #[error(
        "an external clock cannot go back in time: it is at {now:?}, {requested:?} was asked for"
    )]
    Backwards {
        /// The clock's time.
        now: Duration,
        /// The time that was asked for.
        requested: Duration,
    },
}

#[derive(Default)]
struct State {
    now: Duration,
    /// Sleepers by (deadline, order of going to sleep): ties wake in the
    /// order they slept.
    sleepers: BTreeMap<(Duration, u64), oneshot::Sender<()>>,
    next_seq: u64,
}

/// A clock whose time is set from outside (aiomas's `ExternalClock`), for
/// co-simulation: an agent's `sleep` returns when the simulation says that
/// much time has passed, not when the wall clock does.
///
/// [`set_time`](Self::set_time) wakes every sleeper whose deadline has come,
/// in deadline order, ties in the order they went to sleep; on a
/// current-thread runtime, tasks parked on those sleeps resume in that order.
/// Cheap to clone; clones share the time.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use agentwire::clock::{Clock, ExternalClock};
///
/// let clock = ExternalClock::new();
/// let wake = clock.sleep(Duration::from_secs(10));
/// let sleeper = tokio::spawn(wake);
/// clock.set_time(Duration::from_secs(10)).unwrap();
/// sleeper.await.unwrap(); // returns: the clock reached 10 s
/// assert_eq!(clock.time(), Duration::from_secs(10));
/// # }
/// ```
#[derive(Clone, Default)]
pub struct ExternalClock {
    state: Arc<Mutex<State>>,
}

impl ExternalClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// A clock at `time`.
    pub fn starting_at(time: Duration) -> Self {
        let clock = Self::new();
        clock.lock().now = time;
        clock
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; recover anyway.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves the clock to `time` and wakes, in order, every sleeper whose
    /// deadline is at or before it. Setting the current time again is fine.
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
        // Everything strictly before (time, u64::MAX) is due.
        let later = state.sleepers.split_off(&(time, u64::MAX));
        let due = std::mem::replace(&mut state.sleepers, later);
        drop(state);
        for (_, waker) in due {
            // A dropped sleeper is simply gone.
            let _ = waker.send(());
        }
        Ok(())
    }

    /// The number of tasks sleeping on this clock.
    pub fn sleepers(&self) -> usize {
        self.lock().sleepers.len()
    }

    /// The earliest deadline anyone sleeps until, if any: where a
    /// co-simulation can step to next.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.lock().sleepers.keys().next().map(|(t, _)| *t)
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
        let key = (deadline, state.next_seq);
        state.next_seq += 1;
        state.sleepers.insert(key, tx);
        drop(state);
        let mut sleeper = Sleeper {
            clock: self.clone(),
            key,
            woken: rx,
        };
        Box::pin(async move {
            // The sender only goes away by being fired, or with the clock;
            // either way the sleep is over.
            let _ = (&mut sleeper.woken).await;
        })
    }
}

/// One task's sleep; forgets itself when dropped before it was woken.
struct Sleeper {
    clock: ExternalClock,
    key: (Duration, u64),
    woken: oneshot::Receiver<()>,
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        self.clock.lock().sleepers.remove(&self.key);
    }
}

impl fmt::Debug for ExternalClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("ExternalClock")
            .field("time", &state.now)
            .field("sleepers", &state.sleepers.len())
            .finish()
    }
}
