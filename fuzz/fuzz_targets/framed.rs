//! Length-prefixed frames: any chunking of any byte stream through
//! `FrameDecoder` and `FramedProtocol` (fast path, pauses, end of stream)
//! gives the frames and the error of decoding the stream in one piece, and
//! never buffers more than the maximum frame size per partial frame.
#![no_main]

use agentwire::channel::{ChannelError, FrameDecoder, FrameHandler, FramedProtocol};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use transport_api::{Protocol, SharedTransport};

/// The frames and the end of a stream decoded by hand (the specification).
fn reference(stream: &[u8], max: usize) -> (Vec<Vec<u8>>, Result<(), (u64, u64, bool)>) {
    let mut frames = Vec::new();
    let mut rest = stream;
    loop {
        if rest.is_empty() {
            return (frames, Ok(()));
        }
        if rest.len() < 4 {
            return (frames, Err((4, rest.len() as u64, false)));
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        if len as usize > max {
            return (frames, Err((u64::from(len), 0, true)));
        }
        let end = 4 + len as usize;
        if rest.len() < end {
            return (frames, Err((end as u64, rest.len() as u64, false)));
        }
        frames.push(rest[4..end].to_vec());
        rest = &rest[end..];
    }
}

/// Splits `data` into a max frame size, chunk sizes and the stream.
fn split(data: &[u8]) -> Option<(usize, Vec<usize>, u8, &[u8])> {
    let (&m, data) = data.split_first()?;
    let (&n, data) = data.split_first()?;
    let (&pauses, data) = data.split_first()?;
    let n = usize::from(n % 16);
    if data.len() < n {
        return None;
    }
    let (sizes, stream) = data.split_at(n);
    let max = match m {
        0..=199 => usize::from(m),
        200..=254 => 1 << (m - 200).min(24),
        255 => u32::MAX as usize,
    };
    Some((
        max,
        sizes.iter().map(|&s| usize::from(s)).collect(),
        pauses,
        stream,
    ))
}

fn chunks<'a>(stream: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = stream;
    let mut i = 0;
    while !rest.is_empty() {
        let size = if sizes.is_empty() {
            rest.len()
        } else {
            sizes[i % sizes.len()].max(1).min(rest.len())
        };
        i += 1;
        let (a, b) = rest.split_at(size);
        out.push(a);
        rest = b;
    }
    out
}

struct Handler {
    frames: Vec<Vec<u8>>,
    lost: Option<Option<String>>,
    lost_calls: usize,
    pauses: u8,
    calls: u32,
    max: usize,
}

impl FrameHandler for Handler {
    fn connection_made(&mut self, _transport: SharedTransport) {}

    fn frame_received(&mut self, frame: Bytes) -> agentwire::channel::Result<()> {
        assert!(self.lost.is_none(), "a frame after connection_lost");
        assert!(frame.len() <= self.max, "a frame above the maximum");
        self.frames.push(frame.to_vec());
        Ok(())
    }

    fn connection_lost(&mut self, cause: Option<ChannelError>) {
        self.lost_calls += 1;
        self.lost = Some(cause.map(|c| c.to_string()));
    }

    fn wants_frames(&self) -> bool {
        // Paused on some calls, driven by the input.
        self.pauses & (1 << (self.calls % 8)) == 0
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((max, sizes, pauses, stream)) = split(data) else {
        return;
    };
    let (want, end) = reference(stream, max);

    // The decoder alone.
    let mut dec = FrameDecoder::new(max);
    let mut got = Vec::new();
    let mut failed = None;
    'outer: for chunk in chunks(stream, &sizes) {
        dec.push(Bytes::copy_from_slice(chunk));
        loop {
            match dec.next_frame() {
                Ok(Some(f)) => {
                    assert!(f.len() <= max);
                    got.push(f.to_vec());
                }
                Ok(None) => break,
                Err(ChannelError::FrameTooLarge { size, max: m }) => {
                    assert_eq!(m, max);
                    failed = Some(size);
                    break 'outer;
                }
                Err(e) => panic!("unexpected error {e:?}"),
            }
            assert!(dec.buffer_capacity() <= max, "capacity above the maximum");
        }
        assert!(dec.buffer_capacity() <= max, "capacity above the maximum");
    }
    assert_eq!(got, want, "frames differ from the reference");
    match (end, failed) {
        (Err((size, _, true)), Some(s)) => assert_eq!(size, s),
        (Err((_, _, true)), None) => panic!("the oversized header was accepted"),
        (_, Some(s)) => panic!("refused a header of {s} that the reference accepts"),
        (Ok(()), None) => assert!(dec.finish().is_ok(), "{:?}", dec.finish()),
        (Err((expected, received, false)), None) => match dec.finish() {
            Err(ChannelError::TruncatedFrame {
                expected: e,
                received: r,
            }) => assert_eq!((e, r), (expected, received)),
            other => panic!("finish gave {other:?}, want truncated {expected}/{received}"),
        },
    }

    // The same through a FramedProtocol, with the handler pausing.
    let handler = Handler {
        frames: Vec::new(),
        lost: None,
        lost_calls: 0,
        pauses,
        calls: 0,
        max,
    };
    let mut proto = FramedProtocol::new(handler, max);
    for chunk in chunks(stream, &sizes) {
        proto.handler_mut().calls += 1;
        proto.data_received(Bytes::copy_from_slice(chunk));
        if proto.handler().calls % 3 == 0 {
            proto.handler_mut().calls += 1;
            proto.resume_writing();
        }
        assert!(proto.decoder().buffer_capacity() <= max);
    }
    proto.connection_lost(None);
    let h = proto.handler();
    assert_eq!(h.lost_calls, 1);
    assert_eq!(h.frames, want, "framed protocol frames differ");
    let cause = h.lost.clone().expect("lost");
    assert_eq!(
        cause.is_none(),
        end.is_ok(),
        "cause {cause:?} for end {end:?}"
    );
});
