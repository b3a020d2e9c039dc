//! The MQTT backend's wire format and the filing of incoming messages
//! (sequence numbers, the receive window, the handshake) on one
//! connection: through `transport_mqtt::fuzzing`, compiled only for fuzzing.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [flags, consume, body @ ..] = data else {
        return;
    };
    let mut messages: Vec<Vec<u8>> = Vec::new();
    let mut rest = body;
    if flags & 2 != 0 {
        // Raw publish payloads, each after a one-byte length.
        while let [len, tail @ ..] = rest {
            let n = usize::from(*len).min(tail.len());
            messages.push(tail[..n].to_vec());
            rest = &tail[n..];
        }
    } else {
        // Well-formed headers from a few bytes each: kind, source
        // (mostly the peer, 7), sequence number, payload length (in
        // units of 257 bytes, up to the 64 KiB a DATA may hold).
        while let [kind, src, n, len, tail @ ..] = rest {
            let mut m = b"aw\x01".to_vec();
            m.push(*kind % 10);
            m.extend_from_slice(&1u64.to_be_bytes());
            let src = if *src < 200 { 7 } else { u64::from(*src) };
            m.extend_from_slice(&src.to_be_bytes());
            let n = if *n == 255 { u64::MAX } else { u64::from(*n) };
            m.extend_from_slice(&n.to_be_bytes());
            if matches!(kind % 10, 1 | 2) && *len > 0 {
                // SYN, ACK: a session id.
                m.extend_from_slice(&b"peer-session_1"[..usize::from(*len).min(14)]);
            } else {
                m.resize(m.len() + usize::from(*len) * 257, b'd');
            }
            messages.push(m);
            rest = tail;
        }
    }
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    transport_mqtt::fuzzing::wire_and_conn(&refs, flags & 1 != 0, usize::from(*consume % 8));
});
