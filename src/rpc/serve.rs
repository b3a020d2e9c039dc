//! The serving loop of one RPC connection: takes the peer's requests and
//! runs their handlers, at most a bounded number at once, inside the loop's
//! own task (so they end with it).

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::handler::{dispatch, BoxFuture};
use super::wire::Wire;
use super::Service;
use crate::channel::{Channel, Codec, Request};

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
}

/// The wire of the connection whose handler is running on this thread.
pub(crate) fn serving_wire() -> Option<Arc<Wire>> {
    SERVING.with(|current| {
        let slots = current.take();
        let wire = slots.as_ref().map(|s| Arc::clone(&s.wire));
        current.set(slots);
        wire
    })
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
        restore.handling.answer.as_mut().poll(cx)
    }
}

/// How many times one poll of the loop goes round before it yields to the
/// runtime, so one busy connection cannot starve the others on its thread.
const ROUNDS_PER_POLL: usize = 32;

/// Takes the peer's calls and answers them until the connection is lost or
/// closing; handlers still running then are dropped with the loop.
///
/// At most `max_concurrent_requests` handlers run at once, not counting
/// those waiting for replies to calls of their own (each of which holds a
/// slot of a connection's window of pending requests); in all at most that
/// limit plus `max_pending_requests`. At the limit no request is taken from the channel's
/// queue, which fills and pauses reading: backpressure reaches the peer.
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
    let cap = limit.saturating_add(shared.max_pending());
    let slots = Arc::new(Slots {
        waiting: AtomicUsize::new(0),
        wire,
    });
    let mut running = FuturesUnordered::new();
    poll_fn(|cx| {
        for _ in 0..ROUNDS_PER_POLL {
            let mut progressed = false;
            while let Poll::Ready(Some(())) = running.poll_next_unpin(cx) {
                progressed = true;
            }
            shared.set_running(running.len());
            loop {
                let waiting = slots.waiting.load(Ordering::Relaxed);
                let busy = running.len().saturating_sub(waiting);
                if busy >= limit || running.len() >= cap {
                    break;
                }
                match shared.poll_recv(cx) {
                    Poll::Ready(Ok(msg)) => {
                        let request = Request::new(channel.clone(), msg.id, msg.content);
                        let mut handling = Handling::start(&*service, request, &slots);
                        // Most handlers finish at once: only those that
                        // wait go into the set.
                        if Pin::new(&mut handling).poll(cx).is_pending() {
                            running.push(handling);
                            shared.set_running(running.len());
                        }
                        progressed = true;
                    }
                    Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Pending => break,
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
    drop(running);
    shared.set_running(0);
    shared.end_recv();
}
