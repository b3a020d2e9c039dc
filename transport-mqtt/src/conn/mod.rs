//! One connection: its shared state, its driver task, and how it starts.
//!
//! - `state`: what transport handles, the driver and the session's event
//!   loop share (the write queue, flags, flow control, incoming messages);
//! - `driver`: the task that owns the protocol, publishes what was written
//!   and delivers what arrived.
//!
//! A connection's life, all in its own task: (server side: watching the
//! client's will, the ACK) → `connection_made` → the driver's events → `connection_lost` exactly
//! once → the connection leaves its session and the server's tracker.

mod driver;
pub(crate) mod state;

use std::sync::Arc;

use tokio::sync::oneshot;
use transport_api::{
    AbortGuard, ConnectionToken, Endpoint, Error, Protocol, ProtocolFactory, ProtocolHandle,
    Result, SharedTransport,
};

pub(crate) use state::{Conn, Handshake, Peer};

use crate::session::{random_u64, Abandon, Session};
use crate::wire::{self, Kind, Msg, WINDOW};
use crate::{MqttAddr, MqttTransport};
use driver::Driver;

/// Marks the connection finished however its task ends (also on a panic in
/// a protocol callback), so that writers get `Closed`. If the task ends
/// before its normal end (a protocol callback or the protocol factory
/// panicked, or the runtime dropped the task), the peer is told (RST, or
/// REFUSE if the handshake was not answered yet; through the session's
/// outbox, which waits for room in the MQTT client's queue), as a socket's
/// peer is reset when its driver goes, and the connection leaves its
/// session; otherwise the peer would wait forever and the session never
/// end.
struct FinishGuard {
    conn: Arc<Conn>,
    session: Arc<Session>,
    peer: Option<Peer>,
    /// Whether our side of the handshake is done (the server sent its ACK).
    answered: bool,
    /// Whether the peer's will is watched (counted in the session).
    watching: bool,
    /// Set once the task has ended normally.
    done: bool,
}

impl Drop for FinishGuard {
    fn drop(&mut self) {
        self.conn.finish();
        if self.done {
            return;
        }
        if let Some(peer) = &self.peer {
            let msg = if self.answered {
                Msg::new(Kind::Rst, peer.conn, self.conn.id, 0)
            } else {
                Msg::new(Kind::Refuse, peer.conn, 0, 0)
            };
            self.session.tell_peer(&peer.sid, &msg, false);
        }
        let watched = self.peer.as_ref().filter(|_| self.watching);
        self.session
            .remove_conn(self.conn.id, watched.map(|p| p.sid.as_str()));
    }
}

/// Runs `request` (one to the MQTT client, which waits while the client's
/// request queue is full) unless `conn` fails first. Nothing empties that
/// queue while a server's session waits to reconnect to a lost broker, so
/// a connection that lost the broker must not wait for room in it.
///
/// # Errors
///
/// Why the connection failed (taken from it, for the caller to end the
/// connection with); the request is then not sent.
pub(crate) async fn until_failed<T>(
    conn: &Conn,
    request: impl std::future::Future<Output = T>,
) -> std::result::Result<T, Error> {
    tokio::pin!(request);
    let mut woken = false;
    let result = loop {
        let notified = conn.notify.notified();
        if let Some(e) = conn.lock().failed.take() {
            break Err(e);
        }
        tokio::select! {
            biased;
            r = &mut request => break Ok(r),
            () = notified => woken = true,
        }
    };
    if woken {
        // The wake-up may have been for the driver (data, a close): pass
        // it on to its next wait.
        conn.notify.notify_one();
    }
    result
}

/// A handshake message (SYN, or either side's ACK) from our connection
/// `src` to `dst`: it offers our window and carries our session's id, the
/// inbox the peer answers to.
fn handshake_msg(session: &Session, kind: Kind, dst: u64, src: u64) -> Msg {
    let mut msg = Msg::new(kind, dst, src, WINDOW);
    msg.payload = bytes::Bytes::from(session.sid.clone().into_bytes());
    msg
}

/// Runs one connection to its end. A server's connection makes its
/// protocol here (`factory`), so that a factory that panics ends this
/// task, not the session's event loop.
async fn run<P: Protocol>(
    session: Arc<Session>,
    conn: Arc<Conn>,
    transport: MqttTransport,
    protocol: impl FnOnce() -> ProtocolHandle<P>,
    made: Option<oneshot::Sender<Result<()>>>,
    token: Option<ConnectionToken>,
) {
    // A client's connection watches its server's will already (`connect`).
    let client = made.is_some();
    let mut guard = FinishGuard {
        conn: Arc::clone(&conn),
        session: Arc::clone(&session),
        peer: conn.lock().peer.clone(),
        answered: client,
        watching: client,
        done: false,
    };
    let Some(peer) = guard.peer.clone() else {
        return;
    };
    let protocol = protocol();
    if !client {
        // Server side: watch the client's will, then accept the handshake.
        // In this order, the client's confirmation (an answer to our ACK,
        // which the broker takes after our SUBSCRIBE) shows it alive after
        // its will was watched: if it dies from then on, we hear of it;
        // if it died before, no confirmation comes (see the driver's
        // `check_confirmed`).
        // Counted as soon as `watch_peer` starts (it counts before it waits).
        guard.watching = true;
        if let Err(e) = until_failed(&conn, session.watch_peer(&peer.sid)).await {
            conn.fail(e);
        }
        let ack = handshake_msg(&session, Kind::Ack, peer.conn, conn.id);
        let topic = wire::inbox_topic(&peer.sid);
        if let Ok(Err(e)) | Err(e) =
            until_failed(&conn, session.publish(&topic, ack.encode())).await
        {
            conn.fail(e);
        }
        guard.answered = true;
    }
    // A panic in `connection_made` ends the connection here: the guard
    // resets it toward the peer, and the protocol gets nothing more.
    let outcome = protocol.connection_made(Arc::new(transport) as SharedTransport);
    let panicked = outcome.is_err();
    if let Some(made) = made {
        let _ = made.send(outcome);
    }
    if panicked {
        return;
    }
    let mut driver = Driver::new(
        Arc::clone(&session),
        Arc::clone(&conn),
        protocol,
        peer.clone(),
    );
    let error = driver.drive().await;
    conn.finish();
    driver.protocol.with(|p| p.connection_lost(error));
    drop(driver);
    guard.done = true;
    drop(guard);
    session.remove_conn(conn.id, Some(&peer.sid));
    drop(token);
}

/// Starts the task of a connection that a server's session accepted.
pub(crate) fn spawn_accepted(
    session: Arc<Session>,
    conn: Arc<Conn>,
    factory: ProtocolFactory,
    token: ConnectionToken,
) {
    let transport = MqttTransport::new(Arc::clone(&conn));
    let protocol = move || ProtocolHandle::new(factory());
    tokio::spawn(run(session, conn, transport, protocol, None, Some(token)));
}

/// Opens a connection to the server at `addr`: a session of its own, the
/// handshake, then the driver task; returns once `connection_made` returned.
///
/// # Errors
///
/// `ConnectionRefused` naming `addr` when no server answers within the
/// address's connect timeout (or the broker cannot be reached);
/// `PermissionDenied` naming the inbox when the broker refuses to
/// subscribe the client's session to it; `ProtocolPanicked` when
/// `protocol`'s `connection_made` panicked (the connection is then reset).
pub(crate) async fn connect<P: Protocol>(
    addr: &MqttAddr,
    protocol: P,
) -> Result<(MqttTransport, ProtocolHandle<P>)> {
    let session = Session::start(addr, None).await?;
    let conn = Arc::new(Conn::new(
        random_u64(),
        Endpoint::Other(format!("mqtt:~{}", session.sid)),
        Endpoint::Other(format!("mqtt:{}", addr.name())),
        None,
    ));
    let refused = |why: &str| Error::ConnectionRefused {
        addr: addr.to_string(),
        source: Some(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            why.to_string(),
        )),
    };
    // Until the driver task takes over, a failure or a dropped future
    // takes the connection out and ends the session.
    let abandon = Abandon::new(Arc::clone(&session), Some(conn.id));
    let outcome = async {
        session.add_conn(&conn)?;
        let syn = handshake_msg(&session, Kind::Syn, 0, conn.id);
        session
            .publish(&wire::server_topic(addr.name()), syn.encode())
            .await?;
        // The answer, or why none can come (the session lost its broker).
        let answer = async {
            loop {
                let notified = conn.notify.notified();
                {
                    let mut st = conn.lock();
                    if let Some(e) = st.failed.take() {
                        return Err(e);
                    }
                    if st.handshake != Handshake::Waiting {
                        return Ok(st.handshake);
                    }
                }
                notified.await;
            }
        };
        match tokio::time::timeout(addr.connect_timeout(), answer).await {
            Ok(Ok(Handshake::Accepted)) => {}
            Ok(Ok(_)) => return Err(refused("the server refused")),
            Ok(Err(e)) => return Err(refused(&e.to_string())),
            Err(_) => return Err(refused("no server answered in time")),
        }
        // Watch the server's will, then confirm the handshake: the
        // server's half waits for word from us before it takes us for real
        // (before any of our data, on the same topic, so in order). The
        // server answers the confirmation (a WINDOW), which shows it alive
        // after its will was watched (the broker takes our SUBSCRIBE before
        // our confirmation): a server that died before, whose will we
        // missed, does not answer, and the driver ends the connection (see
        // its `check_confirmed`).
        let peer = conn.lock().peer.clone();
        if let Some(peer) = peer {
            session.watch_peer(&peer.sid).await;
            let confirm = handshake_msg(&session, Kind::Ack, peer.conn, conn.id);
            session
                .publish(&wire::inbox_topic(&peer.sid), confirm.encode())
                .await?;
        }
        Ok(())
    }
    .await;
    outcome?;
    let handle = ProtocolHandle::new(protocol);
    let (made_tx, made_rx) = oneshot::channel();
    let transport = MqttTransport::new(Arc::clone(&conn));
    let protocol = {
        let handle = handle.clone();
        move || handle
    };
    tokio::spawn(run(
        session,
        conn,
        transport.clone(),
        protocol,
        Some(made_tx),
        None,
    ));
    abandon.disarm();
    // A caller that gives up now must not leave the connection to its
    // protocol alone: nobody would ever close it.
    let transport = AbortGuard::new(transport);
    made_rx.await.map_err(|_| Error::Closed)??;
    Ok((transport.keep(), handle))
}
