//! The peer's requests: handed to the RPC dispatcher where they arrive,
//! or queued for [`recv`](crate::channel::Channel::recv), with reading
//! paused while the queue is full; refused on a channel that takes none.

use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};
use std::task::{Context, Poll};

use transport_api::SharedTransport;

use super::{Shared, State};
use crate::channel::{ChannelError, Codec, Message, MessageKind, Result};

/// How many bytes of requests (by [`held_cost`]) are held back, once the
/// queue is full, before reading from the peer pauses.
///
/// Reading goes on for a while so that a peer that goes away with a burst
/// of calls pending is noticed: while reading is paused nothing is read,
/// its end of the connection included, and handlers that wait for
/// something that never comes would outlive it. A few thousand small calls
/// (what `asyncio.gather` sends) fit; a flood larger than this pauses
/// reading, as before.
pub(crate) const HELD_BUDGET: usize = 1 << 20;

/// What a held-back request costs: its content and its place in the queue.
pub(super) fn held_cost(msg: &Message) -> usize {
    msg.content.len() + std::mem::size_of::<Message>()
}

/// Takes the peer's requests where they arrive, on the connection's driver,
/// instead of queueing them for `recv` (the RPC serving loop installs one,
/// which saves a task switch per request).
pub(crate) trait Dispatch: Send + Sync {
    /// Handles `msg` now, or gives it back to be queued (at the
    /// dispatcher's limit).
    fn dispatch(&self, msg: Message) -> Option<Message>;
}

impl<C: Codec> Shared<C> {
    /// A request from the peer: to the dispatcher where one takes it, else
    /// to the queue for `recv`, else held back with reading paused (or
    /// refused, on a channel that takes none).
    pub(super) fn on_request<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        msg: Message,
    ) -> Result<()> {
        let msg = match &state.dispatcher {
            // Requests already queued go first; a channel that
            // takes no requests refuses them all.
            Some(d) if self.max_queued != 0 && state.queue.is_empty() && state.held.is_empty() => {
                let dispatcher = Arc::clone(d);
                drop(state);
                match dispatcher.dispatch(msg) {
                    None => return Ok(()),
                    Some(msg) => {
                        state = self.lock();
                        msg
                    }
                }
            }
            _ => msg,
        };
        if self.max_queued == 0 {
            let transport = state.transport.clone();
            drop(state);
            self.refuse(msg.id, transport);
            return Ok(());
        }
        if state.queue.len() < self.max_queued && state.held.is_empty() {
            state.queue.push_back(msg);
            let waker = state.recv_waker.take();
            drop(state);
            if let Some(w) = waker {
                w.wake();
            }
            return Ok(());
        }
        // Full: hold it back, and once the held-back requests are over
        // their budget stop reading until `recv` makes room. Replies
        // keep completing requests.
        state.held_bytes = state.held_bytes.saturating_add(held_cost(&msg));
        state.held.push_back(msg);
        if state.held_bytes > HELD_BUDGET && !std::mem::replace(&mut state.paused_for_queue, true) {
            if let Some(t) = &state.transport {
                t.pause_reading();
            }
        }
        Ok(())
    }

    /// Answers request `id` of a channel that takes no requests
    /// (`max_queued_requests(0)`) with an exception.
    ///
    /// Refusals are written at once, from the protocol callback; so that a
    /// peer that floods us with requests while not reading our answers cannot
    /// grow our write buffer without bound, reading is paused while the
    /// buffer is above its high-water mark, until `resume_writing`.
    fn refuse(&self, id: u64, transport: Option<SharedTransport>) {
        let text = format!("request {id} refused: this end takes no requests");
        let Some(transport) = transport else { return };
        if let Ok(frame) = self.encode(MessageKind::Exception, id, &text) {
            let _ = transport.write(frame);
        }
        if transport.write_buffer_size() > transport.write_buffer_limits().high() {
            transport.pause_reading();
            let _state = self.lock();
            self.refusals_paused.store(true, Ordering::Release);
        }
    }

    /// Whether refusals paused reading (frames wait in the decoder).
    pub(crate) fn paused_for_refusals(&self) -> bool {
        self.refusals_paused.load(Ordering::Acquire)
    }

    /// The transport's write buffer drained: resume reading if refusals
    /// paused it (and the queue does not hold it paused).
    pub(crate) fn on_resume_writing(&self) {
        let state = self.lock();
        let was_paused = self.refusals_paused.swap(false, Ordering::AcqRel);
        if was_paused && !state.paused_for_queue {
            if let Some(t) = &state.transport {
                t.resume_reading();
            }
        }
    }

    /// Marks the start of a `recv`.
    ///
    /// # Errors
    ///
    /// [`ChannelError::RecvBusy`] if another `recv` is waiting.
    pub(crate) fn begin_recv(&self) -> Result<()> {
        let mut state = self.lock();
        if state.receiving {
            return Err(ChannelError::RecvBusy);
        }
        state.receiving = true;
        Ok(())
    }

    /// Installs (or with `None` removes) the dispatcher of requests. Not
    /// installed once the connection is lost.
    pub(crate) fn set_dispatcher(&self, dispatcher: Option<Arc<dyn Dispatch>>) {
        let mut state = self.lock();
        if state.lost.is_none() || dispatcher.is_none() {
            let old = std::mem::replace(&mut state.dispatcher, dispatcher);
            drop(state);
            drop(old);
        }
    }

    pub(crate) fn end_recv(&self) {
        let mut state = self.lock();
        state.receiving = false;
        state.recv_waker = None;
    }

    /// The next queued request, or the error that ended the channel.
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        let mut state = self.lock();
        if state.lost.is_some() || state.closing {
            return Poll::Ready(Err(Self::unusable(&state, None)));
        }
        if let Some(msg) = state.queue.pop_front() {
            // Room again: move held-back requests on, and once none is left
            // resume reading.
            while state.queue.len() < self.max_queued {
                match state.held.pop_front() {
                    Some(next) => {
                        state.held_bytes = state.held_bytes.saturating_sub(held_cost(&next));
                        state.queue.push_back(next);
                    }
                    None => break,
                }
            }
            if state.held.is_empty() && std::mem::take(&mut state.paused_for_queue) {
                if let Some(t) = &state.transport {
                    if !self.refusals_paused.load(Ordering::Acquire) {
                        t.resume_reading();
                    }
                }
            }
            return Poll::Ready(Ok(msg));
        }
        match &mut state.recv_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Ready once the connection is lost or closing; until then `cx` is
    /// woken when it may be (for the receiver, while it takes no request).
    pub(crate) fn poll_ended(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        if state.lost.is_some() || state.closing {
            return Poll::Ready(());
        }
        match &mut state.recv_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    pub(crate) fn queued_count(&self) -> usize {
        self.lock().queue.len()
    }

    /// Records how many handlers the RPC serving loop runs.
    pub(crate) fn set_running(&self, count: usize) {
        self.running.store(count, Ordering::Relaxed);
        self.peak_running.fetch_max(count, Ordering::Relaxed);
    }

    /// Handlers running now, and the most that ever ran at once.
    pub(crate) fn running_counts(&self) -> (usize, usize) {
        (
            self.running.load(Ordering::Relaxed),
            self.peak_running.load(Ordering::Relaxed),
        )
    }

    pub(crate) fn held_count(&self) -> usize {
        self.lock().held.len()
    }
}
