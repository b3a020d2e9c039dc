//! The driver: the one task per connection that owns its protocol.
//!
//! Each round it delivers what arrived (unless reading is paused), tells
//! the peer what was consumed (WINDOW), reports pause/resume, publishes
//! what was written as far as the peer's window allows, and carries out
//! `write_eof`, `close` and `abort`; then it waits to be woken.
//!
//! Ending: `abort` publishes RST; `close` publishes FIN after the last data
//! and waits (at most [`LINGER`]) for the peer's FIN; a FIN from the peer is
//! answered with ours; a RST, the peer's last will or the broker going away
//! end the connection with an error, unless the peer's FIN came first (then
//! what it sent is delivered, then the end, as from a socket's buffers).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use transport_api::{Error, FlowEvent, Protocol, ProtocolHandle};

use super::state::cost;
use super::{until_failed, Conn, Peer};
use crate::session::Session;
use crate::wire::{self, Kind, Msg, HEADER, MAX_DATA, WINDOW};

/// How long a closed connection waits for the peer's FIN.
pub(crate) const LINGER: Duration = Duration::from_secs(5);
/// How long `close` may take to send what is buffered (a peer that stopped
/// reading holds it up) before the connection is reset.
pub(crate) const FLUSH_LIMIT: Duration = Duration::from_secs(30);

/// How long a connection waits for its peer to show itself alive after
/// the handshake: the address's connect timeout plus its keep-alive.
///
/// A server's side waits for the client's confirmation: a client confirms
/// as soon as the ACK reaches it; one that does not is gone, or never was
/// (a SYN that a foreign client published, a retained one, a client that
/// gave up waiting and left without a last will). A client's side waits
/// for the server's answer to that confirmation: a server that does not
/// answer died before the client watched its will (so its will never
/// reached the client).
fn confirm_limit(session: &Session) -> Duration {
    session
        .addr
        .connect_timeout()
        .saturating_add(session.addr.keep_alive())
}

pub(crate) struct Driver<P> {
    session: Arc<Session>,
    conn: Arc<Conn>,
    pub(crate) protocol: ProtocolHandle<P>,
    peer: Peer,
    topic: String,
    /// The sequence number of our next stream message.
    seq: u64,
    /// The cost of the stream messages we delivered (or discarded).
    consumed: u64,
    /// What our last WINDOW told the peer.
    acked: u64,
    eof_sent: bool,
    fin_sent: bool,
    peer_eof: bool,
    /// Whether the protocol was told to pause writing.
    write_paused: bool,
    deadline: Option<Instant>,
    /// When an unconfirmed connection gives up on its peer (see
    /// [`confirm_limit`]); `None` once the peer is confirmed.
    confirm_by: Option<Instant>,
}

/// What the driver does next, decided under the state lock.
enum Next {
    Fail(Error),
    Abort,
    Deliver(Msg),
    Idle,
}

impl<P: Protocol> Driver<P> {
    pub(crate) fn new(
        session: Arc<Session>,
        conn: Arc<Conn>,
        protocol: ProtocolHandle<P>,
        peer: Peer,
    ) -> Self {
        // A limit beyond what `Instant` holds is no limit. Set even if the
        // peer is confirmed already: the first round then answers it.
        let confirm_by = Instant::now().checked_add(confirm_limit(&session));
        Driver {
            confirm_by,
            topic: wire::inbox_topic(&peer.sid),
            session,
            conn,
            protocol,
            peer,
            seq: 1,
            consumed: 0,
            acked: 0,
            eof_sent: false,
            fin_sent: false,
            peer_eof: false,
            write_paused: false,
            deadline: None,
        }
    }

    async fn send(&self, msg: Msg) -> Result<(), Error> {
        self.publish(msg.encode()).await
    }

    /// Publishes to the peer, unless the connection fails first (see
    /// [`until_failed`]): then the error is the failure.
    async fn publish(&self, payload: Bytes) -> Result<(), Error> {
        match until_failed(&self.conn, self.session.publish(&self.topic, payload)).await {
            Ok(published) => published,
            Err(failure) => {
                self.reset_peer(&failure);
                Err(failure)
            }
        }
    }

    /// Tells the peer that the connection failed, if it can still hear us
    /// (unless the failure is its own reset). Without waiting: the
    /// session's outbox sends it once the MQTT client has room.
    fn reset_peer(&self, failure: &Error) {
        if !matches!(failure, Error::ConnectionReset) {
            let rst = Msg::new(Kind::Rst, self.peer.conn, self.conn.id, 0);
            self.session.tell_peer(&self.peer.sid, &rst, false);
        }
    }

    /// A stream message (EOF, FIN) with the next sequence number.
    fn stream_msg(&mut self, kind: Kind) -> Msg {
        let msg = Msg::new(kind, self.peer.conn, self.conn.id, self.seq);
        self.seq += 1;
        msg
    }

    /// Runs the connection until it ends; returns `connection_lost`'s error.
    pub(crate) async fn drive(&mut self) -> Option<Error> {
        match self.rounds().await {
            Ok(()) => None,
            Err(Some(e)) => Some(e),
            Err(None) => None,
        }
    }

    /// `Ok` never; `Err(None)` for a clean end, `Err(Some)` for an error.
    async fn rounds(&mut self) -> Result<(), Option<Error>> {
        loop {
            self.deliver().await?;
            self.flow();
            self.publish_written().await?;
            self.ending().await?;
            self.check_confirmed().await?;
            // `notify_one` keeps a permit when nobody waits, so a wake-up
            // that came during the round is not lost.
            let conn = Arc::clone(&self.conn);
            let notified = conn.notify.notified();
            let wake_at = match (self.deadline, self.confirm_by) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            match wake_at {
                Some(at) => {
                    if tokio::time::timeout_at(at, notified).await.is_err()
                        && self.deadline == Some(at)
                    {
                        // The peer did not finish in time: reset.
                        let _ = self
                            .send(Msg::new(Kind::Rst, self.peer.conn, self.conn.id, 0))
                            .await;
                        return Err(None);
                    }
                    // Otherwise the next round checks the confirmation.
                }
                None => notified.await,
            }
        }
    }

    /// Once the peer is confirmed (see `ConnState::confirmed`), a
    /// server's side answers the client's confirmation with a WINDOW (the
    /// client's proof that the server lives on). Ends a connection whose
    /// peer was not confirmed in time (see [`confirm_limit`]) with a
    /// `TimedOut` error that names the peer; resets the peer in case it is
    /// there after all.
    async fn check_confirmed(&mut self) -> Result<(), Option<Error>> {
        let Some(at) = self.confirm_by else {
            return Ok(());
        };
        if self.conn.lock().confirmed {
            self.confirm_by = None;
            if self.conn.accepted {
                let msg = Msg::new(Kind::Window, self.peer.conn, self.conn.id, self.consumed);
                self.acked = self.consumed;
                self.send(msg).await.map_err(Some)?;
            }
            return Ok(());
        }
        if Instant::now() < at {
            return Ok(());
        }
        let _ = self
            .send(Msg::new(Kind::Rst, self.peer.conn, self.conn.id, 0))
            .await;
        let limit = confirm_limit(&self.session);
        let why = if self.conn.accepted {
            format!(
                "the client (MQTT session {}) never confirmed the handshake within {limit:?}: \
                 it is gone, or the handshake was not its own",
                self.peer.sid
            )
        } else {
            format!(
                "the server (MQTT session {}) never answered the confirmation of the handshake \
                 within {limit:?}: it died during the handshake",
                self.peer.sid
            )
        };
        Err(Some(Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            why,
        ))))
    }

    /// Delivers what arrived, and acknowledges it.
    async fn deliver(&mut self) -> Result<(), Option<Error>> {
        loop {
            let next = {
                let mut st = self.conn.lock();
                if let Some(e) = st.failed.take() {
                    Next::Fail(e)
                } else if st.aborted {
                    Next::Abort
                } else if st.reading_paused && !st.closing {
                    Next::Idle
                } else if let Some(msg) = st.inbound.pop_front() {
                    st.inbound_bytes -= cost(&msg);
                    Next::Deliver(msg)
                } else {
                    Next::Idle
                }
            };
            let msg = match next {
                Next::Fail(e) => {
                    self.reset_peer(&e);
                    return Err(Some(e));
                }
                Next::Abort => {
                    let _ = self
                        .send(Msg::new(Kind::Rst, self.peer.conn, self.conn.id, 0))
                        .await;
                    return Err(None);
                }
                Next::Idle => break,
                Next::Deliver(msg) => msg,
            };
            self.consumed += cost(&msg);
            let closing = self.conn.lock().closing;
            match msg.kind {
                Kind::Data if closing => {} // we stopped receiving
                Kind::Data => self.protocol.with(|p| p.data_received(msg.payload)),
                Kind::Eof => {
                    self.peer_eof = true;
                    if !closing && !self.protocol.with(|p| p.eof_received()) {
                        self.conn.close();
                    }
                }
                _ => {
                    // FIN: the peer closed. Answer with ours, then end.
                    if !self.fin_sent {
                        let fin = self.stream_msg(Kind::Fin);
                        let _ = self.send(fin).await;
                    }
                    return Err(None);
                }
            }
        }
        if self.consumed - self.acked >= WINDOW / 4 {
            // A writer stalls only with (almost) a whole window in flight,
            // so a quarter-window threshold always releases it, without a
            // WINDOW message per small request.
            let msg = Msg::new(Kind::Window, self.peer.conn, self.conn.id, self.consumed);
            self.acked = self.consumed;
            self.send(msg).await.map_err(Some)?;
        }
        Ok(())
    }

    /// Tells the protocol about pause/resume transitions.
    fn flow(&mut self) {
        let paused = self.conn.lock().flow.is_paused();
        let event = match (self.write_paused, paused) {
            (false, true) => FlowEvent::Pause,
            (true, false) => FlowEvent::Resume,
            _ => return,
        };
        self.write_paused = paused;
        self.protocol.with(|p| match event {
            FlowEvent::Pause => p.pause_writing(),
            FlowEvent::Resume => p.resume_writing(),
        });
    }

    /// Publishes written data, as much as the peer's window allows.
    async fn publish_written(&mut self) -> Result<(), Option<Error>> {
        loop {
            let chunks = self.conn.update_quietly(|st| {
                let left = st.window_left();
                if st.queue.is_empty() || st.aborted || left <= HEADER as u64 {
                    return None;
                }
                let room = MAX_DATA.min(usize::try_from(left).unwrap_or(MAX_DATA) - HEADER);
                let mut chunks = Vec::new();
                let mut len = 0;
                while len < room {
                    let Some(front) = st.queue.front_mut() else {
                        break;
                    };
                    let take = front.len().min(room - len);
                    let piece: Bytes = if take == front.len() {
                        st.queue.pop_front().unwrap_or_default()
                    } else {
                        front.split_to(take)
                    };
                    len += piece.len();
                    chunks.push(piece);
                }
                st.queued -= len;
                st.sent_total += (len + HEADER) as u64;
                Some(chunks)
            });
            let Some(chunks) = chunks else {
                break;
            };
            let data = Msg::encode_data(self.peer.conn, self.conn.id, self.seq, &chunks);
            self.seq += 1;
            self.publish(data).await.map_err(Some)?;
        }
        Ok(())
    }

    /// Half-close and close, once everything written before them is out.
    async fn ending(&mut self) -> Result<(), Option<Error>> {
        let (drained, eof, closing, left) = {
            let st = self.conn.lock();
            (
                st.queue.is_empty(),
                st.eof_requested,
                st.closing,
                st.window_left(),
            )
        };
        if self.eof_sent && self.peer_eof {
            // Both sides half-closed: nothing more can happen.
            return Err(None);
        }
        if !drained || left < HEADER as u64 {
            if closing && self.deadline.is_none() {
                self.deadline = Some(Instant::now() + FLUSH_LIMIT);
            }
            return Ok(());
        }
        if closing && !self.fin_sent {
            let fin = self.stream_msg(Kind::Fin);
            self.conn
                .update_quietly(|st| st.sent_total += HEADER as u64);
            self.fin_sent = true;
            self.deadline = Some(Instant::now() + LINGER);
            self.send(fin).await.map_err(Some)?;
        } else if eof && !self.eof_sent && !closing {
            let msg = self.stream_msg(Kind::Eof);
            self.conn
                .update_quietly(|st| st.sent_total += HEADER as u64);
            self.eof_sent = true;
            self.send(msg).await.map_err(Some)?;
            if self.peer_eof {
                return Err(None);
            }
        }
        Ok(())
    }
}
