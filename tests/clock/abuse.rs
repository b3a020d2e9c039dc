//! A fifth attack pass on the clocks: an external clock set from many
//! threads at once (and backwards), dropped while tasks sleep on it, and
//! started at extreme times.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentwire::clock::{Clock, ClockError, DateTime, ExternalClock, Utc};

async fn ends<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} hangs"))
}

/// Tasks sleeping on an external clock that everyone else has dropped (so
/// that nobody can ever set it again) end their sleeps instead of waiting
/// for ever; a clock that is still held keeps them asleep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleepers_of_a_dropped_clock_wake() {
    let clock = ExternalClock::new();
    let kept = clock.clone();
    let sleeps: Vec<_> = (1..=100u64)
        .map(|s| tokio::spawn(clock.sleep(Duration::from_secs(s))))
        .collect();
    let forever = tokio::spawn(clock.sleep(Duration::MAX));
    while clock.sleepers() < 101 {
        tokio::task::yield_now().await;
    }
    drop(clock);
    // A clone still holds the clock: nobody wakes.
    tokio::task::yield_now().await;
    assert_eq!(kept.sleepers(), 101);
    assert!(!forever.is_finished());
    drop(kept);
    for sleep in sleeps {
        ends("a sleep on a dropped clock", sleep)
            .await
            .expect("task");
    }
    ends("a sleep until Duration::MAX on a dropped clock", forever)
        .await
        .expect("task");
}

/// The same with the clock inside a container's options: sleepers on a
/// container's clock wake when its last holder is gone.
#[tokio::test]
async fn a_dropped_clock_as_dyn_clock() {
    let clock: Arc<dyn Clock> = Arc::new(ExternalClock::new());
    let sleep = clock.sleep(Duration::from_secs(1));
    drop(clock);
    ends("a sleep on a dropped dyn clock", sleep).await;
}

/// Eight threads set an external clock at once, each to its own rising
/// times (so many of their calls go backwards and are refused), while a
/// thousand tasks sleep on it and calls are scheduled: nobody wakes
/// before its deadline, every sleeper wakes once the clock reaches the
/// end, every call runs once, and the clock ends at the latest time set.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn set_from_many_threads() {
    let clock = ExternalClock::new();
    let sleepers: Vec<_> = (0..1000u64)
        .map(|i| {
            let deadline = Duration::from_millis(i * 37 % 5000 + 1);
            let sleep = clock.sleep_until(deadline);
            let clock = clock.clone();
            tokio::spawn(async move {
                sleep.await;
                assert!(clock.time() >= deadline, "woke early");
            })
        })
        .collect();
    let ran = Arc::new(Mutex::new(Vec::new()));
    for i in 0..200u64 {
        let ran = Arc::clone(&ran);
        let at = Duration::from_millis(i * 13 % 5000 + 1);
        let c = clock.clone();
        clock
            .call_at(
                at,
                Box::new(move || {
                    assert!(c.time() >= at, "ran early");
                    ran.lock().expect("unpoisoned").push(i);
                }),
            )
            .expect("scheduled");
    }
    let setters: Vec<_> = (0..8u64)
        .map(|t| {
            let clock = clock.clone();
            std::thread::spawn(move || {
                let mut refused = 0;
                for step in 0..500u64 {
                    let to = Duration::from_millis(step * 10 + t);
                    match clock.set_time(to) {
                        Ok(()) => {}
                        Err(ClockError::Backwards { now, requested }) => {
                            assert!(requested < now && requested == to);
                            refused += 1;
                        }
                        Err(other) => panic!("{other:?}"),
                    }
                }
                refused
            })
        })
        .collect();
    for s in setters {
        s.join().expect("no setter panics");
    }
    assert_eq!(clock.time(), Duration::from_millis(4997));
    clock.set_time(Duration::from_secs(6)).expect("to the end");
    for s in sleepers {
        ends("a sleeper", s)
            .await
            .expect("woke at or after its deadline");
    }
    let mut ran = ran.lock().expect("unpoisoned").clone();
    ran.sort_unstable();
    assert_eq!(ran, (0..200).collect::<Vec<_>>(), "every call once");
    assert_eq!(clock.sleepers() + clock.pending_calls(), 0);
}

/// An external clock started at the end of `Duration`: its date is
/// chrono's last date (the start date plus a time past chrono's range);
/// set again to the same time, fine; a call or a sleep a second later
/// cannot be scheduled past the end and comes due at once there.
#[test]
fn started_at_the_end_of_time() {
    let start: DateTime<Utc> = "2016-01-01T00:00:00Z".parse().expect("date");
    for init in [
        Duration::MAX,
        Duration::from_secs(u64::MAX / 2),
        Duration::from_secs(i64::MAX as u64),
        Duration::from_secs(10_000_000_000_000),
    ] {
        let clock = ExternalClock::from_date_at(start, init);
        assert_eq!(clock.time(), init);
        assert_eq!(
            clock.utcnow(),
            DateTime::<Utc>::MAX_UTC,
            "the date at {init:?} is past chrono's range"
        );
        clock.set_time(init).expect("the same time again");
        let earlier = clock.set_time(init - Duration::from_secs(1));
        assert!(matches!(earlier, Err(ClockError::Backwards { .. })));
    }
    let clock = ExternalClock::starting_at(Duration::MAX);
    assert_eq!(clock.time(), Duration::MAX);
    assert!(matches!(
        clock.call_at(Duration::MAX, Box::new(|| {})),
        Err(ClockError::InThePast { .. })
    ));
    let _ = clock.utcnow();
}

/// A call that sets the clock further on (from inside `set_time`): what
/// comes due then still runs in deadline order, after the calls due at the
/// outer `set_time`'s time that were scheduled after it.
#[test]
fn a_call_that_moves_the_clock_on_keeps_the_order() {
    let clock = ExternalClock::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let push = |name: &'static str| {
        let log = Arc::clone(&log);
        Box::new(move || log.lock().expect("unpoisoned").push(name))
    };
    let (c, l) = (clock.clone(), Arc::clone(&log));
    let s = |secs| Duration::from_secs(secs);
    let _first = clock
        .call_at(
            s(5),
            Box::new(move || {
                l.lock().expect("unpoisoned").push("5: moves to 100");
                c.set_time(s(100)).expect("forward");
                l.lock().expect("unpoisoned").push("5: moved");
            }),
        )
        .expect("scheduled");
    let _second = clock.call_at(s(5), push("5: second")).expect("scheduled");
    let _later = clock.call_at(s(50), push("50")).expect("scheduled");
    let _last = clock.call_at(s(100), push("100")).expect("scheduled");
    let _never = clock.call_at(s(101), push("101")).expect("scheduled");
    clock.set_time(s(5)).expect("forward");
    assert_eq!(
        *log.lock().expect("unpoisoned"),
        ["5: moves to 100", "5: second", "50", "100", "5: moved"]
    );
    assert_eq!(clock.time(), s(100));
    assert_eq!(clock.pending_calls(), 1);
}

/// A call that cancels another one due at the same time: the other does
/// not run, and `cancel` says so.
#[test]
fn a_call_cancelled_by_an_earlier_one_due_with_it_does_not_run() {
    let clock = ExternalClock::new();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let victim: Arc<Mutex<Option<agentwire::clock::TimerHandle>>> = Arc::default();
    let (v, r) = (Arc::clone(&victim), Arc::clone(&ran));
    let _killer = clock
        .call_at(
            Duration::from_secs(1),
            Box::new(move || {
                let handle = v.lock().expect("unpoisoned").take();
                let cancelled = handle.is_some_and(|h| h.cancel());
                r.lock().expect("unpoisoned").push(cancelled);
            }),
        )
        .expect("scheduled");
    let r = Arc::clone(&ran);
    let handle = clock
        .call_at(
            Duration::from_secs(1),
            Box::new(move || r.lock().expect("unpoisoned").push(false)),
        )
        .expect("scheduled");
    *victim.lock().expect("unpoisoned") = Some(handle);
    clock.set_time(Duration::from_secs(1)).expect("forward");
    assert_eq!(*ran.lock().expect("unpoisoned"), [true]);
}

/// Real-clock sleeps and calls at huge but representable deadlines (an
/// `Instant` can hold them, tokio's timer cannot): never reached, never a
/// panic or an overflow.
#[tokio::test]
async fn real_clock_at_huge_deadlines() {
    use agentwire::clock::RealClock;
    let clock = RealClock::new();
    for secs in [
        u64::MAX / 2,
        i64::MAX as u64 / 2,
        1 << 40,
        1 << 34,
        60 * 60 * 24 * 365 * 200,
    ] {
        let far = Duration::from_secs(secs);
        let sleep = clock.sleep(far);
        let woke = tokio::time::timeout(Duration::from_millis(1), sleep).await;
        assert!(woke.is_err(), "{secs} s passed at once");
        let sleep = clock.sleep_until(far);
        assert!(tokio::time::timeout(Duration::from_millis(1), sleep)
            .await
            .is_err());
        let timer = clock
            .call_in(far, Box::new(|| panic!("never")))
            .expect("scheduled");
        tokio::task::yield_now().await;
        assert!(timer.cancel(), "{secs} s");
    }
}
