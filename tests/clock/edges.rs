//! Edge cases of the clocks: deadlines and delays at the ends of
//! `Duration`.

use std::time::Duration;

use agentwire::clock::{Clock, ClockError, ExternalClock, RealClock};

/// Deadlines at the ends of `Duration`: never reached (not a panic), and
/// refused where they are in the past.
#[tokio::test(start_paused = true)]
async fn extreme_deadlines() {
    let real = RealClock::new();
    let never = real.sleep_until(Duration::MAX);
    assert!(tokio::time::timeout(Duration::from_secs(3600), never)
        .await
        .is_err());
    let timer = real
        .call_in(Duration::MAX, Box::new(|| panic!("never")))
        .expect("scheduled");
    assert!(timer.is_pending() && timer.cancel());
    assert!(matches!(
        real.call_at(Duration::ZERO, Box::new(|| {})),
        Err(ClockError::InThePast { .. })
    ));

    let external = ExternalClock::new();
    let timer = external
        .call_at(Duration::MAX, Box::new(|| {}))
        .expect("scheduled");
    external
        .set_time(Duration::MAX)
        .expect("to the end of time");
    assert!(!timer.is_pending(), "ran at Duration::MAX");
    assert!(external
        .call_in(Duration::from_secs(1), Box::new(|| {}))
        .is_ok());
    external.set_time(Duration::MAX).expect("again");
    assert_eq!(external.pending_calls(), 0);
    assert!(external.sleep(Duration::MAX).now_or_never_ready());
}

/// Whether a future is ready at its first poll.
trait NowOrNever {
    fn now_or_never_ready(self) -> bool;
}

impl<F: std::future::Future> NowOrNever for F {
    fn now_or_never_ready(self) -> bool {
        let mut fut = std::pin::pin!(self);
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        fut.as_mut().poll(&mut cx).is_ready()
    }
}
