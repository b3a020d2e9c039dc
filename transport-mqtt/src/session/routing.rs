//! Routing what arrives on a session's topics: messages to their
//! connections, SYNs to the listener, last wills to the connections they
//! end; everything else is dropped with a warning.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use transport_api::Error;

use super::{random_u64, Session, MAX_CONNS};
use crate::conn::Conn;
use crate::wire::{self, Kind, Msg};

impl Session {
    /// Routes one incoming publish.
    pub(super) fn dispatch(self: &Arc<Self>, topic: &str, payload: Bytes) {
        if topic == self.inbox {
            let msg = match Msg::decode(payload) {
                Ok(msg) => msg,
                Err(why) => {
                    tracing::warn!(topic, "ignoring a malformed message: {why}");
                    return;
                }
            };
            let conn = self.routes().conns.get(&msg.dst).cloned();
            if msg.kind == Kind::Ack {
                let stray = match &conn {
                    Some(c) => c.lock().peer.as_ref().is_some_and(|p| p.conn != msg.src),
                    None => true,
                };
                if stray {
                    self.reset_stray_ack(&msg);
                    return;
                }
            }
            match conn {
                Some(conn) => {
                    let kind = msg.kind;
                    if let Err(why) = conn.receive(msg) {
                        tracing::warn!(topic, ?kind, "ignoring a message: {why}");
                    }
                }
                None if matches!(msg.kind, Kind::Window | Kind::Rst | Kind::Fin) => {
                    // Late news about a connection that already ended.
                }
                None => tracing::warn!(
                    topic,
                    kind = ?msg.kind,
                    "ignoring a message for unknown connection {:016x}",
                    msg.dst
                ),
            }
        } else if let Some(peer) = topic.strip_prefix(&format!("{}/will/", wire::PREFIX)) {
            self.peer_gone(peer);
        } else if topic.starts_with(&format!("{}/srv/", wire::PREFIX)) {
            self.syn(topic, payload);
        } else {
            tracing::warn!(
                topic,
                "ignoring a message on a topic we did not subscribe to"
            );
        }
    }

    /// An ACK for a handshake we are not waiting for (a duplicate SYN, or a
    /// replayed one, made the server start a connection that nobody will
    /// use): reset that connection, as TCP answers an unexpected segment.
    fn reset_stray_ack(&self, msg: &Msg) {
        match std::str::from_utf8(&msg.payload) {
            Ok(sid) if wire::valid_sid(sid) => {
                tracing::warn!(
                    server_conn = format_args!("{:016x}", msg.src),
                    "resetting a connection from a stray ACK"
                );
                self.try_publish(
                    wire::inbox_topic(sid),
                    &Msg::new(Kind::Rst, msg.src, msg.dst, 0),
                );
            }
            _ => tracing::warn!("ignoring an ACK with a bad session id"),
        }
    }

    /// A peer session's last will: its connections end with an error.
    fn peer_gone(&self, peer: &str) {
        let conns: Vec<Arc<Conn>> = self.routes().conns.values().cloned().collect();
        for conn in conns {
            let matches = conn.lock().peer.as_ref().is_some_and(|p| p.sid == peer);
            if matches {
                conn.fail(Error::Io(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    format!("the peer's MQTT session {peer} died (last will)"),
                )));
            }
        }
    }

    /// A SYN on the server topic: accept (start a connection) or refuse.
    fn syn(self: &Arc<Self>, topic: &str, payload: Bytes) {
        let msg = match Msg::decode(payload) {
            Ok(msg) if msg.kind == Kind::Syn => msg,
            Ok(msg) => {
                tracing::warn!(topic, kind = ?msg.kind, "ignoring a non-SYN on a server topic");
                return;
            }
            Err(why) => {
                tracing::warn!(topic, "ignoring a malformed message: {why}");
                return;
            }
        };
        let Some(peer_sid) = std::str::from_utf8(&msg.payload)
            .ok()
            .filter(|s| wire::valid_sid(s))
        else {
            tracing::warn!(topic, "ignoring a SYN with a bad session id");
            return;
        };
        let reply_to = wire::inbox_topic(peer_sid);
        let mut routes = self.routes();
        let duplicate = routes.conns.values().any(|c| {
            c.lock()
                .peer
                .as_ref()
                .is_some_and(|p| p.conn == msg.src && p.sid == peer_sid)
        });
        if duplicate {
            return; // a QoS 1 duplicate of a SYN we answered
        }
        let accept = match &routes.listener {
            Some(l) if l.serving && !routes.ended && routes.conns.len() < MAX_CONNS => {
                Some((l.factory.clone(), l.tracker.track(), l.name.clone()))
            }
            _ => None,
        };
        let Some((factory, token, name)) = accept else {
            drop(routes);
            self.try_publish(reply_to, &Msg::new(Kind::Refuse, msg.src, 0, 0));
            return;
        };
        let conn = Arc::new(Conn::new(
            random_u64(),
            transport_api::Endpoint::Other(format!("mqtt:{name}")),
            transport_api::Endpoint::Other(format!("mqtt:~{peer_sid}")),
            Some(crate::conn::Peer {
                sid: peer_sid.to_owned(),
                conn: msg.src,
            }),
        ));
        routes.conns.insert(conn.id, Arc::clone(&conn));
        drop(routes);
        crate::conn::spawn_accepted(Arc::clone(self), conn, factory, token);
    }
}
