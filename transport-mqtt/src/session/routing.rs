//! Routing what arrives on a session's topics: messages to their
//! connections, SYNs to the listener, last wills to the connections they
//! end; everything else is dropped with a warning.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use transport_api::{ConnectionToken, Error, ProtocolFactory};

use super::{random_u64, Routes, Session, MAX_CONNS};
use crate::conn::{Conn, Peer};
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
            let conn = self.routes().conns.get(msg.dst).cloned();
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
                self.tell_peer(sid, &Msg::new(Kind::Rst, msg.src, msg.dst, 0), true);
            }
            _ => tracing::warn!("ignoring an ACK with a bad session id"),
        }
    }

    /// A peer session's last will: its connections end with an error.
    fn peer_gone(&self, peer: &str) {
        let conns = self.routes().conns.all();
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
        let mut routes = self.routes();
        let (factory, token, name) = match routes.answer_syn(peer_sid, msg.src) {
            SynAnswer::Duplicate => return, // a QoS 1 duplicate of a SYN we answered
            SynAnswer::Refuse => {
                drop(routes);
                self.tell_peer(peer_sid, &Msg::new(Kind::Refuse, msg.src, 0, 0), true);
                return;
            }
            SynAnswer::Accept {
                factory,
                token,
                name,
            } => (factory, token, name),
        };
        let peer = Peer {
            sid: peer_sid.to_owned(),
            conn: msg.src,
        };
        let conn = Arc::new(Conn::new(
            random_u64(),
            transport_api::Endpoint::Other(format!("mqtt:{name}")),
            transport_api::Endpoint::Other(format!("mqtt:~{peer_sid}")),
            Some(peer.clone()),
        ));
        routes.conns.insert_accepted(Arc::clone(&conn), peer);
        drop(routes);
        crate::conn::spawn_accepted(Arc::clone(self), conn, factory, token);
    }
}

/// What a SYN gets.
pub(super) enum SynAnswer {
    /// Nothing: a QoS 1 duplicate of a SYN we already answered (we have a
    /// connection accepted from that peer connection).
    Duplicate,
    /// A REFUSE: not serving, the session ending, or [`MAX_CONNS`]
    /// connections already.
    Refuse,
    /// A new connection, made by the listener's factory and counted by its
    /// tracker, under the server's name.
    Accept {
        factory: ProtocolFactory,
        token: ConnectionToken,
        name: String,
    },
}

impl Routes {
    /// How to answer a SYN from connection `peer_conn` of session
    /// `peer_sid`: in O(1), with the connection table's peer index (a flood
    /// of SYNs, duplicates or new, costs no scan of the connections).
    pub(super) fn answer_syn(&self, peer_sid: &str, peer_conn: u64) -> SynAnswer {
        if self.conns.accepted_from(peer_sid, peer_conn).is_some() {
            return SynAnswer::Duplicate;
        }
        match &self.listener {
            Some(l) if l.serving && !self.ended && self.conns.len() < MAX_CONNS => {
                SynAnswer::Accept {
                    factory: l.factory.clone(),
                    token: l.tracker.track(),
                    name: l.name.clone(),
                }
            }
            _ => SynAnswer::Refuse,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use bytes::Bytes;
    use transport_api::{boxed_factory, ConnectionTracker, Endpoint, Protocol, SharedTransport};

    use super::*;
    use crate::session::Listener;

    struct Silent;

    impl Protocol for Silent {
        fn connection_made(&mut self, _: SharedTransport) {}
        fn data_received(&mut self, _: Bytes) {}
    }

    fn serving() -> Routes {
        Routes {
            listener: Some(Listener {
                name: "srv".into(),
                factory: boxed_factory(|| Silent),
                tracker: ConnectionTracker::new(),
                serving: true,
            }),
            ..Routes::default()
        }
    }

    /// What `Session::syn` does with the routes: answers, and on `Accept`
    /// inserts the new connection. Returns the answer's kind.
    fn syn(routes: &mut Routes, sid: &str, peer_conn: u64, id: u64) -> &'static str {
        match routes.answer_syn(sid, peer_conn) {
            SynAnswer::Duplicate => "duplicate",
            SynAnswer::Refuse => "refuse",
            SynAnswer::Accept { .. } => {
                let peer = Peer {
                    sid: sid.to_owned(),
                    conn: peer_conn,
                };
                let e = || Endpoint::Other("test".into());
                let conn = Arc::new(Conn::new(id, e(), e(), Some(peer.clone())));
                routes.conns.insert_accepted(conn, peer);
                "accept"
            }
        }
    }

    #[test]
    fn duplicates_and_the_limit_keep_table_and_index_in_step() {
        let mut routes = serving();
        assert_eq!(syn(&mut routes, "s1", 7, 1), "accept");
        // The same SYN again is a duplicate, however often it comes; the
        // same peer connection id from another session is not.
        assert_eq!(syn(&mut routes, "s1", 7, 2), "duplicate");
        assert_eq!(syn(&mut routes, "s1", 7, 2), "duplicate");
        assert_eq!(syn(&mut routes, "s2", 7, 2), "accept");
        assert_eq!(routes.conns.len(), 2);
        routes.conns.assert_consistent();

        // Up to the limit, new peers are accepted; then refused.
        for n in 2..MAX_CONNS as u64 {
            assert_eq!(syn(&mut routes, "s3", n, n + 1), "accept");
        }
        assert_eq!(routes.conns.len(), MAX_CONNS);
        routes.conns.assert_consistent();
        assert_eq!(syn(&mut routes, "s4", 1, 0xfff_fff0), "refuse");
        assert_eq!(routes.conns.len(), MAX_CONNS);
        // At the limit a duplicate is still a duplicate (no REFUSE that
        // would end the client's accepted connection).
        assert_eq!(syn(&mut routes, "s1", 7, 0xfff_fff1), "duplicate");
        assert_eq!(syn(&mut routes, "s3", 500, 0xfff_fff2), "duplicate");

        // A connection that ends makes room, and its SYN is new again.
        assert!(routes.conns.remove(501).is_some()); // from ("s3", 500)
        routes.conns.assert_consistent();
        assert_eq!(syn(&mut routes, "s3", 500, 0xfff_fff3), "accept");
        assert_eq!(routes.conns.get(0xfff_fff3).map(|c| c.id), Some(0xfff_fff3));
        assert_eq!(syn(&mut routes, "s4", 1, 0xfff_fff4), "refuse");
        routes.conns.assert_consistent();

        // Emptied, the table has no index entries left.
        for conn in routes.conns.all() {
            routes.conns.remove(conn.id);
        }
        routes.conns.assert_consistent();
        assert!(routes.conns.is_empty());
        assert_eq!(syn(&mut routes, "s1", 7, 3), "accept");
    }

    #[test]
    fn a_server_that_does_not_serve_refuses_new_peers() {
        let mut routes = serving();
        assert_eq!(syn(&mut routes, "s1", 1, 1), "accept");
        routes.ended = true;
        assert_eq!(syn(&mut routes, "s1", 2, 2), "refuse");
        assert_eq!(syn(&mut routes, "s1", 1, 2), "duplicate");
        routes.ended = false;
        if let Some(l) = routes.listener.as_mut() {
            l.serving = false;
        }
        assert_eq!(syn(&mut routes, "s1", 2, 2), "refuse");
        // A client's session has no listener.
        let mut client = Routes::default();
        assert_eq!(syn(&mut client, "s1", 1, 1), "refuse");
        routes.conns.assert_consistent();
    }
}
