//! [`RealClock`]: the clock of tokio's timer.

use std::time::Duration;

use tokio::time::Instant;

use super::{date_after, Clock, DateTime, Sleep, Utc};

/// Real time, as tokio's timer keeps it (so `tokio::time::pause` in tests
/// applies); its time starts at zero when it is created. Its sleeps are
/// tokio sleeps, so they need a runtime with time enabled, as
/// `tokio::time::sleep` does; so do [`call_in`](Clock::call_in) and
/// [`call_at`](Clock::call_at), which run their function on a tokio task
/// (the default methods of [`Clock`]).
///
/// [`utcnow`](Clock::utcnow) is the wall-clock date at creation plus
/// [`time`](Clock::time), so dates and times agree (also under
/// `tokio::time::pause`) instead of drifting apart when the system clock is
/// adjusted.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use agentwire::clock::{Clock, RealClock};
/// use tokio::sync::oneshot;
///
/// let clock = RealClock::new();
/// let (tx, rx) = oneshot::channel();
/// let _timer = clock
///     .call_in(Duration::from_millis(1), Box::new(move || { let _ = tx.send("called"); }))
///     .unwrap();
/// assert_eq!(rx.await.unwrap(), "called");
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RealClock {
    start: Instant,
    start_date: DateTime<Utc>,
}

impl RealClock {
    /// A clock starting now.
    pub fn new() -> Self {
        RealClock {
            start: Instant::now(),
            start_date: Utc::now(),
        }
    }
}

impl Default for RealClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for RealClock {
    fn time(&self) -> Duration {
        self.start.elapsed()
    }

    fn sleep_until(&self, deadline: Duration) -> Sleep {
        // A deadline beyond what `Instant` can hold is never reached.
        let at = self
            .start
            .checked_add(deadline)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(60 * 60 * 24 * 365 * 30));
        Box::pin(tokio::time::sleep_until(at))
    }

    fn utcnow(&self) -> DateTime<Utc> {
        date_after(self.start_date, self.time())
    }
}
