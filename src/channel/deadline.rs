//! Bounded waits on any tokio runtime: [`within`] and [`sleep`].
//!
//! Closing a channel, shutting a container down and retrying a connection
//! wait for a bounded time. tokio's timer does that, and is used wherever
//! the runtime has one (so `tokio::time::pause` applies to it); but on a
//! runtime built without `enable_time`, creating a tokio timer panics. There
//! the deadline is kept by a timer thread of this crate instead (started on
//! first use, one per process), so those waits stay bounded and nothing
//! panics. Which kind of runtime this is cannot be asked of tokio: the first
//! wait on a thread without timers finds out by catching tokio's panic,
//! whose message tokio's panic hook prints once; later waits on that thread
//! use the timer thread directly.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Runs `fut` for at most `limit`: its output, or `None` if the time ran
/// out first.
pub(crate) async fn within<F: Future>(limit: Duration, fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut deadline = Deadline::after(limit);
    poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        deadline.poll(cx).map(|()| None)
    })
    .await
}

/// Waits for `duration`.
pub(crate) async fn sleep(duration: Duration) {
    let mut deadline = Deadline::after(duration);
    poll_fn(|cx| deadline.poll(cx)).await;
}

thread_local! {
    /// A tokio timer could not be made on this thread (its runtime has no
    /// timers): use the timer thread. Only this negative answer is kept; a
    /// wrong one costs nothing but `tokio::time::pause` support.
    static NO_TOKIO_TIMER: Cell<bool> = const { Cell::new(false) };
}

enum Deadline {
    /// Too far to be represented: never.
    Never,
    Tokio(Pin<Box<tokio::time::Sleep>>),
    Thread(ThreadDeadline),
}

impl Deadline {
    fn after(limit: Duration) -> Self {
        let Some(at) = Instant::now().checked_add(limit) else {
            return Deadline::Never;
        };
        if tokio::runtime::Handle::try_current().is_ok() && !NO_TOKIO_TIMER.with(Cell::get) {
            match catch_unwind(AssertUnwindSafe(|| Box::pin(tokio::time::sleep(limit)))) {
                Ok(sleep) => return Deadline::Tokio(sleep),
                Err(_) => NO_TOKIO_TIMER.with(|no| no.set(true)),
            }
        }
        Deadline::Thread(ThreadDeadline { at, key: None })
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self {
            Deadline::Never => Poll::Pending,
            Deadline::Tokio(sleep) => sleep.as_mut().poll(cx),
            Deadline::Thread(deadline) => deadline.poll(cx),
        }
    }
}

/// A deadline kept by the timer thread.
struct ThreadDeadline {
    at: Instant,
    /// Its entry in the timer thread's queue, once registered.
    key: Option<Key>,
}

type Key = (Instant, u64);

impl ThreadDeadline {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            self.forget();
            return Poll::Ready(());
        }
        let Some(timer) = Timer::get() else {
            // No timer thread could be started: end the wait now rather
            // than never.
            return Poll::Ready(());
        };
        let mut queue = timer.lock();
        let key = *self.key.get_or_insert_with(|| {
            queue.next += 1;
            (self.at, queue.next)
        });
        let first = queue.entries.keys().next().map_or(true, |k| key < *k);
        match queue.entries.get_mut(&key) {
            Some(w) if w.will_wake(cx.waker()) => {}
            Some(w) => w.clone_from(cx.waker()),
            None => {
                queue.entries.insert(key, cx.waker().clone());
            }
        }
        drop(queue);
        if first {
            timer.changed.notify_one();
        }
        Poll::Pending
    }

    fn forget(&mut self) {
        if let (Some(key), Some(Some(timer))) = (self.key.take(), TIMER.get()) {
            timer.lock().entries.remove(&key);
        }
    }
}

impl Drop for ThreadDeadline {
    fn drop(&mut self) {
        self.forget();
    }
}

/// The process's timer thread: wakes each registered waker at its
/// deadline.
struct Timer {
    queue: Mutex<Queue>,
    changed: Condvar,
}

#[derive(Default)]
struct Queue {
    entries: BTreeMap<Key, Waker>,
    next: u64,
}

static TIMER: OnceLock<Option<Arc<Timer>>> = OnceLock::new();

impl Timer {
    /// The timer, its thread started on first use (`None` if no thread
    /// could be started).
    fn get() -> Option<&'static Arc<Timer>> {
        TIMER
            .get_or_init(|| {
                let timer = Arc::new(Timer {
                    queue: Mutex::new(Queue::default()),
                    changed: Condvar::new(),
                });
                let run = Arc::clone(&timer);
                std::thread::Builder::new()
                    .name("agentwire-deadlines".to_owned())
                    .spawn(move || run.run())
                    .ok()
                    .map(|_| timer)
            })
            .as_ref()
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Nothing panics while holding the lock; recover anyway.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self) {
        let mut queue = self.lock();
        loop {
            let now = Instant::now();
            let later = queue.entries.split_off(&(now, u64::MAX));
            let due = std::mem::replace(&mut queue.entries, later);
            if !due.is_empty() {
                drop(queue);
                due.into_values().for_each(Waker::wake);
                queue = self.lock();
                continue;
            }
            queue = match queue.entries.keys().next() {
                Some((at, _)) => {
                    let wait = at.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(queue, wait)
                        .map(|(q, _)| q)
                        .unwrap_or_else(|p| p.into_inner().0)
                }
                None => self.changed.wait(queue).unwrap_or_else(|p| p.into_inner()),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a runtime without timers, waits are still bounded, and nothing
    /// panics out of them.
    #[test]
    fn waits_are_bounded_without_tokio_timers() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let started = Instant::now();
            let never = within(Duration::from_millis(50), std::future::pending::<()>()).await;
            assert!(never.is_none());
            assert!(started.elapsed() >= Duration::from_millis(50));
            assert_eq!(within(Duration::from_secs(60), async { 7 }).await, Some(7));
            sleep(Duration::from_millis(10)).await;
            // Many at once, finishing in deadline order.
            let order = Arc::new(Mutex::new(Vec::new()));
            let waits = (0..20u64).rev().map(|i| {
                let order = Arc::clone(&order);
                async move {
                    sleep(Duration::from_millis(5 * i)).await;
                    order.lock().expect("not poisoned").push(i);
                }
            });
            futures_util::future::join_all(waits).await;
            let order = order.lock().expect("not poisoned").clone();
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(order, sorted);
        });
        // And with no runtime at all.
        block_on(sleep(Duration::from_millis(5)));
    }

    /// Polls `fut` on this thread until it is ready.
    fn block_on<F: Future>(fut: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut fut = pin!(fut);
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
            std::thread::park();
        }
    }

    /// With timers, tokio's are used: paused time applies.
    #[tokio::test(start_paused = true)]
    async fn tokio_timers_when_there_are_some() {
        let started = tokio::time::Instant::now();
        assert!(
            within(Duration::from_secs(3600), std::future::pending::<()>())
                .await
                .is_none()
        );
        assert!(started.elapsed() >= Duration::from_secs(3600));
        assert!(within(Duration::MAX, async {}).await.is_some());
    }
}
