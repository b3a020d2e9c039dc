//! The state one connection's [`Channel`](super::Channel) handles, incoming
//! [`Request`](super::Request)s and its protocol share: our requests and
//! their replies here, the peer's requests in [`incoming`].

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::watch;
use transport_api::SharedTransport;

use super::outgoing;
use super::pending::{Answered, PendingReplies, Reply};
use super::slots::{Slot, Slots};
use super::{ChannelError, ChannelOptions, Codec, Message, MessageKind, Result};

mod incoming;

pub(crate) use incoming::Dispatch;

#[derive(Default)]
struct State {
    transport: Option<SharedTransport>,
    /// The peer's address, for remote errors.
    origin: String,
    /// The id of our next request; every id below it was used.
    next_id: u64,
    /// Requests sent (or about to be) whose caller still waits.
    pending: PendingReplies,
    /// Received requests waiting for `recv` (at most `max_queued`).
    queue: VecDeque<Message>,
    /// Requests that arrived while `queue` was full, in order: at most
    /// [`HELD_BUDGET`](incoming::HELD_BUDGET) bytes of them before reading
    /// pauses (plus what the transport had delivered by then); reading
    /// resumes once they have moved on to `queue`.
    held: VecDeque<Message>,
    /// What `held` costs, by [`incoming::held_cost`].
    held_bytes: usize,
    receiving: bool,
    recv_waker: Option<Waker>,
    /// Takes requests as they arrive while the queue is empty.
    dispatcher: Option<Arc<dyn Dispatch>>,
    /// `close()` was called here.
    closing: bool,
    /// `abort()` was called here.
    aborting: bool,
    /// We paused reading because the request queue is full.
    paused_for_queue: bool,
    /// Set once the connection is lost: the error every call now gets.
    lost: Option<ChannelError>,
}

/// One connection's shared channel state.
pub(crate) struct Shared<C> {
    pub(crate) codec: C,
    pub(crate) max_frame_size: usize,
    /// How many received requests an RPC connection handles at once.
    pub(crate) max_concurrent: usize,
    max_queued: usize,
    /// How long `close` waits for the flush before aborting.
    pub(crate) close_grace: std::time::Duration,
    state: Mutex<State>,
    /// The transport once connected, for sends without the state's lock
    /// (the state's own handle is dropped when the connection is lost).
    connected: OnceLock<SharedTransport>,
    /// Connected, not lost and not closing here.
    usable: AtomicBool,
    /// Slots for our requests waiting for replies
    /// ([`ChannelOptions::max_pending_requests`]); closed on connection
    /// loss.
    window: Slots,
    /// Serialises writers, so that one at a time waits for the transport to
    /// become writable (transports keep a single write waker).
    write_gate: Slots,
    lost_tx: watch::Sender<bool>,
    /// We paused reading because refusals filled the write buffer (only
    /// with `max_queued_requests(0)`). Changed under the state's lock, with
    /// `paused_for_queue`; an atomic so that the protocol, which asks
    /// before every frame, need not lock.
    refusals_paused: AtomicBool,
    /// Handlers the RPC serving loop runs now, and the most it ever ran.
    running: AtomicUsize,
    peak_running: AtomicUsize,
    /// Both ends of the connection are one container's (its connection to
    /// itself): set once the container has shown it, never cleared. Shared
    /// with the RPC serving loop (see `rpc::serve`).
    pub(crate) loopback: Arc<AtomicBool>,
}

impl<C: Codec> Shared<C> {
    pub(crate) fn new(options: &ChannelOptions<C>) -> Self {
        Shared {
            codec: options.get_codec().clone(),
            max_frame_size: options.get_max_frame_size(),
            max_concurrent: options.get_max_concurrent_requests(),
            max_queued: options.get_max_queued_requests(),
            close_grace: options.get_close_grace(),
            state: Mutex::new(State::default()),
            connected: OnceLock::new(),
            usable: AtomicBool::new(false),
            window: Slots::new(options.get_max_pending_requests()),
            write_gate: Slots::new(1),
            lost_tx: watch::channel(false).0,
            refusals_paused: AtomicBool::new(false),
            running: AtomicUsize::new(0),
            peak_running: AtomicUsize::new(0),
            loopback: Arc::new(AtomicBool::new(false)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; recover anyway.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn has_transport(&self) -> bool {
        self.lock().transport.is_some()
    }

    pub(crate) fn set_transport(&self, transport: SharedTransport) {
        let origin = transport
            .peer_addr()
            .map(|e| e.to_string())
            .unwrap_or_else(|| "<unknown peer>".to_owned());
        let mut state = self.lock();
        if state.lost.is_none() {
            state.origin = origin;
            state.transport = Some(SharedTransport::clone(&transport));
            if self.connected.set(transport).is_ok() {
                self.usable.store(!state.closing, Ordering::Release);
            }
        }
    }

    pub(crate) fn transport(&self) -> Option<SharedTransport> {
        self.lock().transport.clone()
    }

    /// The error for a call on a channel that is not usable.
    fn unusable(state: &State, cause: Option<transport_api::Error>) -> ChannelError {
        if let Some(lost) = &state.lost {
            lost.clone()
        } else if state.closing {
            ChannelError::lost(Some(ChannelError::Closed))
        } else {
            ChannelError::lost(cause.map(ChannelError::from))
        }
    }

    /// The transport, if the channel is usable (not lost, not closing here).
    fn usable_transport(&self) -> Result<&SharedTransport> {
        if self.usable.load(Ordering::Acquire) {
            if let Some(t) = self.connected.get() {
                return Ok(t);
            }
        }
        Err(Self::unusable(&self.lock(), None))
    }

    /// Whether the channel is usable: also not closing in the transport
    /// (the peer may have closed it while its `connection_lost` is still on
    /// the way).
    pub(crate) fn check_usable(&self) -> Result<()> {
        let transport = self.usable_transport()?;
        if transport.is_closing() {
            return Err(ChannelError::lost(Some(ChannelError::Closed)));
        }
        Ok(())
    }

    /// Encodes a message into a whole frame.
    pub(crate) fn encode<T: Serialize + ?Sized>(
        &self,
        kind: MessageKind,
        id: u64,
        content: &T,
    ) -> Result<Bytes> {
        outgoing::frame(self.max_frame_size, |buf| {
            self.codec.encode_message(kind, id, content, buf)
        })
    }

    /// Writes a frame at once if no other writer waits and the transport
    /// takes it now; otherwise gives it back (for [`send`](Self::send)).
    pub(crate) fn try_send(&self, frame: Bytes) -> Result<Option<Bytes>> {
        if !self.write_gate.is_idle() {
            return Ok(Some(frame));
        }
        let transport = self.usable_transport()?;
        transport
            .write_if_ready(frame)
            .map_err(|e| Self::unusable(&self.lock(), Some(e)))
    }

    /// Writes a frame once the transport accepts writes (backpressure).
    ///
    /// Cancel safe: if the future is dropped before it completes, nothing
    /// was written.
    pub(crate) async fn send(&self, frame: Bytes) -> Result<()> {
        // Fast path: no other writer waits, and the transport takes the
        // frame at once.
        let Some(frame) = self.try_send(frame)? else {
            return Ok(());
        };
        self.send_waiting(frame).await
    }

    /// [`send`](Self::send) once the fast path did not take the frame:
    /// waits for the write gate and the transport.
    pub(crate) async fn send_waiting(&self, frame: Bytes) -> Result<()> {
        let Some(_gate) = self.write_gate.acquire().await else {
            return Err(Self::unusable(&self.lock(), None));
        };
        let transport = self.usable_transport()?;
        let mut waited = false;
        let ready = poll_fn(|cx| {
            let ready = transport.poll_write_ready(cx);
            waited |= ready.is_pending();
            ready
        })
        .await;
        if let Err(e) = ready {
            return Err(Self::unusable(&self.lock(), Some(e)));
        }
        if waited {
            // Closed while we waited?
            self.usable_transport()?;
        }
        transport
            .write(frame)
            .map_err(|e| Self::unusable(&self.lock(), Some(e)))
    }

    /// Writes a frame at once, ignoring backpressure (for small frames the
    /// protocol must send from a callback or from `Drop`). A lost channel
    /// drops it silently.
    pub(crate) fn send_now(&self, frame: Bytes) {
        if let Ok(t) = self.usable_transport() {
            let _ = t.write(frame);
        }
    }

    /// How many of our requests may wait for replies at once.
    pub(crate) fn max_pending(&self) -> usize {
        self.window.capacity()
    }

    /// Whether both ends of the connection are one container's.
    pub(crate) fn is_loopback(&self) -> bool {
        self.loopback.load(Ordering::Relaxed)
    }

    /// A slot for one more request waiting for its reply, now, even past
    /// the window (see [`Channel::request_raw`](super::Channel::request_raw)).
    pub(crate) fn reserve_now(&self) -> Result<Slot<'_>> {
        self.window
            .acquire_past_max()
            .ok_or_else(|| Self::unusable(&self.lock(), None))
    }

    /// Waits for a slot for one more request waiting for its reply.
    ///
    /// Cancel safe.
    pub(crate) async fn reserve(&self) -> Result<Slot<'_>> {
        // Without the waiting machinery while a slot is free.
        if let Some(slot) = self.window.try_acquire_open() {
            return Ok(slot);
        }
        match self.window.acquire().await {
            Some(slot) => Ok(slot),
            None => Err(Self::unusable(&self.lock(), None)),
        }
    }

    /// Registers a new request and returns its id; `waker` (if any) is
    /// woken when its reply arrives. Wait for the reply with
    /// [`poll_reply`](Self::poll_reply).
    pub(crate) fn start_request(&self, waker: Option<&Waker>) -> Result<u64> {
        let mut state = self.lock();
        if state.lost.is_some() || state.closing || state.transport.is_none() {
            return Err(Self::unusable(&state, None));
        }
        let id = state.next_id;
        state.next_id = state.next_id.wrapping_add(1);
        state.pending.insert(id, waker);
        Ok(id)
    }

    /// The reply to request `id` once it arrived (its entry is then gone),
    /// or the error that ended the connection.
    pub(crate) fn poll_reply(&self, id: u64, cx: &mut Context<'_>) -> Poll<Result<Reply>> {
        let mut state = self.lock();
        match state.pending.poll(id, cx) {
            Some(poll) => poll.map(Ok),
            None => {
                let err = state.lost.clone();
                Poll::Ready(Err(err.unwrap_or_else(|| ChannelError::lost(None))))
            }
        }
    }

    /// Forgets a request whose caller no longer waits (a reply that still
    /// comes is discarded).
    pub(crate) fn cancel_request(&self, id: u64) {
        self.lock().pending.remove(id);
    }

    pub(crate) fn origin(&self) -> String {
        self.lock().origin.clone()
    }

    /// Dispatches a received message.
    ///
    /// # Errors
    ///
    /// [`ChannelError::UnknownRequestId`] for a reply to an id we never
    /// used. (A reply to a request whose caller gave up is discarded.)
    pub(crate) fn on_message(&self, msg: Message) -> Result<()> {
        let mut state = self.lock();
        match msg.kind {
            MessageKind::Request => self.on_request(state, msg),
            MessageKind::Result | MessageKind::Exception => {
                let reply = if msg.kind == MessageKind::Result {
                    Reply::Result(msg.content)
                } else {
                    Reply::Exception(msg.content)
                };
                let waker = match state.pending.answer(msg.id, reply) {
                    Answered::Kept(waker) => waker,
                    Answered::Unknown if msg.id >= state.next_id => {
                        return Err(ChannelError::UnknownRequestId { id: msg.id });
                    }
                    // Its caller gave up, or a second reply to one
                    // request: discarded.
                    Answered::Unknown | Answered::Duplicate => return Ok(()),
                };
                drop(state);
                if let Some(w) = waker {
                    w.wake();
                }
                Ok(())
            }
        }
    }

    /// The connection is gone: fails everything waiting, now and later.
    pub(crate) fn on_lost(&self, cause: Option<ChannelError>) {
        let mut state = self.lock();
        if state.lost.is_some() {
            return;
        }
        let cause = match cause {
            None if state.closing || state.aborting => Some(ChannelError::Closed),
            // A clean end that this end did not ask for.
            None => Some(ChannelError::ClosedByPeer),
            other => other,
        };
        state.lost = Some(ChannelError::lost(cause));
        self.usable.store(false, Ordering::Release);
        // Callers still waiting are woken in id order (deterministic); they
        // find their entry gone and take `lost`. Replies that arrived stay
        // for their callers.
        let waiting = state.pending.fail_waiting();
        state.queue.clear();
        state.held.clear();
        state.held_bytes = 0;
        let waker = state.recv_waker.take();
        let transport = state.transport.take();
        let dispatcher = state.dispatcher.take();
        drop(state);
        drop(dispatcher);
        waiting.into_iter().for_each(Waker::wake);
        if let Some(w) = waker {
            w.wake();
        }
        drop(transport);
        self.window.close();
        self.write_gate.close();
        self.lost_tx.send_replace(true);
    }

    /// Aborts the transport (dropping what was not sent yet).
    pub(crate) fn abort(&self) {
        let transport = {
            let mut state = self.lock();
            state.aborting = true;
            state.transport.clone()
        };
        if let Some(t) = transport {
            t.abort();
        }
    }

    /// Closes the transport (flushing what was written); the channel fails
    /// every later call at once.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closing = true;
        self.usable.store(false, Ordering::Release);
        let transport = state.transport.clone();
        let waker = state.recv_waker.take();
        drop(state);
        if let Some(w) = waker {
            w.wake();
        }
        if let Some(t) = transport {
            t.close();
        }
    }

    pub(crate) fn lost_error(&self) -> Option<ChannelError> {
        self.lock().lost.clone()
    }

    /// Waits until the connection is lost.
    pub(crate) async fn wait_lost(&self) {
        let mut rx = self.lost_tx.subscribe();
        // The sender lives in `self`; it cannot be dropped under us.
        let _ = rx.wait_for(|lost| *lost).await;
    }

    /// After [`close`](Self::close): waits for the connection's end, giving
    /// the peer `close_grace` to take what was written; after that the
    /// connection is aborted (a peer that does not read cannot hold it).
    pub(crate) async fn wait_closed_within_grace(&self) {
        if tokio::time::timeout(self.close_grace, self.wait_lost())
            .await
            .is_err()
        {
            self.abort();
            self.wait_lost().await;
        }
    }

    pub(crate) fn pending_count(&self) -> usize {
        self.lock().pending.len()
    }
}

impl<C> fmt::Debug for Shared<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("Channel")
            .field("peer", &state.origin)
            .field("pending", &state.pending.len())
            .field("queued", &state.queue.len())
            .field("held", &state.held.len())
            .field("closing", &state.closing)
            .field("lost", &state.lost)
            .finish()
    }
}
