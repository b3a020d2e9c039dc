//! [`Slots`]: a counting semaphore whose uncontended path is one atomic
//! operation each way.
//!
//! tokio's `Semaphore` (and so its `Mutex`) takes a lock to release a
//! permit, on every release; a channel takes and gives back two permits per
//! request (its write gate and its window of pending requests), so that
//! lock showed up in every round trip. Here a release only touches the
//! waiters when some task waits.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Up to `max` holders at once; more wait, woken as slots free up (not
/// strictly in arrival order).
#[derive(Debug)]
pub(crate) struct Slots {
    max: usize,
    used: AtomicUsize,
    /// Tasks that may be waiting in `acquire`: a release wakes one only when
    /// this is above zero.
    waiting: AtomicUsize,
    notify: Notify,
    closed: AtomicBool,
}

/// A slot, given back on drop.
#[derive(Debug)]
pub(crate) struct Slot<'a>(&'a Slots);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Counts a task in `waiting` until dropped (also when its `acquire` is
/// cancelled).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Slots {
    pub(crate) fn new(max: usize) -> Self {
        Slots {
            max: max.max(1),
            used: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            notify: Notify::new(),
            closed: AtomicBool::new(false),
        }
    }

    /// How many holders there may be at once.
    pub(crate) fn capacity(&self) -> usize {
        self.max
    }

    /// Nobody holds a slot or waits for one (a snapshot).
    pub(crate) fn is_idle(&self) -> bool {
        self.used.load(Ordering::SeqCst) == 0 && self.waiting.load(Ordering::SeqCst) == 0
    }

    fn try_acquire(&self) -> Option<Slot<'_>> {
        let mut used = self.used.load(Ordering::SeqCst);
        while used < self.max {
            match self.used.compare_exchange_weak(
                used,
                used + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return Some(Slot(self)),
                Err(now) => used = now,
            }
        }
        None
    }

    fn release(&self) {
        self.used.fetch_sub(1, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.notify.notify_one();
        }
    }

    /// A free slot now, if there is one and the slots are open.
    pub(crate) fn try_acquire_open(&self) -> Option<Slot<'_>> {
        if self.closed.load(Ordering::SeqCst) {
            return None;
        }
        self.try_acquire()
    }

    /// A slot now, even past `max` (the holders of such slots count against
    /// `max` like any other, so they delay other `acquire`s); `None` once
    /// [`close`](Self::close)d.
    pub(crate) fn acquire_past_max(&self) -> Option<Slot<'_>> {
        if self.closed.load(Ordering::SeqCst) {
            return None;
        }
        self.used.fetch_add(1, Ordering::SeqCst);
        Some(Slot(self))
    }

    /// Waits for a free slot; `None` once [`close`](Self::close)d.
    ///
    /// Cancel safe: a task dropped after it was woken passes the wake-up
    /// on (tokio's `Notified` does).
    pub(crate) async fn acquire(&self) -> Option<Slot<'_>> {
        loop {
            if self.closed.load(Ordering::SeqCst) {
                return None;
            }
            if let Some(slot) = self.try_acquire() {
                return Some(slot);
            }
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.waiting.fetch_add(1, Ordering::SeqCst);
            let _waiting = Waiting(&self.waiting);
            // A release between our failed try and `waiting` going up did
            // not wake us: look again before sleeping.
            if self.used.load(Ordering::SeqCst) < self.max || self.closed.load(Ordering::SeqCst) {
                continue;
            }
            notified.await;
        }
    }

    /// Fails every waiting and later `acquire`.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn holders_are_bounded_and_waiters_wake() {
        let slots = std::sync::Arc::new(Slots::new(2));
        let a = slots.acquire().await.expect("open");
        let b = slots.acquire().await.expect("open");
        let waiter = tokio::spawn({
            let slots = std::sync::Arc::clone(&slots);
            async move { slots.acquire().await.is_some() }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(a);
        assert!(waiter.await.expect("no panic"));
        drop(b);
        slots.close();
        assert!(slots.acquire().await.is_none());
    }

    #[tokio::test]
    async fn past_max_slots_never_wait_and_count() {
        let slots = Slots::new(1);
        let held = slots.acquire().await.expect("open");
        let past = slots.acquire_past_max().expect("open");
        assert!(slots.try_acquire_open().is_none());
        drop(held);
        assert!(slots.try_acquire_open().is_none(), "the extra slot counts");
        drop(past);
        assert!(slots.try_acquire_open().is_some());
        slots.close();
        assert!(slots.acquire_past_max().is_none());
    }

    #[tokio::test]
    async fn close_wakes_waiters() {
        let slots = std::sync::Arc::new(Slots::new(1));
        let _held = slots.acquire().await.expect("open");
        let waiter = tokio::spawn({
            let slots = std::sync::Arc::clone(&slots);
            async move { slots.acquire().await.is_none() }
        });
        tokio::task::yield_now().await;
        slots.close();
        assert!(waiter.await.expect("no panic"));
    }
}
