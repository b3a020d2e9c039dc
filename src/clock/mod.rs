//! Clocks: real time, or an [`ExternalClock`] whose time is set from outside
//! (aiomas's `clocks` module), for co-simulation and for tests that must not
//! depend on the wall clock.
//!
//! A [`Clock`] tells the time since its start and lets tasks sleep until a
//! point in that time. Code written against `Arc<dyn Clock>` runs unchanged
//! on [`RealClock`] (tokio's timer) and on [`ExternalClock`], where time moves
//! only when [`set_time`](ExternalClock::set_time) is called and sleepers wake
//! in time order, ties in the order they went to sleep.
//!
//! Map of the module:
//!
//! - [`real`] — [`RealClock`], tokio time;
//! - [`external`] — [`ExternalClock`] and its [`ClockError`].

pub mod external;
pub mod real;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use external::{ClockError, ExternalClock};
pub use real::RealClock;

/// A future that completes when a clock reaches a time.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of time that tasks can sleep on.
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
}
