//! [`Session`]: one MQTT client session to the broker, its event loop, and
//! the routing of incoming messages to connections.
//!
//! A server has one session for itself and every connection it accepts; a
//! client connection has a session of its own. Each session subscribes to
//! its inbox, has a last will on its will topic, and subscribes to the will
//! topics of the sessions its connections talk to, so that a peer that dies
//! ends those connections with an error. When the broker goes away, every
//! connection of the session ends with an error; a server's session then
//! reconnects (backing off) and serves new connections once the broker is
//! back. What the session owes without a connection task to wait for it
//! (resets, refusals, unsubscriptions, its DISCONNECT) goes through its
//! [`Outbox`], which waits for room in the MQTT client's request queue.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use rumqttc::{
    AsyncClient, ConnectionError, LastWill, MqttOptions, QoS, SubscribeReasonCode,
    TlsConfiguration, Transport as MqttTransport,
};
use tokio::sync::watch;
use transport_api::{ConnectionTracker, Error, ProtocolFactory, Result};

use crate::conn::Conn;
use crate::wire::{self, Msg};
use crate::MqttAddr;
use outbox::{Control, Outbox};
use suback::{check_suback, subscribe_filters};
use table::ConnTable;

mod event_loop;
mod outbox;
mod routing;
mod suback;
mod table;

/// The largest MQTT packet we accept from the broker. Larger ones end the
/// session (the MQTT client cannot skip them), so configure the broker's own
/// limit (`max_packet_size` in mosquitto) at or below this.
pub const MAX_INCOMING_PACKET: usize = 1024 * 1024;

/// At most this many connections per server; SYNs beyond it are refused.
const MAX_CONNS: usize = 16 * 1024;

/// A random 64-bit number (std's per-process random hash keys, a clock and a
/// counter; no cryptographic claims, just unguessable enough for ids).
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let x = RandomState::new().hash_one((n, now, std::process::id()));
    x.max(1)
}

/// What a server's session listens for.
pub(crate) struct Listener {
    pub(crate) name: String,
    pub(crate) factory: ProtocolFactory,
    pub(crate) tracker: ConnectionTracker,
    pub(crate) serving: bool,
}

#[derive(Default)]
pub(super) struct Routes {
    conns: ConnTable,
    /// Peer session id → how many of our connections talk to it.
    wills: HashMap<String, usize>,
    listener: Option<Listener>,
    /// Disconnected (or about to): nothing new may start.
    ended: bool,
}

/// What the event loop reports.
#[derive(Debug, Clone, Default)]
pub(crate) struct Status {
    connected: bool,
    /// The return codes of the first SUBACK since the session started: the
    /// broker's answer to the subscription to the session's own topics
    /// (the only SUBSCRIBE before `start` returns, in the order of
    /// [`Session::own_topics`]; a resubscription after a reconnect during
    /// `start` subscribes to the same topics in the same order).
    first_suback: Option<Vec<SubscribeReasonCode>>,
    /// Why the session is gone for good.
    down: Option<String>,
}

/// One MQTT session.
pub(crate) struct Session {
    pub(crate) sid: String,
    client: AsyncClient,
    pub(crate) addr: MqttAddr,
    inbox: String,
    routes: Mutex<Routes>,
    status: watch::Sender<Status>,
    outbox: Arc<Outbox>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("sid", &self.sid)
            .field("broker", &self.addr.broker_url())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Connects a new session to `addr`'s broker, subscribed to its inbox
    /// (and, for a server, to the server's topic).
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` naming the broker when it cannot be reached in
    /// the address's connect timeout; an [`Error::Io`] of kind
    /// `PermissionDenied` naming the topic filters the broker refused to
    /// subscribe us to (SUBACK return code 0x80, e.g. its ACLs);
    /// [`Error::NoRuntime`] outside tokio.
    pub(crate) async fn start(addr: &MqttAddr, listener: Option<Listener>) -> Result<Arc<Session>> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let sid = format!("{:016x}", random_u64());
        let client_id = format!("{}-{sid}", addr.client_id());
        check_mqtt_strings(addr, &client_id)?;
        let mut options = MqttOptions::new(client_id, addr.host(), addr.port());
        options
            .set_keep_alive(addr.keep_alive())
            .set_clean_session(true)
            .set_max_packet_size(MAX_INCOMING_PACKET, wire::HEADER + wire::MAX_DATA + 1024)
            .set_last_will(LastWill::new(
                wire::will_topic(&sid),
                Bytes::from_static(b"gone"),
                QoS::AtLeastOnce,
                false,
            ));
        if let Some((user, password)) = addr.credentials() {
            options.set_credentials(user, password);
        }
        if addr.is_tls() {
            options.set_transport(MqttTransport::tls_with_config(tls_config(addr)?));
        }
        let (client, mut eventloop) = AsyncClient::new(options, 256);
        // Small messages must not wait for Nagle's algorithm (a request and
        // its reply would each wait for a delayed ACK).
        let mut network = eventloop.network_options();
        network.set_tcp_nodelay(true);
        eventloop.set_network_options(network);
        let session = Arc::new(Session {
            inbox: wire::inbox_topic(&sid),
            outbox: Outbox::new(client.clone(), sid.clone()),
            sid,
            client,
            addr: addr.clone(),
            routes: Mutex::new(Routes {
                listener,
                ..Routes::default()
            }),
            status: watch::Sender::new(Status::default()),
        });
        // One SUBSCRIBE for all of them: one SUBACK, its return codes in
        // the order of the topics.
        let topics = session.own_topics();
        session
            .client
            .try_subscribe_many(subscribe_filters(&topics))
            .map_err(|e| Error::Io(io::Error::other(e)))?;
        runtime.spawn(event_loop::run(Arc::clone(&session), eventloop));
        // Dropped or failed before it is handed out: nobody else would end
        // the session, and its event loop would run forever.
        let abandon = Abandon::new(Arc::clone(&session), None);
        let mut status = session.status.subscribe();
        let wait = status.wait_for(|s| s.down.is_some() || s.first_suback.is_some());
        let refused = |why: String| Error::ConnectionRefused {
            addr: addr.broker_url(),
            source: Some(io::Error::new(io::ErrorKind::ConnectionRefused, why)),
        };
        let codes = match tokio::time::timeout(
            addr.connect_timeout().saturating_add(addr.keep_alive()),
            wait,
        )
        .await
        {
            Ok(Ok(s)) if s.down.is_none() => s.first_suback.clone().unwrap_or_default(),
            Ok(Ok(s)) => return Err(refused(s.down.clone().unwrap_or_default())),
            Ok(Err(_)) => return Err(refused("the MQTT event loop ended".into())),
            Err(_) => return Err(refused("no answer from the broker in time".into())),
        };
        check_suback(addr, &topics, &codes)?;
        abandon.disarm();
        Ok(session)
    }

    pub(super) fn routes(&self) -> MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes `msg` to `topic` (QoS 1).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the session's event loop is gone.
    pub(crate) async fn publish(&self, topic: &str, payload: Bytes) -> Result<()> {
        self.client
            .publish_bytes(topic, QoS::AtLeastOnce, false, payload)
            .await
            .map_err(|_| Error::Closed)
    }

    /// Sends `msg` to `peer`'s inbox without waiting: at once if the MQTT
    /// client's request queue has room, or later through the outbox (see
    /// [`Outbox`]). `provoked`: a peer's message made us send it (a
    /// REFUSE, the reset of a stray ACK), so it is dropped first when too
    /// many wait; otherwise one of our connections owes it (one each).
    pub(crate) fn tell_peer(&self, peer: &str, msg: &Msg, provoked: bool) {
        self.outbox.send(Control::Publish {
            topic: wire::inbox_topic(peer),
            payload: msg.encode(),
            provoked,
        });
    }

    /// Registers a connection so that its messages reach it.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the session has ended.
    pub(crate) fn add_conn(&self, conn: &Arc<Conn>) -> Result<()> {
        let mut routes = self.routes();
        if routes.ended {
            return Err(Error::Closed);
        }
        routes.conns.insert(Arc::clone(conn));
        Ok(())
    }

    /// Starts watching `peer`'s last will (counted per connection).
    pub(crate) async fn watch_peer(&self, peer: &str) {
        let first = {
            let mut routes = self.routes();
            let n = routes.wills.entry(peer.to_owned()).or_insert(0);
            *n += 1;
            *n == 1
        };
        if first {
            let _ = self
                .client
                .subscribe(wire::will_topic(peer), QoS::AtLeastOnce)
                .await;
        }
    }

    /// Forgets a finished connection (`peer`: the session whose will it
    /// watched, if any); ends the session if nothing is left in it, or
    /// else stops watching the peer's will if this was the last
    /// connection to it. Does not wait (the outbox does).
    pub(crate) fn remove_conn(&self, id: u64, peer: Option<&str>) {
        let (unwatch, end) = self.forget_conn(id, peer);
        if end {
            self.end();
        } else if let Some(peer) = peer.filter(|_| unwatch) {
            self.outbox
                .send(Control::Unsubscribe(wire::will_topic(peer)));
        }
    }

    /// Takes a finished connection out of the routes; whether its peer's
    /// will is no longer watched, and whether the session should end.
    fn forget_conn(&self, id: u64, peer: Option<&str>) -> (bool, bool) {
        let mut routes = self.routes();
        routes.conns.remove(id);
        let mut unwatch = false;
        if let Some(peer) = peer {
            if let Some(n) = routes.wills.get_mut(peer) {
                *n -= 1;
                if *n == 0 {
                    routes.wills.remove(peer);
                    unwatch = true;
                }
            }
        }
        (unwatch, should_end(&routes))
    }

    /// Stops listening (server close); the session ends once its
    /// connections have.
    pub(crate) fn stop_listening(&self) {
        let (name, end) = {
            let mut routes = self.routes();
            let Some(listener) = routes.listener.as_mut() else {
                return;
            };
            if !listener.serving {
                return;
            }
            listener.serving = false;
            listener.tracker.close();
            (listener.name.clone(), should_end(&routes))
        };
        self.outbox
            .send(Control::Unsubscribe(wire::server_topic(&name)));
        if end {
            self.end();
        }
    }

    pub(crate) fn is_serving(&self) -> bool {
        self.routes().listener.as_ref().is_some_and(|l| l.serving)
    }

    /// Disconnects from the broker (cleanly: no last will), after what
    /// the session still owes its peers (see [`Outbox`]). With the event
    /// loop gone, or outside a runtime, the event loop stops on its own
    /// (it checks `ended` after every error).
    fn end(&self) {
        {
            let mut routes = self.routes();
            if routes.ended {
                return;
            }
            routes.ended = true;
        }
        self.outbox.disconnect();
    }

    /// The broker connection failed: every connection ends with `err`.
    fn broker_lost(&self, err: &ConnectionError) {
        let conns = self.routes().conns.all();
        for conn in conns {
            conn.fail(Error::Io(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                format!("lost the MQTT broker at {}: {err}", self.addr.broker_url()),
            )));
        }
    }

    /// Whether to reconnect after an error: a server that still serves.
    fn should_reconnect(&self) -> bool {
        let routes = self.routes();
        !routes.ended && routes.listener.as_ref().is_some_and(|l| l.serving)
    }

    /// The topics the session itself listens on: its inbox, and a
    /// serving listener's server topic.
    fn own_topics(&self) -> Vec<String> {
        let mut topics = vec![self.inbox.clone()];
        let routes = self.routes();
        if let Some(l) = routes.listener.as_ref().filter(|l| l.serving) {
            topics.push(wire::server_topic(&l.name));
        }
        topics
    }

    /// Subscribes again after a reconnect (the broker forgot us), in one
    /// SUBSCRIBE as [`start`](Self::start) does. The request queue may be
    /// full (what the connections that ended with the broker queued
    /// meanwhile); the event loop, which calls this, empties it, so the
    /// outbox waits for room instead, and sends this first: without it the
    /// server would never hear a SYN again.
    fn resubscribe(&self) {
        self.outbox.resubscribe(self.own_topics());
    }
}

/// The longest string an MQTT packet holds (a 16-bit length).
const MAX_MQTT_STRING: usize = u16::MAX as usize;

/// Checks that the client id and the credentials fit in MQTT strings (the
/// MQTT client would cut their length prefix and send a malformed CONNECT,
/// which the broker drops without saying why).
///
/// # Errors
///
/// [`Error::InvalidAddress`] naming the one that is too long.
fn check_mqtt_strings(addr: &MqttAddr, client_id: &str) -> Result<()> {
    let (user, password) = addr.credentials().unwrap_or(("", ""));
    for (what, value) in [
        ("client id", client_id),
        ("user name", user),
        ("password", password),
    ] {
        if value.len() > MAX_MQTT_STRING {
            return Err(Error::invalid_address(
                addr.to_string(),
                format!(
                    "the MQTT {what} is {} bytes long, more than the {MAX_MQTT_STRING} an MQTT \
                     string holds",
                    value.len()
                ),
            ));
        }
    }
    Ok(())
}

/// Undoes a session start or a connect that did not finish, because it
/// failed or because its future was dropped (a caller's timeout): forgets
/// the connection, if any, and ends the session if nothing is left in it.
/// [`disarm`](Self::disarm) it once the work is handed over.
pub(crate) struct Abandon {
    session: Arc<Session>,
    conn: Option<u64>,
    armed: bool,
}

impl Abandon {
    pub(crate) fn new(session: Arc<Session>, conn: Option<u64>) -> Self {
        Abandon {
            session,
            conn,
            armed: true,
        }
    }

    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        match self.conn {
            Some(id) => self.session.remove_conn(id, None),
            None => self.session.end(),
        }
    }
}

fn should_end(routes: &Routes) -> bool {
    routes.conns.is_empty() && !routes.listener.as_ref().is_some_and(|l| l.serving)
}

/// The rustls configuration for `mqtts://`: the address's own, or one with
/// the platform's root certificates.
fn tls_config(addr: &MqttAddr) -> Result<TlsConfiguration> {
    if let Some(config) = addr.tls_config() {
        return Ok(TlsConfiguration::Rustls(Arc::clone(config)));
    }
    Err(Error::Tls {
        message: format!(
            "{} needs a rustls client configuration (MqttAddr::with_tls_config)",
            addr.broker_url()
        ),
        source: None,
    })
}
