//! Clocks: the external clock's ordering and errors, the real clock, and
//! aiomas's scheduled calls and dates on both (`calls`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod abuse;
mod calls;
mod edges;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentwire::clock::{Clock, ClockError, ExternalClock, RealClock};

pub(crate) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Spawns one sleeper per deadline (in order) that records its index when it
/// wakes; returns their handles and the record.
fn sleepers(
    clock: &Arc<dyn Clock>,
    deadlines: &[u64],
) -> (Vec<tokio::task::JoinHandle<()>>, Arc<Mutex<Vec<usize>>>) {
    let woken = Arc::new(Mutex::new(Vec::new()));
    let handles = deadlines
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let sleep = clock.sleep_until(secs(d));
            let woken = woken.clone();
            tokio::spawn(async move {
                sleep.await;
                woken.lock().unwrap().push(i);
            })
        })
        .collect();
    (handles, woken)
}

#[tokio::test(flavor = "current_thread")]
async fn sleepers_wake_in_time_order_ties_in_sleep_order() {
    let external = ExternalClock::new();
    let clock: Arc<dyn Clock> = Arc::new(external.clone());
    let (handles, woken) = sleepers(&clock, &[5, 3, 5, 1, 3]);
    // Let every sleeper park on the clock, as agents do before a
    // co-simulation steps time.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(external.sleepers(), 5);
    assert_eq!(external.next_deadline(), Some(secs(1)));
    external.set_time(secs(10)).unwrap();
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(*woken.lock().unwrap(), vec![3, 1, 4, 0, 2]);
    assert_eq!(clock.time(), secs(10));
}

#[tokio::test(flavor = "current_thread")]
async fn time_moves_only_when_set_and_wakes_only_the_due() {
    let external = ExternalClock::starting_at(secs(1));
    let clock: Arc<dyn Clock> = Arc::new(external.clone());
    let (handles, woken) = sleepers(&clock, &[2, 4, 3]);
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(woken.lock().unwrap().is_empty(), "nothing is due at 1 s");

    external.set_time(secs(3)).unwrap();
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(*woken.lock().unwrap(), vec![0, 2]);
    assert_eq!(external.sleepers(), 1);
    assert_eq!(external.next_deadline(), Some(secs(4)));

    // Setting the same time again is allowed and wakes nobody new.
    external.set_time(secs(3)).unwrap();
    external.set_time(secs(4)).unwrap();
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(*woken.lock().unwrap(), vec![0, 2, 1]);
}

#[tokio::test(flavor = "current_thread")]
async fn going_back_in_time_is_an_error_and_changes_nothing() {
    let clock = ExternalClock::starting_at(secs(5));
    let err = clock.set_time(secs(4)).unwrap_err();
    assert_eq!(
        err,
        ClockError::Backwards {
            now: secs(5),
            requested: secs(4)
        }
    );
    assert!(err.to_string().contains("back in time"), "{err}");
    assert_eq!(clock.time(), secs(5));
}

#[tokio::test(flavor = "current_thread")]
async fn a_deadline_already_passed_returns_at_once() {
    let clock = ExternalClock::starting_at(secs(5));
    clock.sleep_until(secs(5)).await;
    clock.sleep_until(secs(2)).await;
    clock.sleep(Duration::ZERO).await;
    assert_eq!(clock.sleepers(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_sleeper_is_forgotten() {
    let clock = ExternalClock::new();
    let kept = clock.sleep(secs(2));
    let dropped = clock.sleep(secs(1));
    assert_eq!(clock.sleepers(), 2);
    drop(dropped);
    assert_eq!(clock.sleepers(), 1);
    assert_eq!(clock.next_deadline(), Some(secs(2)));
    clock.set_time(secs(2)).unwrap();
    kept.await;
    assert_eq!(clock.sleepers(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn clones_share_one_time() {
    let a = ExternalClock::new();
    let b = a.clone();
    let sleep = b.sleep(secs(3));
    a.set_time(secs(3)).unwrap();
    sleep.await;
    assert_eq!(b.time(), secs(3));
}

#[tokio::test(flavor = "current_thread")]
async fn the_real_clock_follows_tokio_time() {
    let clock: Arc<dyn Clock> = Arc::new(RealClock::new());
    let before = clock.time();
    clock.sleep(Duration::from_millis(5)).await;
    assert!(clock.time() >= before + Duration::from_millis(5));
}
