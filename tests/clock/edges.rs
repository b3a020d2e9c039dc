//! Edge cases of the clocks: the real clock on a runtime built without
//! timers (a container's default clock, so an agent's sleep), deadlines
//! and delays at the ends of `Duration`.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use agentwire::clock::{Clock, ClockError, ExternalClock, RealClock};

/// On a runtime without timers, the real clock's sleeps and scheduled
/// calls still work (they used to panic: "timers are disabled").
#[test]
fn real_clock_without_timers() {
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime without timers");
        rt.block_on(async {
            let clock = RealClock::new();
            let started = Instant::now();
            clock.sleep(Duration::from_millis(30)).await;
            assert!(started.elapsed() >= Duration::from_millis(30));
            let (tx, rx) = tokio::sync::oneshot::channel();
            let _timer = clock
                .call_in(
                    Duration::from_millis(10),
                    Box::new(move || {
                        let _ = tx.send("called");
                    }),
                )
                .expect("scheduled");
            assert_eq!(rx.await.expect("called"), "called");
            let cancelled = clock
                .call_in(Duration::from_millis(10), Box::new(|| panic!("cancelled")))
                .expect("scheduled");
            assert!(cancelled.cancel());
            clock.sleep(Duration::from_millis(30)).await;
        });
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("finishes without panicking");
}

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
