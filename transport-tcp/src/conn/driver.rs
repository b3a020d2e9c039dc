//! The driver: the one task that owns a connection's socket and protocol.
//!
//! Each time it is polled, the driver runs *rounds* until a round makes no
//! progress (then it waits for a wake-up) or the connection ends. A round:
//!
//! 1. takes everything written since the last round (one lock) and the flags;
//! 2. on `abort`, ends at once: buffered data is dropped, the socket reset;
//! 3. delivers a pending `pause_writing`/`resume_writing`, if any;
//! 4. sends: hands the queued chunks to the OS with vectored writes until the
//!    queue is empty or the socket is full, then flushes (TLS records);
//!    sending alone is no progress (only a flow change it causes is), since
//!    a later write or a drained socket wakes the driver anyway;
//! 5. once everything is sent: on `close`, shuts the socket down and ends;
//!    on `write_eof`, shuts down the writing half;
//! 6. receives: one read into the read buffer, delivered as one
//!    `data_received` chunk (discarded after `close`), or the peer's EOF;
//!    while reading is paused, looks every [`PEER_CHECK`] at the socket's
//!    readiness instead, so that a peer that reset the connection is
//!    noticed although what it sent before is never read (a graceful
//!    close is not a departure: what was sent before it is read first).
//!
//! Buffers follow the load: the read buffer grows while reads fill it and
//! shrinks when they do not (see `read_buf`), and when a round finds
//! nothing to read or nothing left to send, what a burst made large (the
//! read buffer, the chunk queue, the write coalescing buffer) is released,
//! so an idle connection holds little memory.
//!
//! Wake-ups come from the socket (read or write readiness, registered by the
//! polls that returned `Pending`) and from the transport handles (a write,
//! close, abort, resume, …), which wake the waker stored in step 1. A long
//! run of busy rounds yields to the runtime every [`MAX_ROUNDS`] rounds.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncRead;
use tokio::time::{Instant, Sleep};
use tokio_util::io::poll_read_buf;
use transport_api::{Error, Protocol, ProtocolHandle};

use super::read_buf::{ReadBuffer, READ_MIN};
use super::state::{Shared, QUEUE_KEEP};
use super::stream::{Peer, Stream};

/// Rounds per poll before the driver yields to other tasks.
const MAX_ROUNDS: usize = 64;
/// Chunks handed to one vectored write.
const MAX_IOV: usize = 64;
/// How often a connection whose reading is paused looks whether its peer
/// is gone. Its reset waits behind what it sent and we do not
/// read, and nothing else may ever wake the driver (handlers that wait for
/// ever write nothing): without a look, the connection and its handlers
/// would outlive the peer.
pub(crate) const PEER_CHECK: Duration = Duration::from_millis(250);

/// How a connection ended.
#[derive(Debug)]
pub(crate) struct Ending {
    /// What `connection_lost` gets.
    pub(crate) error: Option<Error>,
    /// Whether to read (and discard) until the peer's EOF before closing the
    /// socket, so that closing it with unread data does not reset the
    /// connection and lose what we sent.
    pub(crate) drain: bool,
}

impl Ending {
    fn clean(drain: bool) -> Self {
        Ending { error: None, drain }
    }

    fn failed(err: io::Error) -> Self {
        Ending {
            error: Some(super::map_io_error(err)),
            drain: false,
        }
    }
}

/// What one round did.
enum Round {
    Progress,
    Idle,
    End(Ending),
}

/// One connection's socket, protocol and sending/receiving state.
pub(crate) struct Driver<S, P> {
    pub(crate) stream: S,
    shared: Arc<Shared>,
    pub(crate) protocol: ProtocolHandle<P>,
    /// Chunks taken from the shared state, not yet (fully) sent.
    out: VecDeque<Bytes>,
    /// Read into; filled parts are split off and handed out.
    pub(crate) rbuf: ReadBuffer,
    /// Bytes were written since the last flush (TLS buffers records).
    need_flush: bool,
    /// The peer sent EOF.
    read_eof: bool,
    /// Our writing half is shut down (`write_eof` done).
    eof_sent: bool,
    /// What the protocol was last told: paused or not.
    reported_paused: bool,
    /// The next look at the peer while reading is paused; made at the
    /// first pause and kept (clearing it on every round that reads cost
    /// the request/reply path about 0.6% of its instructions). After a
    /// resume it may fire once for nothing; at the next pause, the first
    /// look is at once.
    peer_check: Option<Pin<Box<Sleep>>>,
    /// The peer closed gracefully ([`Peer::Closed`]): what it sent is
    /// still to be read, and there is nothing more to look for while
    /// paused.
    peer_closed: bool,
}

impl<S: Stream, P: Protocol> Driver<S, P> {
    pub(crate) fn new(stream: S, shared: Arc<Shared>, protocol: ProtocolHandle<P>) -> Self {
        Driver {
            stream,
            shared,
            protocol,
            out: VecDeque::new(),
            rbuf: ReadBuffer::new(),
            need_flush: false,
            read_eof: false,
            eof_sent: false,
            reported_paused: false,
            peer_check: None,
            peer_closed: false,
        }
    }

    /// Runs rounds until the connection ends (`Ready`) or nothing is left to
    /// do until a wake-up (`Pending`).
    pub(crate) fn poll_drive(&mut self, cx: &mut Context<'_>) -> Poll<Ending> {
        for _ in 0..MAX_ROUNDS {
            match self.round(cx) {
                Round::Progress => {}
                Round::Idle => return Poll::Pending,
                Round::End(ending) => return Poll::Ready(ending),
            }
        }
        // Busy: let other tasks run, and come back.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn round(&mut self, cx: &mut Context<'_>) -> Round {
        let ctl = self.shared.take_pending(cx, &mut self.out);
        if ctl.aborted {
            self.out.clear();
            self.stream.prepare_abort();
            return Round::End(Ending::clean(false));
        }
        if !ctl.closing && ctl.write_paused != self.reported_paused {
            self.reported_paused = ctl.write_paused;
            if ctl.write_paused {
                self.protocol.with(|p| p.pause_writing());
            } else {
                self.protocol.with(|p| p.resume_writing());
            }
            return Round::Progress;
        }

        let mut progress = match self.poll_send(cx) {
            Ok(progress) => progress,
            Err(err) => return Round::End(Ending::failed(err)),
        };

        let sent_all = self.out.is_empty() && !self.need_flush;
        if sent_all && (ctl.closing || (ctl.eof_requested && !self.eof_sent)) {
            if let Poll::Ready(res) = Pin::new(&mut self.stream).poll_shutdown(cx) {
                if ctl.closing {
                    // Everything reached the OS; a failing shutdown means the
                    // connection is already gone, which is where we go too.
                    return Round::End(Ending::clean(!self.read_eof));
                }
                if let Err(err) = res {
                    return Round::End(Ending::failed(err));
                }
                self.eof_sent = true;
                if self.read_eof {
                    // Both directions are done: nothing can happen any more.
                    return Round::End(Ending::clean(false));
                }
                progress = true;
            }
        }

        if !self.read_eof && (ctl.closing || !ctl.reading_paused) {
            match self.poll_receive(cx, ctl.closing) {
                Ok(received) => progress |= received,
                Err(ending) => return Round::End(ending),
            }
        } else {
            // Not reading (paused, or after EOF): no need for a large buffer.
            self.rbuf.idle();
            if !self.read_eof {
                if let Some(ending) = self.watch_peer(cx) {
                    return Round::End(ending);
                }
            }
        }

        if progress {
            Round::Progress
        } else {
            Round::Idle
        }
    }

    /// Sends queued chunks until the queue is empty or the socket is full,
    /// then flushes. Returns whether that changed the flow state (a pause to
    /// end, which the next round delivers).
    ///
    /// Sending alone calls for no further round: a later write wakes the
    /// driver, and a full socket has registered the wake-up for when it
    /// drains. (A round after each send only found nothing to do: a third
    /// of the rounds of a request/reply exchange.)
    fn poll_send(&mut self, cx: &mut Context<'_>) -> io::Result<bool> {
        let mut sent = 0;
        let result = self.poll_send_inner(cx, &mut sent);
        let flow_changed = self.shared.sent(sent);
        result.map(|()| flow_changed)
    }

    fn poll_send_inner(&mut self, cx: &mut Context<'_>, sent: &mut usize) -> io::Result<()> {
        while !self.out.is_empty() {
            let stream = Pin::new(&mut self.stream);
            // Most sends are one or a few chunks: no 64-slot array to fill
            // for them.
            let written = match self.out.len() {
                1 => write_gathered::<_, 1>(stream, cx, &self.out),
                2..=8 => write_gathered::<_, 8>(stream, cx, &self.out),
                _ => write_gathered::<_, MAX_IOV>(stream, cx, &self.out),
            };
            match written {
                Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => {
                    advance(&mut self.out, n);
                    *sent += n;
                    self.need_flush = true;
                }
                Poll::Ready(Err(err)) if err.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(err)) => return Err(err),
                Poll::Pending => return Ok(()),
            }
        }
        if self.out.capacity() > QUEUE_KEEP {
            // Everything taken was sent: give back what a burst made large.
            self.out = VecDeque::new();
        }
        if self.need_flush {
            match Pin::new(&mut self.stream).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.need_flush = false,
                Poll::Ready(Err(err)) => return Err(err),
                Poll::Pending => {}
            }
        }
        Ok(())
    }

    /// While reading is paused: every [`PEER_CHECK`], how the connection
    /// ended if the socket says the peer is gone (see
    /// [`Stream::peer_gone`]); the next look is registered with `cx`.
    fn watch_peer(&mut self, cx: &mut Context<'_>) -> Option<Ending> {
        if self.peer_closed {
            return None;
        }
        let check = self
            .peer_check
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(PEER_CHECK)));
        if check.as_mut().poll(cx).is_pending() {
            return None;
        }
        match self.stream.peer_gone() {
            Peer::Reset(err) => return Some(Ending::failed(err)),
            // A hang-up both ways after our own `write_eof` is the peer's
            // EOF meeting ours: what it sent before is still to be read.
            Peer::HungUp if !self.eof_sent => return Some(Ending::clean(false)),
            Peer::Closed => {
                self.peer_closed = true;
                return None;
            }
            Peer::HungUp | Peer::Alive => {}
        }
        check.as_mut().reset(Instant::now() + PEER_CHECK);
        // Registers the wake-up for the next look.
        let _ = check.as_mut().poll(cx);
        None
    }

    /// One read. Returns whether anything happened, or how the connection
    /// ended. After `close`, received data is discarded.
    fn poll_receive(&mut self, cx: &mut Context<'_>, closing: bool) -> Result<bool, Ending> {
        match poll_read_buf(Pin::new(&mut self.stream), cx, self.rbuf.prepare()) {
            Poll::Pending => {
                self.rbuf.idle();
                Ok(false)
            }
            Poll::Ready(Ok(0)) => {
                self.read_eof = true;
                if closing {
                    return Ok(true);
                }
                if !self.protocol.with(|p| p.eof_received()) {
                    self.shared.close_from_driver();
                } else if self.eof_sent {
                    return Err(Ending::clean(false));
                }
                Ok(true)
            }
            Poll::Ready(Ok(n)) => {
                if closing {
                    self.rbuf.discard(n);
                } else {
                    let chunk = self.rbuf.filled(n);
                    // Progress: the next round takes what the protocol
                    // writes now, without a wake-up.
                    let protocol = &self.protocol;
                    self.shared
                        .delivering(|| protocol.with(|p| p.data_received(chunk)));
                }
                Ok(true)
            }
            Poll::Ready(Err(err)) if err.kind() == io::ErrorKind::Interrupted => Ok(true),
            Poll::Ready(Err(err)) => Err(Ending::failed(err)),
        }
    }
}

/// Reads and discards until EOF or an error. Ends at once if the socket has
/// nothing more to give; the caller bounds it in time.
pub(crate) fn poll_discard<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<()> {
    loop {
        buf.clear();
        if buf.capacity() < READ_MIN {
            buf.reserve(READ_MIN);
        }
        match poll_read_buf(Pin::new(&mut *stream), cx, buf) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(0)) => return Poll::Ready(()),
            Poll::Ready(Ok(_)) => {}
            Poll::Ready(Err(err)) if err.kind() == io::ErrorKind::Interrupted => {}
            Poll::Ready(Err(_)) => return Poll::Ready(()),
        }
    }
}

/// One vectored write of the first (up to `N`) chunks of `out`.
fn write_gathered<S: Stream, const N: usize>(
    stream: Pin<&mut S>,
    cx: &mut Context<'_>,
    out: &VecDeque<Bytes>,
) -> Poll<io::Result<usize>> {
    let mut slices = [IoSlice::new(&[]); N];
    let mut count = 0;
    for (slot, chunk) in slices.iter_mut().zip(out.iter()) {
        *slot = IoSlice::new(chunk);
        count += 1;
    }
    stream.poll_write_vectored(cx, &slices[..count])
}

/// Drops the first `n` bytes of the queue.
fn advance(out: &mut VecDeque<Bytes>, mut n: usize) {
    while n > 0 {
        let Some(front) = out.front_mut() else {
            return;
        };
        if front.len() <= n {
            n -= front.len();
            out.pop_front();
        } else {
            front.advance(n);
            return;
        }
    }
}
