//! The messages a connection is made of, and the topics they travel on.
//!
//! Every message is one MQTT publish (QoS 1) with a fixed 28-byte header:
//!
//! ```text
//! 0..2   b"aw"         magic
//! 2      1             version
//! 3      kind          SYN, ACK, REFUSE, DATA, EOF, FIN, RST, WINDOW
//! 4..12  dst           the receiver's connection id (0 in a SYN)
//! 12..20 src           the sender's connection id
//! 20..28 n             DATA/EOF/FIN: sequence number; WINDOW: bytes consumed;
//!                      SYN/ACK: the sender's receive window
//! 28..   payload       DATA: bytes; SYN/ACK: the sender's session id
//! ```
//!
//! The handshake: the client publishes a SYN on the server's topic; the
//! server subscribes to the client's will topic and answers with an ACK
//! (or a REFUSE) in the client's inbox; the client subscribes to the
//! server's will topic and confirms with an ACK of its own in the server's
//! inbox; the server answers the confirmation with a WINDOW. Each side's
//! SUBSCRIBE goes before its next message, which the broker takes in order,
//! so the answer to that message shows the peer alive after its will was
//! watched: from then on its death reaches us as its will. A side that
//! gets no answer within the address's connect timeout plus its keep-alive
//! ends its connection with `TimedOut`: on the server's side, the SYN came
//! from a client that is gone, or from someone else; on the client's side,
//! the server died after its ACK, before the client watched its will.
//!
//! Topics: a server listens for SYNs on `agentwire/srv/<name>`; every
//! session receives everything else on `agentwire/in/<session id>`; its last
//! will is published on `agentwire/will/<session id>`.

use bytes::{BufMut, Bytes, BytesMut};

/// The prefix of every topic this backend uses.
pub(crate) const PREFIX: &str = "agentwire";
/// The header length.
pub(crate) const HEADER: usize = 28;
/// The largest DATA payload we send in one message.
pub(crate) const MAX_DATA: usize = 64 * 1024;
/// The receive window each side grants (bytes in flight per direction).
pub(crate) const WINDOW: u64 = 1024 * 1024;
/// The longest session id we accept.
pub(crate) const MAX_SID: usize = 64;

/// A message kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Syn = 1,
    Ack = 2,
    Refuse = 3,
    Data = 4,
    Eof = 5,
    Fin = 6,
    Rst = 7,
    Window = 8,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Syn,
            2 => Kind::Ack,
            3 => Kind::Refuse,
            4 => Kind::Data,
            5 => Kind::Eof,
            6 => Kind::Fin,
            7 => Kind::Rst,
            8 => Kind::Window,
            _ => return None,
        })
    }
}

/// A decoded message.
#[derive(Debug, Clone)]
pub(crate) struct Msg {
    pub(crate) kind: Kind,
    pub(crate) dst: u64,
    pub(crate) src: u64,
    pub(crate) n: u64,
    pub(crate) payload: Bytes,
}

impl Msg {
    pub(crate) fn new(kind: Kind, dst: u64, src: u64, n: u64) -> Self {
        Msg {
            kind,
            dst,
            src,
            n,
            payload: Bytes::new(),
        }
    }

    /// The message as a publish payload.
    pub(crate) fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(HEADER + self.payload.len());
        b.put_slice(b"aw");
        b.put_u8(1);
        b.put_u8(self.kind as u8);
        b.put_u64(self.dst);
        b.put_u64(self.src);
        b.put_u64(self.n);
        b.put_slice(&self.payload);
        b.freeze()
    }

    /// A DATA message made of `chunks`, header and payload in one buffer.
    pub(crate) fn encode_data(dst: u64, src: u64, seq: u64, chunks: &[Bytes]) -> Bytes {
        let len: usize = chunks.iter().map(Bytes::len).sum();
        let mut b = BytesMut::with_capacity(HEADER + len);
        b.put_slice(b"aw");
        b.put_u8(1);
        b.put_u8(Kind::Data as u8);
        b.put_u64(dst);
        b.put_u64(src);
        b.put_u64(seq);
        for c in chunks {
            b.put_slice(c);
        }
        b.freeze()
    }

    /// Decodes a publish payload; the error says what is wrong with it.
    pub(crate) fn decode(mut data: Bytes) -> Result<Msg, String> {
        if data.len() < HEADER {
            return Err(format!(
                "{} bytes, shorter than the {HEADER}-byte header",
                data.len()
            ));
        }
        if &data[..3] != b"aw\x01" {
            return Err("not an agentwire v1 message (bad magic)".into());
        }
        let kind = Kind::from_u8(data[3]).ok_or_else(|| format!("unknown kind {}", data[3]))?;
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&data[i..i + 8]);
            u64::from_be_bytes(w)
        };
        let (dst, src, n) = (word(4), word(12), word(20));
        let payload = data.split_off(HEADER);
        let max = match kind {
            Kind::Data => MAX_DATA,
            Kind::Syn | Kind::Ack => MAX_SID,
            _ => 0,
        };
        if payload.len() > max {
            return Err(format!(
                "{kind:?} with a {}-byte payload, more than {max}",
                payload.len()
            ));
        }
        Ok(Msg {
            kind,
            dst,
            src,
            n,
            payload,
        })
    }
}

/// The topic a server named `name` takes SYNs on.
pub(crate) fn server_topic(name: &str) -> String {
    format!("{PREFIX}/srv/{name}")
}

/// The inbox topic of session `sid`.
pub(crate) fn inbox_topic(sid: &str) -> String {
    format!("{PREFIX}/in/{sid}")
}

/// The last-will topic of session `sid`.
pub(crate) fn will_topic(sid: &str) -> String {
    format!("{PREFIX}/will/{sid}")
}

/// Whether `sid` is a session id we could have made (so it is safe in a topic).
pub(crate) fn valid_sid(sid: &str) -> bool {
    !sid.is_empty()
        && sid.len() <= MAX_SID
        && sid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let mut m = Msg::new(Kind::Data, 7, 9, 3);
        m.payload = Bytes::from_static(b"hi");
        let d = Msg::decode(m.encode()).expect("valid");
        assert_eq!((d.kind, d.dst, d.src, d.n), (Kind::Data, 7, 9, 3));
        assert_eq!(&d.payload[..], b"hi");
        assert!(Msg::decode(Bytes::from_static(b"aw\x01")).is_err());
        let mut bad = m.encode().to_vec();
        bad[3] = 99;
        assert!(Msg::decode(Bytes::from(bad)).is_err());
        let mut big = Msg::new(Kind::Fin, 1, 1, 1);
        big.payload = Bytes::from_static(b"x");
        assert!(Msg::decode(big.encode()).is_err());
        assert!(valid_sid("ab-12_x") && !valid_sid("a/b") && !valid_sid("+"));
    }
}
