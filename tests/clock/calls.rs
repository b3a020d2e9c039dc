//! aiomas's `call_in`/`call_at` with cancellable handles, and `utcnow`, on
//! both clocks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentwire::clock::{Callback, Clock, ClockError, DateTime, ExternalClock, RealClock, Utc};

use super::secs;

/// A log of calls, and a callback that appends `name` to it.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<&'static str>>>);

impl Log {
    fn push(&self, name: &'static str) -> Callback {
        let log = self.clone();
        Box::new(move || log.0.lock().unwrap().push(name))
    }

    fn take(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn date(text: &str) -> DateTime<Utc> {
    text.parse().expect("an RFC 3339 date")
}

#[test]
fn calls_run_in_time_order_ties_in_scheduling_order() {
    let clock = ExternalClock::new();
    let dyn_clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let log = Log::default();
    let _a = clock.call_at(secs(5), log.push("a@5")).unwrap();
    let _b = dyn_clock.call_in(secs(3), log.push("b@3")).unwrap();
    let _c = clock.call_at(secs(5), log.push("c@5")).unwrap();
    let _d = dyn_clock.call_at(secs(1), log.push("d@1")).unwrap();
    let _e = clock.call_in(secs(3), log.push("e@3")).unwrap();
    assert_eq!(clock.pending_calls(), 5);
    assert_eq!(clock.next_deadline(), Some(secs(1)));

    clock.set_time(secs(3)).unwrap();
    assert_eq!(log.take(), ["d@1", "b@3", "e@3"]);
    assert_eq!(clock.pending_calls(), 2);

    // call_in counts from the clock's time now; a tie with an older call
    // runs after it.
    let _f = clock.call_in(secs(2), log.push("f@5")).unwrap();
    clock.set_time(secs(10)).unwrap();
    assert_eq!(log.take(), ["a@5", "c@5", "f@5"]);
    assert_eq!(clock.pending_calls(), 0);
    assert_eq!(clock.next_deadline(), None);
}

#[test]
fn a_cancelled_call_never_runs_and_a_dropped_handle_does_not_cancel() {
    let clock = ExternalClock::new();
    let log = Log::default();
    let cancelled = clock.call_in(secs(2), log.push("cancelled")).unwrap();
    let kept = clock.call_in(secs(2), log.push("kept")).unwrap();
    drop(clock.call_in(secs(1), log.push("dropped handle")).unwrap());
    assert!(cancelled.is_pending());

    assert!(cancelled.cancel(), "it was pending");
    assert!(!cancelled.is_pending());
    assert!(!cancelled.cancel(), "cancelling twice does nothing");
    assert_eq!(clock.pending_calls(), 2);

    clock.set_time(secs(2)).unwrap();
    assert_eq!(log.take(), ["dropped handle", "kept"]);
    assert!(!kept.is_pending());
    assert!(!kept.cancel(), "too late: it ran");
}

#[test]
fn scheduling_in_the_past_or_with_no_delay_is_refused() {
    let clock = ExternalClock::starting_at(secs(5));
    let log = Log::default();
    for t in [4, 5] {
        assert_eq!(
            clock.call_at(secs(t), log.push("x")).unwrap_err(),
            ClockError::InThePast {
                now: secs(5),
                requested: secs(t)
            }
        );
    }
    assert_eq!(
        clock.call_in(Duration::ZERO, log.push("x")).unwrap_err(),
        ClockError::ZeroDelay
    );
    assert_eq!(clock.pending_calls(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn calls_and_sleepers_share_one_order() {
    let clock = ExternalClock::new();
    let log = Log::default();
    let sleep = clock.sleep_until(secs(2));
    let _call = clock.call_at(secs(1), log.push("call@1")).unwrap();
    let _call = clock.call_at(secs(2), log.push("call@2")).unwrap();
    assert_eq!((clock.sleepers(), clock.pending_calls()), (1, 2));
    clock.set_time(secs(1)).unwrap();
    assert_eq!(log.take(), ["call@1"]);
    assert_eq!(clock.sleepers(), 1, "the sleeper is not due at 1 s");
    clock.set_time(secs(2)).unwrap();
    sleep.await;
    assert_eq!(log.take(), ["call@2"]);
}

#[test]
fn a_call_can_schedule_another_and_a_panicking_one_does_not_stop_the_rest() {
    let clock = ExternalClock::new();
    let log = Log::default();
    let (inner_clock, inner_log) = (clock.clone(), log.clone());
    let _outer = clock
        .call_at(
            secs(1),
            Box::new(move || {
                inner_log.0.lock().unwrap().push("outer");
                let _ = inner_clock.call_in(secs(1), inner_log.push("inner"));
            }),
        )
        .unwrap();
    let _boom = clock.call_at(secs(1), Box::new(|| panic!("boom"))).unwrap();
    let _after = clock.call_at(secs(1), log.push("after the panic")).unwrap();
    let set = std::panic::catch_unwind(|| clock.set_time(secs(1)));
    assert!(set.is_err(), "set_time passes the panic on");
    assert_eq!(log.take(), ["outer", "after the panic"]);
    clock.set_time(secs(2)).unwrap();
    assert_eq!(log.take(), ["inner"]);
}

#[test]
fn external_utcnow_is_the_start_date_plus_the_time() {
    let start = date("2016-01-01T00:00:00Z");
    let clock = ExternalClock::from_date(start);
    assert_eq!(clock.utcnow(), start);
    clock.set_time(Duration::from_millis(90_061_500)).unwrap();
    assert_eq!(clock.utcnow(), date("2016-01-02T01:01:01.5Z"));

    // aiomas's ExternalClock(utc_start, init_time): the date is utc_start
    // plus the time, init_time included (tests/container/aiomas_dates.rs
    // compares with aiomas's own).
    let clock: Arc<dyn Clock> = Arc::new(ExternalClock::from_date_at(start, secs(100)));
    assert_eq!(clock.time(), secs(100));
    assert_eq!(clock.utcnow(), date("2016-01-01T00:01:40Z"));

    assert_eq!(
        ExternalClock::new().utcnow(),
        DateTime::<Utc>::UNIX_EPOCH,
        "without a start date, time zero is the Unix epoch"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_real_clock_runs_calls_in_order_and_cancels() {
    let clock: Arc<dyn Clock> = Arc::new(RealClock::new());
    let log = Log::default();
    let _late = clock.call_in(secs(3), log.push("late")).unwrap();
    let cancelled = clock.call_in(secs(2), log.push("cancelled")).unwrap();
    let at = clock.time() + secs(1);
    let _early = clock.call_at(at, log.push("early")).unwrap();
    assert!(cancelled.cancel());
    assert!(!cancelled.is_pending());
    // Paused time: sleeping past the deadlines runs the timers first.
    clock.sleep(secs(4)).await;
    tokio::task::yield_now().await;
    assert_eq!(log.take(), ["early", "late"]);

    let past = clock.time();
    assert!(matches!(
        clock.call_at(past, log.push("x")),
        Err(ClockError::InThePast { .. })
    ));
}

#[test]
fn the_real_clock_needs_a_runtime_to_schedule() {
    let clock = RealClock::new();
    let err = clock
        .call_in(secs(1), Box::new(|| {}))
        .expect_err("no runtime here");
    assert_eq!(err, ClockError::NoRuntime);
    assert!(err.to_string().contains("tokio runtime"), "{err}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn real_utcnow_moves_with_the_clock() {
    let clock = RealClock::new();
    let (t0, d0) = (clock.time(), clock.utcnow());
    let wall = Utc::now();
    assert!((wall - d0).num_seconds().abs() < 60, "{wall} vs {d0}");
    clock.sleep(secs(3600)).await;
    let elapsed = clock.time() - t0;
    assert!(elapsed >= secs(3600));
    assert_eq!(
        clock.utcnow() - d0,
        agentwire::clock::chrono::TimeDelta::from_std(elapsed).unwrap()
    );
}
