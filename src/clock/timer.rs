//! [`TimerHandle`]: a call scheduled with [`Clock::call_in`] or
//! [`Clock::call_at`], which can be cancelled (aiomas's `TimerHandle`).

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::external::ExternalClock;
use super::{Clock, ClockError};

/// A function to be called once, later: what [`Clock::call_in`] and
/// [`Clock::call_at`] schedule (aiomas's `func(*args)`).
pub type Callback = Box<dyn FnOnce() + Send + 'static>;

/// A scheduled call (aiomas's `TimerHandle`): [`cancel`](Self::cancel) it
/// before its time and it never runs.
///
/// Dropping the handle does **not** cancel the call, as in aiomas and
/// asyncio: `clock.call_in(d, f)` as a statement is a call that will happen,
/// not one that is cancelled at once. The call holds nothing but `f` until
/// its time comes, so a forgotten handle costs no more than the call itself.
pub struct TimerHandle {
    inner: HandleInner,
}

enum HandleInner {
    /// An entry in an [`ExternalClock`]'s queue.
    External { clock: ExternalClock, key: TimerKey },
    /// A task sleeping on a clock, then calling.
    Task {
        state: Arc<AtomicU8>,
        task: tokio::task::AbortHandle,
    },
}

/// An entry of an [`ExternalClock`]'s queue: (deadline, order of scheduling).
pub(crate) type TimerKey = (Duration, u64);

const PENDING: u8 = 0;
const CANCELLED: u8 = 1;
const CALLED: u8 = 2;

impl TimerHandle {
    pub(crate) fn external(clock: ExternalClock, key: TimerKey) -> Self {
        TimerHandle {
            inner: HandleInner::External { clock, key },
        }
    }

    /// Cancels the call if it has not run yet; returns whether it was
    /// still pending (and so will now never run). Cancelling twice, or after
    /// the call ran, does nothing and returns `false`.
    pub fn cancel(&self) -> bool {
        match &self.inner {
            HandleInner::External { clock, key } => clock.cancel_call(*key),
            HandleInner::Task { state, task } => {
                let won = state
                    .compare_exchange(PENDING, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
                if won {
                    task.abort();
                }
                won
            }
        }
    }

    /// Whether the call is still waiting for its time (neither run nor
    /// cancelled).
    pub fn is_pending(&self) -> bool {
        match &self.inner {
            HandleInner::External { clock, key } => clock.has_call(*key),
            HandleInner::Task { state, .. } => state.load(Ordering::Acquire) == PENDING,
        }
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TimerHandle");
        if let HandleInner::External { key, .. } = &self.inner {
            d.field("at", &key.0);
        }
        d.field("pending", &self.is_pending()).finish()
    }
}

/// Schedules `f` on a tokio task that sleeps on `clock` until `deadline`
/// and then calls it, unless it was cancelled first: the default
/// [`Clock::call_at`] and the way [`RealClock`](super::RealClock) does it.
///
/// # Errors
///
/// [`ClockError::NoRuntime`] outside a tokio runtime.
pub(crate) fn spawn_call<C: Clock + ?Sized>(
    clock: &C,
    deadline: Duration,
    f: Callback,
) -> Result<TimerHandle, ClockError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| ClockError::NoRuntime)?;
    let state = Arc::new(AtomicU8::new(PENDING));
    let sleep = clock.sleep_until(deadline);
    let task_state = Arc::clone(&state);
    let task = runtime.spawn(async move {
        sleep.await;
        if task_state
            .compare_exchange(PENDING, CALLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            f();
        }
    });
    Ok(TimerHandle {
        inner: HandleInner::Task {
            state,
            task: task.abort_handle(),
        },
    })
}
