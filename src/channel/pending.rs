//! [`PendingReplies`]: our requests that wait for their replies, by id.
//!
//! Each entry holds the caller's waker until the reply arrives, then the
//! reply until the caller takes it: a slot in a map that the channel's
//! lock already guards, instead of a `oneshot` per request (no allocation
//! per call, and no second synchronisation).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

use super::ids::IdHasher;

/// A reply as it arrives: its content still encoded.
#[derive(Debug)]
pub(crate) enum Reply {
    Result(Bytes),
    Exception(Bytes),
}

#[derive(Debug)]
enum Entry {
    Waiting(Option<Waker>),
    Answered(Reply),
}

/// What became of a reply that arrived.
#[derive(Debug)]
pub(crate) enum Answered {
    /// It is kept for its caller; wake this.
    Kept(Option<Waker>),
    /// Its request already has a reply that the caller has not taken: the
    /// second one is dropped.
    Duplicate,
    /// No request of this id waits (its caller gave up, or it never was).
    Unknown,
}

/// The requests we sent and whose callers still wait, by id. A hash map
/// keeps its memory between requests (a B-tree allocated a node for every
/// request on an idle channel).
#[derive(Debug, Default)]
pub(crate) struct PendingReplies {
    map: HashMap<u64, Entry, BuildHasherDefault<IdHasher>>,
}

impl PendingReplies {
    /// Registers request `id`, whose reply will wake `waker` (if any).
    #[inline]
    pub(crate) fn insert(&mut self, id: u64, waker: Option<&Waker>) {
        self.map.insert(id, Entry::Waiting(waker.cloned()));
    }

    /// Takes the reply to `id` if it arrived, or registers `cx`'s waker.
    /// `None` if `id` has no entry (only connection loss removes one whose
    /// caller waits).
    #[inline]
    pub(crate) fn poll(&mut self, id: u64, cx: &Context<'_>) -> Option<Poll<Reply>> {
        use std::collections::hash_map::Entry as MapEntry;
        let MapEntry::Occupied(mut entry) = self.map.entry(id) else {
            return None;
        };
        Some(match entry.get_mut() {
            Entry::Waiting(Some(w)) if w.will_wake(cx.waker()) => Poll::Pending,
            Entry::Waiting(slot) => {
                *slot = Some(cx.waker().clone());
                Poll::Pending
            }
            Entry::Answered(_) => match entry.remove() {
                Entry::Answered(reply) => Poll::Ready(reply),
                Entry::Waiting(_) => Poll::Pending,
            },
        })
    }

    /// Keeps `reply` for the caller of request `id`.
    #[inline]
    pub(crate) fn answer(&mut self, id: u64, reply: Reply) -> Answered {
        let Some(entry) = self.map.get_mut(&id) else {
            return Answered::Unknown;
        };
        match entry {
            Entry::Waiting(waker) => {
                let waker = waker.take();
                *entry = Entry::Answered(reply);
                Answered::Kept(waker)
            }
            Entry::Answered(_) => Answered::Duplicate,
        }
    }

    /// Forgets request `id` (its caller gave up).
    #[inline]
    pub(crate) fn remove(&mut self, id: u64) {
        self.map.remove(&id);
    }

    /// How many requests have an entry (waiting, or answered and not yet
    /// taken).
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The connection is lost: removes the entries whose callers still
    /// wait and returns their wakers in id order (so that, on one thread,
    /// they run in a deterministic order). Replies that arrived stay for
    /// their callers.
    pub(crate) fn fail_waiting(&mut self) -> Vec<Waker> {
        let mut waiting: Vec<(u64, Option<Waker>)> = Vec::new();
        self.map.retain(|id, entry| match entry {
            Entry::Waiting(waker) => {
                waiting.push((*id, waker.take()));
                false
            }
            Entry::Answered(_) => true,
        });
        waiting.sort_unstable_by_key(|(id, _)| *id);
        waiting.into_iter().filter_map(|(_, w)| w).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::task::Wake;

    use super::*;

    /// Records the order in which wakers of different ids are woken.
    struct Recorder {
        id: u64,
        woken: Arc<Mutex<Vec<u64>>>,
    }

    impl Wake for Recorder {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.woken.lock().expect("not poisoned").push(self.id);
        }
    }

    fn waker(id: u64, woken: &Arc<Mutex<Vec<u64>>>) -> Waker {
        Waker::from(Arc::new(Recorder {
            id,
            woken: Arc::clone(woken),
        }))
    }

    fn content(reply: Reply) -> Bytes {
        match reply {
            Reply::Result(b) | Reply::Exception(b) => b,
        }
    }

    #[test]
    fn a_reply_waits_for_its_caller_and_wakes_it() {
        let woken = Arc::new(Mutex::new(Vec::new()));
        let w = waker(7, &woken);
        let cx = Context::from_waker(&w);
        let mut pending = PendingReplies::default();
        pending.insert(7, None);
        assert!(matches!(pending.poll(7, &cx), Some(Poll::Pending)));
        let Answered::Kept(Some(to_wake)) = pending.answer(7, Reply::Result(Bytes::from("a")))
        else {
            panic!("the poll's waker is kept");
        };
        to_wake.wake();
        assert_eq!(*woken.lock().expect("not poisoned"), vec![7]);
        // A second reply before the caller took the first is dropped.
        assert!(matches!(
            pending.answer(7, Reply::Result(Bytes::from("b"))),
            Answered::Duplicate
        ));
        let Some(Poll::Ready(reply)) = pending.poll(7, &cx) else {
            panic!("the reply is ready");
        };
        assert_eq!(content(reply), Bytes::from("a"));
        assert_eq!(pending.len(), 0);
        assert!(pending.poll(7, &cx).is_none());
        assert!(matches!(
            pending.answer(7, Reply::Result(Bytes::new())),
            Answered::Unknown
        ));
    }

    #[test]
    fn loss_wakes_waiting_callers_in_id_order_and_keeps_answers() {
        let woken = Arc::new(Mutex::new(Vec::new()));
        let mut pending = PendingReplies::default();
        for id in [5, 1, 9, 3] {
            pending.insert(id, Some(&waker(id, &woken)));
        }
        pending.insert(4, None);
        assert!(matches!(
            pending.answer(9, Reply::Exception(Bytes::from("x"))),
            Answered::Kept(Some(_))
        ));
        for w in pending.fail_waiting() {
            w.wake();
        }
        assert_eq!(*woken.lock().expect("not poisoned"), vec![1, 3, 5]);
        assert_eq!(pending.len(), 1, "the answered request stays");
        let w = waker(9, &woken);
        let cx = Context::from_waker(&w);
        assert!(matches!(pending.poll(9, &cx), Some(Poll::Ready(_))));
        assert!(pending.poll(1, &cx).is_none());
    }
}
