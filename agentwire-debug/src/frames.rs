//! Reassembling the channel's length-prefixed frames (a 4-byte big-endian
//! length, then the payload) from a byte stream, so that rules and the
//! recorder see whole messages.

use bytes::{Buf, Bytes, BytesMut};

/// What one [`Reassembler::push`] completed: most often exactly one frame,
/// held without an allocation.
#[derive(Debug, Default)]
pub(crate) enum Frames {
    #[default]
    None,
    One(Bytes),
    Many(Vec<Bytes>),
}

impl Extend<Bytes> for Frames {
    fn extend<I: IntoIterator<Item = Bytes>>(&mut self, iter: I) {
        for frame in iter {
            *self = match std::mem::take(self) {
                Frames::None => Frames::One(frame),
                Frames::One(first) => Frames::Many(vec![first, frame]),
                Frames::Many(mut all) => {
                    all.push(frame);
                    Frames::Many(all)
                }
            };
        }
    }
}

impl IntoIterator for Frames {
    type Item = Bytes;
    type IntoIter = std::iter::Chain<std::option::IntoIter<Bytes>, std::vec::IntoIter<Bytes>>;

    fn into_iter(self) -> Self::IntoIter {
        let (one, many) = match self {
            Frames::None => (None, Vec::new()),
            Frames::One(frame) => (Some(frame), Vec::new()),
            Frames::Many(all) => (None, all),
        };
        one.into_iter().chain(many)
    }
}

/// Splits one direction of a connection into whole frames (header
/// included). A header above `max` means the stream is not framed (or is
/// broken): from then on, chunks pass as they come.
#[derive(Debug)]
pub(crate) struct Reassembler {
    buf: BytesMut,
    raw: bool,
    max: usize,
}

impl Reassembler {
    pub(crate) fn new(framed: bool, max: usize) -> Self {
        Reassembler {
            buf: BytesMut::new(),
            raw: !framed,
            max,
        }
    }

    /// Bytes held back waiting for the rest of their frame.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Feeds `data`; pushes each completed frame (or raw chunk) to `out`.
    pub(crate) fn push(&mut self, mut data: Bytes, out: &mut impl Extend<Bytes>) {
        if self.raw {
            if !data.is_empty() {
                out.extend([data]);
            }
            return;
        }
        // Fast path: nothing held back, and `data` holds whole frames.
        while self.buf.is_empty() {
            match self.frame_len(&data) {
                // One whole frame: pass the buffer as it is (splitting
                // would turn a `Vec`-backed `Bytes` into a shared one).
                Some(n) if n == data.len() => {
                    out.extend([data]);
                    return;
                }
                Some(n) if n < data.len() => out.extend([data.split_to(n)]),
                Some(_) => break,
                None if self.raw => {
                    if !data.is_empty() {
                        out.extend([data]);
                    }
                    return;
                }
                None => break,
            }
            if data.is_empty() {
                return;
            }
        }
        self.buf.extend_from_slice(&data);
        loop {
            let len = frame_len(&self.buf, self.max);
            if len == Some(None) {
                self.raw = true;
            }
            match len.flatten() {
                Some(n) if n <= self.buf.len() => out.extend([self.buf.split_to(n).freeze()]),
                _ if self.raw => {
                    if !self.buf.is_empty() {
                        out.extend([self.buf.split().freeze()]);
                    }
                    return;
                }
                _ => return,
            }
        }
    }

    /// The length of the frame at the start of `data` (header included),
    /// if its header is complete; a header above the maximum switches to
    /// raw mode.
    fn frame_len(&mut self, data: &[u8]) -> Option<usize> {
        let len = frame_len(data, self.max);
        if len == Some(None) {
            self.raw = true;
        }
        len.flatten()
    }
}

/// `None`: the header is incomplete; `Some(None)`: it is above `max`;
/// else the frame's length with its header.
fn frame_len(data: &[u8], max: usize) -> Option<Option<usize>> {
    if data.len() < 4 {
        return None;
    }
    let len = (&data[..4]).get_u32() as usize;
    Some((len <= max).then_some(len + 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut v = (payload.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn any_split_gives_the_same_frames() {
        let mut stream = frame(b"hello");
        stream.extend(frame(b""));
        stream.extend(frame(b"world!"));
        for cut in 0..=stream.len() {
            for cut2 in cut..=stream.len() {
                let mut r = Reassembler::new(true, 1 << 20);
                let mut out = Vec::new();
                r.push(Bytes::copy_from_slice(&stream[..cut]), &mut out);
                r.push(Bytes::copy_from_slice(&stream[cut..cut2]), &mut out);
                r.push(Bytes::copy_from_slice(&stream[cut2..]), &mut out);
                assert_eq!(out.len(), 3, "cuts {cut} {cut2}");
                assert_eq!(&out[0][4..], b"hello");
                assert_eq!(&out[2][4..], b"world!");
                assert_eq!(r.buffered(), 0);
            }
        }
    }

    #[test]
    fn a_huge_header_turns_to_raw_chunks() {
        let mut r = Reassembler::new(true, 16);
        let mut out = Vec::new();
        r.push(Bytes::from_static(b"\xff\xff\xff\xffabc"), &mut out);
        r.push(Bytes::from_static(b"def"), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(&out[1][..], b"def");
    }
}
