//! [`ClockError`]: what setting a clock or scheduling on it can refuse.

use std::time::Duration;

/// Setting an [`ExternalClock`](super::ExternalClock), or scheduling a call
/// on a clock, went wrong.
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
    /// A call was scheduled for a time that is not in the future (aiomas:
    /// `Date "…" is in the past`).
    #[error("cannot schedule a call at {requested:?}: the clock is already at {now:?}")]
    InThePast {
        /// The clock's time.
        now: Duration,
        /// The time that was asked for.
        requested: Duration,
    },
    /// [`ExternalClock::call_in`](super::Clock::call_in) was given a zero
    /// delay (aiomas: `dt must be > 0`).
    #[error("an external clock's call_in needs a delay greater than zero")]
    ZeroDelay,
    /// A call on a real-time clock was scheduled outside a tokio runtime,
    /// which runs the timer.
    #[error("scheduling a call on this clock needs a tokio runtime, and there is none here")]
    NoRuntime,
}
