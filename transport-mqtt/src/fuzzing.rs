//! Entry points for the coverage-guided fuzz targets in `fuzz/` (compiled
//! only with `--cfg fuzzing`, which cargo-fuzz sets): the wire format and
//! the filing of incoming messages are private, and reachable otherwise
//! only through a broker. Not an API.

use bytes::Bytes;
use transport_api::Endpoint;

use crate::conn::state::{cost, Conn, Peer};
use crate::wire::{Msg, WINDOW};

/// Decodes each of `messages` as a publish payload; a message that decodes
/// must encode back to the same bytes. The decoded ones are filed, in
/// order, into a server's side (`accepted`, from peer connection 7) or a
/// client's side waiting for its handshake; every `consume`-th filing the
/// reader takes one message. Panics (the fuzzer's finding) if an invariant
/// breaks: the filed stream is in sequence, within the receive window.
pub fn wire_and_conn(messages: &[&[u8]], accepted: bool, consume: usize) {
    let here = Endpoint::Other("mqtt://fuzz".to_owned());
    let peer = accepted.then(|| Peer {
        sid: "peer".to_owned(),
        conn: 7,
    });
    let conn = Conn::new(1, here.clone(), here, peer);
    for (i, raw) in messages.iter().enumerate() {
        let Ok(msg) = Msg::decode(Bytes::copy_from_slice(raw)) else {
            continue;
        };
        assert_eq!(
            &msg.encode()[..],
            *raw,
            "decode then encode changed {raw:?}"
        );
        let _ = conn.receive(msg);
        let mut st = conn.lock();
        if consume > 0 && i % consume == 0 {
            if let Some(m) = st.inbound.pop_front() {
                st.inbound_bytes -= cost(&m);
            }
        }
        let total: u64 = st.inbound.iter().map(cost).sum();
        assert_eq!(total, st.inbound_bytes, "inbound bytes miscounted");
        assert!(st.inbound_bytes <= WINDOW, "past the receive window");
        assert!(
            st.inbound
                .iter()
                .zip(st.inbound.iter().skip(1))
                .all(|(a, b)| a.n + 1 == b.n),
            "stream out of sequence"
        );
        assert!(st.inbound.back().is_none_or(|m| m.n + 1 == st.next_seq));
    }
}
