//! [`RealClock`]: the clock of tokio's timer.

use std::time::Duration;

use tokio::time::Instant;

use super::{Clock, Sleep};

/// Real time, as tokio's timer keeps it (so `tokio::time::pause` in tests
/// applies); its time starts at zero when it is created. Its sleeps are
/// tokio sleeps, so they need a runtime with time enabled, as
/// `tokio::time::sleep` does.
#[derive(Debug, Clone, Copy)]
pub struct RealClock {
    start: Instant,
}

impl RealClock {
    /// A clock starting now.
    pub fn new() -> Self {
        RealClock {
            start: Instant::now(),
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
        let at = self.start + deadline;
        Box::pin(tokio::time::sleep_until(at))
    }
}
