//! [`ConnTable`]: a session's connections by id, with an index of the
//! accepted ones by their peer, so that a SYN finds its duplicate in O(1)
//! (a flood of SYNs must not cost a scan of every connection each).
//!
//! Only connections accepted from a SYN are indexed: they are the only
//! ones a server's session has, and their peer never changes. A client's
//! connection learns its peer from the server's ACK, in a session of its
//! own that listens on no server topic.

use std::collections::HashMap;
use std::sync::Arc;

use crate::conn::{Conn, Peer};

/// One connection of the table, with the peer it was accepted from (the
/// key of the peer index; `None` for a client's connection, which learns
/// its peer later, from the server's ACK).
struct Slot {
    conn: Arc<Conn>,
    accepted_from: Option<Peer>,
}

/// A session's connections: by our connection id, and the accepted ones
/// also by (peer session id, peer connection id). Every change goes
/// through [`insert`](Self::insert), [`insert_accepted`](Self::insert_accepted)
/// and [`remove`](Self::remove), which keep the two in step: an index entry
/// for exactly each accepted connection in the table.
#[derive(Default)]
pub(super) struct ConnTable {
    conns: HashMap<u64, Slot>,
    /// Peer session id → peer connection id → our connection id.
    by_peer: HashMap<String, HashMap<u64, u64>>,
}

impl ConnTable {
    /// The connection with our id `id`.
    pub(super) fn get(&self, id: u64) -> Option<&Arc<Conn>> {
        self.conns.get(&id).map(|slot| &slot.conn)
    }

    /// Every connection (a snapshot, to use without the session's lock).
    pub(super) fn all(&self) -> Vec<Arc<Conn>> {
        self.conns
            .values()
            .map(|slot| Arc::clone(&slot.conn))
            .collect()
    }

    pub(super) fn len(&self) -> usize {
        self.conns.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Our connection accepted from the peer's connection `conn` of session
    /// `sid`, if there is one: a SYN from it is a duplicate.
    pub(super) fn accepted_from(&self, sid: &str, conn: u64) -> Option<u64> {
        self.by_peer.get(sid)?.get(&conn).copied()
    }

    /// Adds a client's connection (not in the peer index).
    pub(super) fn insert(&mut self, conn: Arc<Conn>) {
        self.put(Slot {
            conn,
            accepted_from: None,
        });
    }

    /// Adds a connection accepted from `peer`'s SYN.
    pub(super) fn insert_accepted(&mut self, conn: Arc<Conn>, peer: Peer) {
        let id = conn.id;
        // Into the table first: a connection it replaces (same id) leaves
        // the index before this one's entry goes in, which it would
        // otherwise take with it when it came from the same peer.
        self.put(Slot {
            conn,
            accepted_from: Some(peer.clone()),
        });
        let previous = self
            .by_peer
            .entry(peer.sid)
            .or_default()
            .insert(peer.conn, id);
        if let Some(other) = previous.filter(|&other| other != id) {
            // The caller checks for duplicates first; should it not, the
            // older connection stays in the table but leaves the index.
            if let Some(slot) = self.conns.get_mut(&other) {
                slot.accepted_from = None;
            }
        }
    }

    /// Puts `slot` in the table; a connection it replaces (same id) leaves
    /// the index too.
    fn put(&mut self, slot: Slot) {
        let id = slot.conn.id;
        if let Some(old) = self.conns.insert(id, slot) {
            self.unindex(id, old.accepted_from.as_ref());
        }
    }

    /// Takes connection `id` out of the table and the index.
    pub(super) fn remove(&mut self, id: u64) -> Option<Arc<Conn>> {
        let slot = self.conns.remove(&id)?;
        self.unindex(id, slot.accepted_from.as_ref());
        Some(slot.conn)
    }

    /// Removes `peer`'s index entry if it is connection `id`'s.
    fn unindex(&mut self, id: u64, peer: Option<&Peer>) {
        let Some(peer) = peer else { return };
        let Some(conns) = self.by_peer.get_mut(&peer.sid) else {
            return;
        };
        if conns.get(&peer.conn) == Some(&id) {
            conns.remove(&peer.conn);
            if conns.is_empty() {
                self.by_peer.remove(&peer.sid);
            }
        }
    }

    /// Panics unless the index holds exactly the accepted connections of
    /// the table, each under its own peer.
    #[cfg(test)]
    pub(super) fn assert_consistent(&self) {
        let mut indexed = 0;
        for (sid, conns) in &self.by_peer {
            assert!(!conns.is_empty(), "an empty index entry for {sid}");
            for (&peer_conn, &id) in conns {
                let slot = self
                    .conns
                    .get(&id)
                    .expect("indexed connection in the table");
                let peer = slot.accepted_from.as_ref().expect("indexed as accepted");
                assert_eq!((peer.sid.as_str(), peer.conn), (sid.as_str(), peer_conn));
                indexed += 1;
            }
        }
        let accepted = self
            .conns
            .values()
            .filter(|slot| slot.accepted_from.is_some())
            .count();
        assert_eq!(indexed, accepted, "every accepted connection is indexed");
        for (&id, slot) in &self.conns {
            assert_eq!(slot.conn.id, id);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use transport_api::Endpoint;

    use super::*;

    fn conn(id: u64) -> Arc<Conn> {
        let e = || Endpoint::Other("test".into());
        Arc::new(Conn::new(id, e(), e(), None))
    }

    fn peer(sid: &str, conn: u64) -> Peer {
        Peer {
            sid: sid.to_owned(),
            conn,
        }
    }

    #[test]
    fn the_index_follows_inserts_and_removals() {
        let mut t = ConnTable::default();
        t.insert_accepted(conn(1), peer("s1", 10));
        t.insert_accepted(conn(2), peer("s1", 11));
        t.insert_accepted(conn(3), peer("s2", 10));
        t.insert(conn(4)); // a client's connection: not indexed
        t.assert_consistent();
        assert_eq!(t.len(), 4);
        assert_eq!(t.accepted_from("s1", 10), Some(1));
        assert_eq!(t.accepted_from("s1", 11), Some(2));
        assert_eq!(t.accepted_from("s2", 10), Some(3));
        // Same connection id under another session, another id under the
        // same session: not duplicates.
        assert_eq!(t.accepted_from("s3", 10), None);
        assert_eq!(t.accepted_from("s2", 11), None);

        assert_eq!(t.remove(2).map(|c| c.id), Some(2));
        t.assert_consistent();
        assert_eq!(t.accepted_from("s1", 11), None);
        assert_eq!(t.accepted_from("s1", 10), Some(1));
        assert!(t.remove(2).is_none(), "removed once");
        assert!(t.remove(4).is_some());
        t.assert_consistent();
        assert!(t.remove(1).is_some() && t.remove(3).is_some());
        t.assert_consistent();
        assert!(t.is_empty() && t.by_peer.is_empty());
        assert!(t.all().is_empty());
    }

    #[test]
    fn a_duplicate_is_found_until_its_connection_is_removed() {
        let mut t = ConnTable::default();
        t.insert_accepted(conn(1), peer("s1", 10));
        // The SYN again (a QoS 1 duplicate): found, so nothing is added.
        assert_eq!(t.accepted_from("s1", 10), Some(1));
        assert_eq!(t.len(), 1);
        t.remove(1);
        // Once that connection is gone, the same SYN would start a new one.
        assert_eq!(t.accepted_from("s1", 10), None);
        t.insert_accepted(conn(2), peer("s1", 10));
        t.assert_consistent();
        assert_eq!(t.accepted_from("s1", 10), Some(2));
    }

    #[test]
    fn replacing_entries_keeps_the_index_in_step() {
        let mut t = ConnTable::default();
        // A second connection under the same peer key (the caller did not
        // check): the newer one is the one found, removing the older one
        // does not take the newer one's entry.
        t.insert_accepted(conn(1), peer("s1", 10));
        t.insert_accepted(conn(2), peer("s1", 10));
        t.assert_consistent();
        assert_eq!(t.accepted_from("s1", 10), Some(2));
        t.remove(1);
        t.assert_consistent();
        assert_eq!(t.accepted_from("s1", 10), Some(2));
        // The same id again (a random id that repeats): the replaced
        // connection's entry goes with it.
        t.insert_accepted(conn(3), peer("s2", 20));
        t.insert(conn(3));
        t.assert_consistent();
        assert_eq!(t.accepted_from("s2", 20), None);
        t.insert_accepted(conn(3), peer("s2", 21));
        t.assert_consistent();
        assert_eq!(t.accepted_from("s2", 21), Some(3));
        assert_eq!(t.len(), 2);
        // The same id from the same peer again: still found.
        t.insert_accepted(conn(3), peer("s2", 21));
        t.assert_consistent();
        assert_eq!(t.accepted_from("s2", 21), Some(3));
        assert_eq!(t.len(), 2);
    }
}
