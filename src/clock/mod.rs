//! Clocks: real time, or an [`ExternalClock`] whose time is set from outside
//! (aiomas's `clocks` module), for co-simulation and for tests that must not
//! depend on the wall clock.
//!
//! A [`Clock`] tells the time since its start and the date ([`utcnow`](
//! Clock::utcnow)), lets tasks sleep until a point in that time, and runs
//! functions later ([`call_in`](Clock::call_in), [`call_at`](Clock::call_at),
//! each returning a [`TimerHandle`] that can cancel the call). Code written
//! against `Arc<dyn Clock>` runs unchanged on [`RealClock`] (tokio's timer)
//! and on [`ExternalClock`], where time moves only when
//! [`set_time`](ExternalClock::set_time) is called, and sleepers wake and
//! calls run in time order, ties in the order they were scheduled.
//!
//! Dates are [`chrono`]'s `DateTime<Utc>`, re-exported here as [`DateTime`]
//! and [`Utc`] (and the crate as [`chrono`]), so you need not depend on it.
//!
//! Map of the module:
//!
//! - [`real`] — [`RealClock`], tokio time;
//! - [`external`] — [`ExternalClock`];
//! - [`timer`] — [`TimerHandle`], a scheduled call;
//! - [`error`] — [`ClockError`].

pub mod error;
pub mod external;
pub mod real;
pub mod timer;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use chrono;
pub use chrono::{DateTime, Utc};
pub use error::ClockError;
pub use external::ExternalClock;
pub use real::RealClock;
pub use timer::{Callback, TimerHandle};

/// A future that completes when a clock reaches a time.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of time that tasks can sleep on and that runs calls later.
///
/// Only [`time`](Clock::time) and [`sleep_until`](Clock::sleep_until) must
/// be written; the other methods have defaults built on them.
pub trait Clock: fmt::Debug + Send + Sync {
    /// The time since the clock's start.
    fn time(&self) -> Duration;

    /// Completes once [`time`](Clock::time) has reached `deadline` (at once
    /// if it already has).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future forgets the sleeper; other sleepers are unaffected.
    fn sleep_until(&self, deadline: Duration) -> Sleep;

    /// Completes after `duration` has passed on this clock.
    fn sleep(&self, duration: Duration) -> Sleep {
        self.sleep_until(self.time().saturating_add(duration))
    }

    /// The current date and time in UTC (aiomas's `utcnow()`). The default
    /// is the system's wall clock; [`RealClock`] and [`ExternalClock`] give
    /// their start date plus [`time`](Clock::time).
    fn utcnow(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// Calls `f` once [`time`](Clock::time) reaches `time` (aiomas's
    /// `call_at`), unless the returned handle [cancels](TimerHandle::cancel)
    /// it first. Dropping the handle does not cancel the call.
    ///
    /// The default runs `f` on a tokio task that sleeps on
    /// [`sleep_until`](Clock::sleep_until).
    ///
    /// # Errors
    ///
    /// [`ClockError::InThePast`] if `time` is not after the clock's time (as
    /// aiomas refuses a date in the past); [`ClockError::NoRuntime`] if the
    /// clock needs a tokio runtime to run the call and there is none.
    fn call_at(&self, time: Duration, f: Callback) -> Result<TimerHandle, ClockError> {
        let now = self.time();
        if time <= now {
            return Err(ClockError::InThePast {
                now,
                requested: time,
            });
        }
        timer::spawn_call(self, time, f)
    }

    /// Calls `f` after `delay` has passed on this clock (aiomas's
    /// `call_in`), unless the returned handle cancels it first. Dropping the
    /// handle does not cancel the call.
    ///
    /// The default runs `f` on a tokio task that sleeps on
    /// [`sleep_until`](Clock::sleep_until); a zero delay runs it soon.
    ///
    /// # Errors
    ///
    /// [`ClockError::NoRuntime`] if the clock needs a tokio runtime to run
    /// the call and there is none; [`ExternalClock`] refuses a zero delay
    /// ([`ClockError::ZeroDelay`]), as aiomas's does.
    fn call_in(&self, delay: Duration, f: Callback) -> Result<TimerHandle, ClockError> {
        timer::spawn_call(self, self.time().saturating_add(delay), f)
    }
}

/// `start + elapsed`, saturating at chrono's largest date instead of
/// overflowing.
pub(crate) fn date_after(start: DateTime<Utc>, elapsed: Duration) -> DateTime<Utc> {
    chrono::TimeDelta::from_std(elapsed)
        .ok()
        .and_then(|d| start.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
