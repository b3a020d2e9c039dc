//! The state one connection's [`Channel`](super::Channel) handles, incoming
//! [`Request`](super::Request)s and its protocol share.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::{oneshot, watch};
use transport_api::{SharedTransport, TransportExt};

use super::frame::{finish_frame, HEADER_LEN};
use super::{ChannelError, ChannelOptions, Codec, Message, MessageKind, Result};

/// A reply as it arrives: its content still encoded.
#[derive(Debug)]
pub(crate) enum Reply {
    Result(Bytes),
    Exception(Bytes),
}

pub(crate) type ReplySender = oneshot::Sender<Result<Reply>>;
pub(crate) type ReplyReceiver = oneshot::Receiver<Result<Reply>>;

#[derive(Default)]
struct State {
    transport: Option<SharedTransport>,
    /// The peer's address, for remote errors.
    origin: String,
    next_id: u64,
    /// Requests sent (or about to be), by id. Ordered, so that failing them
    /// all on connection loss wakes them in a deterministic order.
    pending: BTreeMap<u64, ReplySender>,
    /// Received requests waiting for `recv`.
    queue: VecDeque<Message>,
    receiving: bool,
    recv_waker: Option<Waker>,
    /// `close()` was called here.
    closing: bool,
    /// We paused reading because refusals filled the write buffer.
    reading_paused: bool,
    /// Set once the connection is lost: the error every call now gets.
    lost: Option<ChannelError>,
}

/// One connection's shared channel state.
pub(crate) struct Shared<C> {
    pub(crate) codec: C,
    pub(crate) max_frame_size: usize,
    max_queued: usize,
    state: Mutex<State>,
    /// Serialises writers, so that one at a time waits for the transport to
    /// become writable (transports keep a single write waker) and frames go
    /// out in the order their writers arrived.
    write_gate: tokio::sync::Mutex<()>,
    lost_tx: watch::Sender<bool>,
}

impl<C: Codec> Shared<C> {
    pub(crate) fn new(options: &ChannelOptions<C>) -> Self {
        Shared {
            codec: options.get_codec().clone(),
            max_frame_size: options.get_max_frame_size(),
            max_queued: options.get_max_queued_requests(),
            state: Mutex::new(State::default()),
            write_gate: tokio::sync::Mutex::new(()),
            lost_tx: watch::channel(false).0,
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
            state.transport = Some(transport);
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

    /// The transport, if the channel is usable.
    fn usable_transport(&self) -> Result<SharedTransport> {
        let state = self.lock();
        match &state.transport {
            Some(t) if state.lost.is_none() && !state.closing => Ok(t.clone()),
            _ => Err(Self::unusable(&state, None)),
        }
    }

    pub(crate) fn check_usable(&self) -> Result<()> {
        self.usable_transport().map(drop)
    }

    /// Encodes a message into a whole frame.
    pub(crate) fn encode<T: Serialize + ?Sized>(
        &self,
        kind: MessageKind,
        id: u64,
        content: &T,
    ) -> Result<Bytes> {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0; HEADER_LEN]);
        self.codec.encode_message(kind, id, content, &mut buf)?;
        finish_frame(buf, self.max_frame_size)
    }

    /// Writes a frame once the transport accepts writes (backpressure).
    ///
    /// Cancel safe: if the future is dropped before it completes, nothing
    /// was written.
    pub(crate) async fn send(&self, frame: Bytes) -> Result<()> {
        let _gate = self.write_gate.lock().await;
        let transport = self.usable_transport()?;
        if let Err(e) = transport.writable().await {
            return Err(Self::unusable(&self.lock(), Some(e)));
        }
        // Closed while we waited?
        self.check_usable()?;
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

    /// Registers a new request; its reply arrives on the receiver.
    pub(crate) fn start_request(&self) -> Result<(u64, ReplyReceiver)> {
        let mut state = self.lock();
        if state.lost.is_some() || state.closing || state.transport.is_none() {
            return Err(Self::unusable(&state, None));
        }
        let id = state.next_id;
        state.next_id = state.next_id.wrapping_add(1);
        let (tx, rx) = oneshot::channel();
        state.pending.insert(id, tx);
        Ok((id, rx))
    }

    /// Forgets a request that was never sent.
    pub(crate) fn cancel_request(&self, id: u64) {
        self.lock().pending.remove(&id);
    }

    pub(crate) fn origin(&self) -> String {
        self.lock().origin.clone()
    }

    /// Dispatches a received message.
    ///
    /// # Errors
    ///
    /// [`ChannelError::UnknownRequestId`] for a reply nobody waits for.
    pub(crate) fn on_message(&self, msg: Message) -> Result<()> {
        let mut state = self.lock();
        match msg.kind {
            MessageKind::Request => {
                if state.queue.len() >= self.max_queued {
                    let transport = state.transport.clone();
                    drop(state);
                    self.refuse(msg.id, transport);
                    return Ok(());
                }
                state.queue.push_back(msg);
                let waker = state.recv_waker.take();
                drop(state);
                if let Some(w) = waker {
                    w.wake();
                }
                Ok(())
            }
            MessageKind::Result | MessageKind::Exception => {
                let Some(tx) = state.pending.remove(&msg.id) else {
                    return Err(ChannelError::UnknownRequestId { id: msg.id });
                };
                drop(state);
                let reply = if msg.kind == MessageKind::Result {
                    Reply::Result(msg.content)
                } else {
                    Reply::Exception(msg.content)
                };
                // The requester may have given up (dropped its future): the
                // reply is then discarded.
                let _ = tx.send(Ok(reply));
                Ok(())
            }
        }
    }

    /// Answers request `id` with a "too many queued requests" exception.
    ///
    /// Refusals are written at once, from the protocol callback; so that a
    /// peer that floods us with requests while not reading our answers cannot
    /// grow our write buffer without bound, reading is paused while the
    /// buffer is above its high-water mark, until `resume_writing`.
    fn refuse(&self, id: u64, transport: Option<SharedTransport>) {
        let text = format!(
            "request {id} refused: {} received requests are already waiting to be handled",
            self.max_queued
        );
        let Some(transport) = transport else { return };
        if let Ok(frame) = self.encode(MessageKind::Exception, id, &text) {
            let _ = transport.write(frame);
        }
        if transport.write_buffer_size() > transport.write_buffer_limits().high() {
            transport.pause_reading();
            self.lock().reading_paused = true;
        }
    }

    /// Whether refusals paused reading (frames wait in the decoder).
    pub(crate) fn reading_paused(&self) -> bool {
        self.lock().reading_paused
    }

    /// The transport's write buffer drained: resume reading if refusals
    /// paused it.
    pub(crate) fn on_resume_writing(&self) {
        let mut state = self.lock();
        if std::mem::take(&mut state.reading_paused) {
            let transport = state.transport.clone();
            drop(state);
            if let Some(t) = transport {
                t.resume_reading();
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
            None if state.closing => Some(ChannelError::Closed),
            other => other,
        };
        let err = ChannelError::lost(cause);
        state.lost = Some(err.clone());
        let pending = std::mem::take(&mut state.pending);
        state.queue.clear();
        let waker = state.recv_waker.take();
        let transport = state.transport.take();
        drop(state);
        for tx in pending.into_values() {
            let _ = tx.send(Err(err.clone()));
        }
        if let Some(w) = waker {
            w.wake();
        }
        drop(transport);
        self.lost_tx.send_replace(true);
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
            return Poll::Ready(Ok(msg));
        }
        match &mut state.recv_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Closes the transport (flushing what was written); the channel fails
    /// every later call at once.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closing = true;
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

    pub(crate) fn pending_count(&self) -> usize {
        self.lock().pending.len()
    }

    pub(crate) fn queued_count(&self) -> usize {
        self.lock().queue.len()
    }
}

impl<C> fmt::Debug for Shared<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("Channel")
            .field("peer", &state.origin)
            .field("pending", &state.pending.len())
            .field("queued", &state.queue.len())
            .field("closing", &state.closing)
            .field("lost", &state.lost)
            .finish()
    }
}
