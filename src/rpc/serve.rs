//! The serving of one RPC connection: the peer's requests are routed and
//! their handlers started where they arrive, on the connection's driver
//! (most finish there, at once); a handler that has to wait is handed to
//! the connection's serving loop, which polls it in its own task (so it
//! ends with the connection). At most a bounded number wait at once; at the
//! limit requests queue in the channel, whose reading then pauses.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::handler::{dispatch, BoxFuture};
use super::wire::Wire;
use super::Service;
use crate::channel::{Channel, Codec, Dispatch, Message, Request, WeakChannel};

thread_local! {
    /// The slots of the connection whose handler is being polled on this
    /// thread, if any (set by [`Handling::poll`]).
    static SERVING: Cell<Option<Arc<Slots>>> = const { Cell::new(None) };
}

/// How many of one connection's running handlers wait for the reply to an
/// RPC call of their own (on any connection).
struct Slots {
    waiting: AtomicUsize,
    /// The connection's wire, for the values its handlers decode and
    /// encode.
    wire: Arc<Wire>,
    /// The channel's flag: both ends are one container's.
    loopback: Arc<AtomicBool>,
}

/// Runs `f` on the slots of the connection whose handler is running on
/// this thread, if any.
fn with_serving<T>(f: impl FnOnce(&Slots) -> T) -> Option<T> {
    SERVING.with(|current| {
        let slots = current.take();
        let out = slots.as_deref().map(f);
        current.set(slots);
        out
    })
}

/// Whether the handler running on this thread (if any) serves a connection
/// whose ends are both its container's.
pub(crate) fn serving_loopback() -> bool {
    with_serving(|s| s.loopback.load(Ordering::Relaxed)).unwrap_or(false)
}

/// Marks the connection whose handler is running on this thread as one
/// whose ends are both its container's (the container checked that);
/// false outside a handler.
pub(crate) fn mark_serving_loopback() -> bool {
    with_serving(|s| s.loopback.store(true, Ordering::Relaxed)).is_some()
}

/// The wire of the connection whose handler is running on this thread.
pub(crate) fn serving_wire() -> Option<Arc<Wire>> {
    with_serving(|s| Arc::clone(&s.wire))
}

/// Marks the current handler (if the current future is one) as waiting for
/// a reply until dropped: its slot is free for another request meanwhile.
///
/// Without this, two containers at their limits whose handlers call each
/// other back would deadlock: every slot on both sides would wait for a
/// reply that needs a slot on the other side.
pub(crate) struct AwaitingReply(Option<Arc<Slots>>);

impl AwaitingReply {
    pub(crate) fn enter() -> Self {
        AwaitingReply(SERVING.with(|current| {
            let slots = current.take();
            let mine = slots.as_ref().map(|s| {
                s.waiting.fetch_add(1, Ordering::Relaxed);
                Arc::clone(s)
            });
            current.set(slots);
            mine
        }))
    }
}

impl Drop for AwaitingReply {
    fn drop(&mut self) {
        if let Some(slots) = &self.0 {
            slots.waiting.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// One running handler: its future, polled with its connection's slots in
/// [`SERVING`] (a task-local without tokio's per-poll bookkeeping).
struct Handling {
    answer: BoxFuture<'static, ()>,
    slots: Option<Arc<Slots>>,
}

/// Puts back what [`SERVING`] held before a handler's poll, also if the
/// poll unwinds.
struct Restore<'a> {
    handling: &'a mut Handling,
    previous: Option<Arc<Slots>>,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        self.handling.slots = SERVING.with(|current| current.replace(self.previous.take()));
    }
}

impl Handling {
    /// Routes `request` and decodes its arguments, with `slots` in
    /// [`SERVING`] (the values may need the connection's wire).
    fn start<C: Codec>(service: &dyn Service<C>, request: Request<C>, slots: &Arc<Slots>) -> Self {
        // `dispatch` catches the panics of routing and decoding, so this
        // always puts back what SERVING held.
        let previous = SERVING.with(|current| current.replace(Some(Arc::clone(slots))));
        let answer = dispatch(service, request);
        let slots = SERVING.with(|current| current.replace(previous));
        Handling { answer, slots }
    }
}

impl Future for Handling {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let handling = &mut *self;
        let previous = SERVING.with(|current| current.replace(handling.slots.take()));
        let restore = Restore { handling, previous };
        let answer = &mut restore.handling.answer;
        match catch_unwind(AssertUnwindSafe(|| answer.as_mut().poll(cx))) {
            Ok(poll) => poll,
            // Handlers catch their own panics (and their arguments' and
            // results'); anything else that panics here must not take the
            // connection's driver or serving task with it. Dropping the
            // future drops its request, whose peer gets an error reply.
            Err(_) => {
                *answer = Box::pin(std::future::ready(()));
                Poll::Ready(())
            }
        }
    }
}

/// How many times one poll of the loop goes round before it yields to the
/// runtime, so one busy connection cannot starve the others on its thread.
const ROUNDS_PER_POLL: usize = 32;

/// One connection's serving state, shared by its serving loop and (as the
/// channel's [`Dispatch`]) its driver.
struct Serving<C: Codec> {
    service: Arc<dyn Service<C>>,
    /// Weak: the dispatcher lives in the channel's state.
    channel: WeakChannel<C>,
    slots: Arc<Slots>,
    /// Handlers that may wait at once, not counting those waiting for
    /// replies of their own; and at most this many in all.
    limit: usize,
    cap: usize,
    /// Handlers started and not finished (in the loop or handed to it).
    live: AtomicUsize,
    handoff: Mutex<Handoff>,
}

/// Waiting handlers on their way from the driver to the serving loop.
#[derive(Default)]
struct Handoff {
    handlers: Vec<Handling>,
    /// The serving loop, to wake for them.
    waker: Option<Waker>,
    /// The loop ended: nothing more is taken.
    closed: bool,
}

impl<C: Codec> Serving<C> {
    fn handoff(&self) -> MutexGuard<'_, Handoff> {
        // Nothing panics while holding the lock; recover anyway.
        self.handoff.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a place for one more handler, if the limits leave one. (The
    /// driver and the serving loop may start handlers at the same time on
    /// a multi-thread runtime: the check and the count are one step.)
    fn reserve(&self) -> bool {
        let mut live = self.live.load(Ordering::Acquire);
        loop {
            let waiting = self.slots.waiting.load(Ordering::Relaxed);
            // On a container's connection to itself every request comes
            // from the container's own code (a handler's calls nest there
            // as deep as its agents call each other): only the handlers
            // that do not wait are bounded.
            let capped = live >= self.cap && !self.slots.loopback.load(Ordering::Relaxed);
            if live.saturating_sub(waiting) >= self.limit || capped {
                return false;
            }
            match self.live.compare_exchange_weak(
                live,
                live + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => live = now,
            }
        }
    }

    /// Gives back a place taken by [`reserve`](Self::reserve).
    fn release(&self) -> usize {
        self.live.fetch_sub(1, Ordering::AcqRel).saturating_sub(1)
    }

    /// Routes `msg` and starts its handler in a reserved place, polling it
    /// once with `cx`; returns it if it has to wait (it keeps the place),
    /// else gives the place back.
    fn start(&self, channel: Channel<C>, msg: Message, cx: &mut Context<'_>) -> Option<Handling> {
        let request = Request::new(channel, msg.id, msg.content);
        let mut handling = Handling::start(&*self.service, request, &self.slots);
        if Pin::new(&mut handling).poll(cx).is_ready() {
            self.release();
            return None;
        }
        // Only a handler that waits is counted: the channel is looked up
        // here, off the path of the calls that finish at once.
        if let Some(channel) = self.channel.upgrade() {
            channel
                .shared()
                .set_running(self.live.load(Ordering::Relaxed));
        }
        Some(handling)
    }

    /// Moves the handlers the driver handed over into `running`, and
    /// registers the loop's waker for more. Returns whether there were any.
    fn take_handed(&self, cx: &Context<'_>, running: &mut FuturesUnordered<Handling>) -> bool {
        let mut handoff = self.handoff();
        match &mut handoff.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        if handoff.handlers.is_empty() {
            return false;
        }
        running.extend(handoff.handlers.drain(..));
        true
    }

    /// The loop ends: handlers not yet taken are dropped (outside the lock),
    /// and nothing more is handed over.
    fn close(&self) {
        let mut handoff = self.handoff();
        handoff.closed = true;
        let handlers = std::mem::take(&mut handoff.handlers);
        let waker = handoff.waker.take();
        drop(handoff);
        drop(handlers);
        drop(waker);
    }
}

impl<C: Codec> Dispatch for Serving<C> {
    fn dispatch(&self, msg: Message) -> Option<Message> {
        if !self.reserve() {
            return Some(msg);
        }
        let Some(channel) = self.channel.upgrade() else {
            self.release();
            return Some(msg);
        };
        // A handler that waits is polled again by the loop, with its waker.
        let handling = self.start(
            channel,
            msg,
            &mut Context::from_waker(futures_util::task::noop_waker_ref()),
        )?;
        let mut handoff = self.handoff();
        if handoff.closed {
            drop(handoff);
            drop(handling);
            self.release();
            // The loop's end set the count to 0, perhaps (on another
            // thread) before `start` counted this handler: 0 again.
            if let Some(channel) = self.channel.upgrade() {
                channel.shared().set_running(0);
            }
            return None;
        }
        handoff.handlers.push(handling);
        let waker = handoff.waker.take();
        drop(handoff);
        if let Some(w) = waker {
            w.wake();
        }
        None
    }
}

/// Removes the dispatcher when the serving loop ends (also when its task is
/// aborted), so that no handler starts after it.
struct Installed<'a, C: Codec> {
    channel: &'a Channel<C>,
    serving: &'a Serving<C>,
}

impl<C: Codec> Drop for Installed<'_, C> {
    fn drop(&mut self) {
        let shared = self.channel.shared();
        shared.set_dispatcher(None);
        self.serving.close();
        shared.set_running(0);
        shared.end_recv();
    }
}

/// Takes the peer's calls and answers them until the connection is lost or
/// closing; handlers still waiting then are dropped with the loop.
///
/// At most `max_concurrent_requests` handlers wait at once, not counting
/// those waiting for replies to calls of their own (each of which holds a
/// slot of a connection's window of pending requests); in all at most that
/// limit plus `max_pending_requests`, except on a container's connection
/// to itself (see `container::loopback`). At the limit requests stay in the
/// channel's queue, which fills and pauses reading: backpressure reaches
/// the peer.
pub(crate) async fn serve<C: Codec>(
    channel: Channel<C>,
    service: Arc<dyn Service<C>>,
    wire: Arc<Wire>,
) {
    let shared = Arc::clone(channel.shared());
    // This loop is the only receiver: a `recv` elsewhere gets `RecvBusy`.
    if shared.begin_recv().is_err() {
        return;
    }
    let limit = shared.max_concurrent;
    let serving = Arc::new(Serving {
        service,
        channel: channel.downgrade(),
        slots: Arc::new(Slots {
            waiting: AtomicUsize::new(0),
            wire,
            loopback: Arc::clone(&shared.loopback),
        }),
        limit,
        cap: limit.saturating_add(shared.max_pending()),
        live: AtomicUsize::new(0),
        handoff: Mutex::new(Handoff::default()),
    });
    let _installed = Installed {
        channel: &channel,
        serving: &serving,
    };
    shared.set_dispatcher(Some(Arc::clone(&serving) as Arc<dyn Dispatch>));
    // Dropped before `_installed`: handlers end before the dispatcher goes.
    let mut running = FuturesUnordered::new();
    poll_fn(|cx| {
        for _ in 0..ROUNDS_PER_POLL {
            let mut progressed = serving.take_handed(cx, &mut running);
            while let Poll::Ready(Some(())) = running.poll_next_unpin(cx) {
                progressed = true;
                shared.set_running(serving.release());
            }
            // Requests queued while handlers were at the limit (or before
            // the dispatcher was installed).
            loop {
                if !serving.reserve() {
                    // At the limit no request is taken, but the loop still
                    // ends with the connection (its handlers may never
                    // finish on their own).
                    if shared.poll_ended(cx).is_ready() {
                        return Poll::Ready(());
                    }
                    break;
                }
                match shared.poll_recv(cx) {
                    Poll::Ready(Ok(msg)) => {
                        if let Some(handling) = serving.start(channel.clone(), msg, cx) {
                            running.push(handling);
                        }
                        progressed = true;
                    }
                    Poll::Ready(Err(_)) => {
                        serving.release();
                        return Poll::Ready(());
                    }
                    Poll::Pending => {
                        serving.release();
                        break;
                    }
                }
            }
            if !progressed {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}
