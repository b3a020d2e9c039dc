//! One connection: its shared state, its driver task, and how it starts.
//!
//! - `state`: what transport handles, the driver and the session's event
//!   loop share (the write queue, flags, flow control, incoming messages);
//! - `driver`: the task that owns the protocol, publishes what was written
//!   and delivers what arrived.
//!
//! A connection's life, all in its own task: (server side: the ACK) →
//! `connection_made` → the driver's events → `connection_lost` exactly
//! once → the connection leaves its session and the server's tracker.

mod driver;
mod state;

use std::sync::Arc;

use tokio::sync::oneshot;
use transport_api::{
    ConnectionToken, Endpoint, Error, Protocol, ProtocolFactory, ProtocolHandle, Result,
    SharedTransport,
};

pub(crate) use state::{Conn, Handshake, Peer};

use crate::session::{random_u64, Session};
use crate::wire::{self, Kind, Msg, WINDOW};
use crate::{MqttAddr, MqttTransport};
use driver::Driver;

/// Marks the connection finished however its task ends (also on a panic in
/// a protocol callback), so that writers get `Closed`.
struct FinishGuard(Arc<Conn>);

impl Drop for FinishGuard {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// Runs one connection to its end.
async fn run<P: Protocol>(
    session: Arc<Session>,
    conn: Arc<Conn>,
    transport: MqttTransport,
    protocol: ProtocolHandle<P>,
    made: Option<oneshot::Sender<()>>,
    token: Option<ConnectionToken>,
) {
    let guard = FinishGuard(Arc::clone(&conn));
    let Some(peer) = conn.lock().peer.clone() else {
        return;
    };
    if made.is_none() {
        // Server side: accept the handshake first.
        let mut ack = Msg::new(Kind::Ack, peer.conn, conn.id, WINDOW);
        ack.payload = bytes::Bytes::from(session.sid.clone().into_bytes());
        if let Err(e) = session
            .publish(&wire::inbox_topic(&peer.sid), ack.encode())
            .await
        {
            conn.fail(e);
        }
    }
    session.watch_peer(&peer.sid).await;
    protocol.with(|p| p.connection_made(Arc::new(transport) as SharedTransport));
    if let Some(made) = made {
        let _ = made.send(());
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
    drop(guard);
    session.remove_conn(conn.id, Some(&peer.sid)).await;
    drop(token);
}

/// Starts the task of a connection that a server's session accepted.
pub(crate) fn spawn_accepted(
    session: Arc<Session>,
    conn: Arc<Conn>,
    factory: ProtocolFactory,
    token: ConnectionToken,
) {
    let protocol = ProtocolHandle::new(factory());
    let transport = MqttTransport::new(Arc::clone(&conn));
    tokio::spawn(run(session, conn, transport, protocol, None, Some(token)));
}

/// Opens a connection to the server at `addr`: a session of its own, the
/// handshake, then the driver task; returns once `connection_made` returned.
///
/// # Errors
///
/// `ConnectionRefused` naming `addr` when no server answers within the
/// address's connect timeout (or the broker cannot be reached).
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
    let outcome = async {
        session.add_conn(&conn)?;
        let mut syn = Msg::new(Kind::Syn, 0, conn.id, WINDOW);
        syn.payload = bytes::Bytes::from(session.sid.clone().into_bytes());
        session
            .publish(&wire::server_topic(addr.name()), syn.encode())
            .await?;
        let answer = async {
            loop {
                let notified = conn.notify.notified();
                match conn.lock().handshake {
                    Handshake::Waiting => {}
                    done => return done,
                }
                notified.await;
            }
        };
        match tokio::time::timeout(addr.connect_timeout(), answer).await {
            Ok(Handshake::Accepted) => Ok(()),
            Ok(_) => Err(refused("the server refused")),
            Err(_) => Err(refused("no server answered in time")),
        }
    }
    .await;
    if let Err(e) = outcome {
        session.remove_conn(conn.id, None).await;
        return Err(e);
    }
    let handle = ProtocolHandle::new(protocol);
    let (made_tx, made_rx) = oneshot::channel();
    let transport = MqttTransport::new(Arc::clone(&conn));
    tokio::spawn(run(
        session,
        conn,
        transport.clone(),
        handle.clone(),
        Some(made_tx),
        None,
    ));
    made_rx.await.map_err(|_| Error::Closed)?;
    Ok((transport, handle))
}
