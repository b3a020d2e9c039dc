//! Length-prefixed frames: a 4-byte big-endian payload length, then the
//! payload (aiomas's `Header = struct.Struct('!L')`).
//!
//! [`FrameDecoder`] turns any chunking of a byte stream back into frames and
//! enforces a maximum frame size without ever allocating the size a header
//! claims; [`encode_frame`] writes one frame.

use std::collections::VecDeque;
use std::fmt;

use bytes::{Buf, Bytes};

use super::{ChannelError, Result};

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 4;

/// The default maximum frame payload: 16 MiB.
///
/// aiomas has no limit besides the header's 4 GiB; a limit keeps a peer from
/// making us buffer gigabytes. Raise it with
/// [`ChannelOptions::max_frame_size`](super::ChannelOptions::max_frame_size)
/// if your messages are larger.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;

/// The largest payload the 4-byte header can describe.
pub const MAX_HEADER_LENGTH: usize = u32::MAX as usize;

/// The first allocation for a frame body that arrives in pieces.
const MIN_BODY_ALLOCATION: usize = 4096;

/// Frames up to this size are copied out of the received chunk rather than
/// sliced from it, so that a small frame kept for long (a queued request)
/// does not keep a whole large read buffer alive.
const COPY_BELOW: usize = 4096;

/// Writes a frame with `payload`.
///
/// # Errors
///
/// [`ChannelError::FrameTooLarge`] if the payload is longer than
/// `max_frame_size` (or than the header can describe).
///
/// ```
/// use agentwire::channel::frame::encode_frame;
/// let frame = encode_frame(b"hi", 1024).unwrap();
/// assert_eq!(&frame[..], b"\x00\x00\x00\x02hi");
/// assert!(encode_frame(b"hello", 4).is_err());
/// ```
pub fn encode_frame(payload: &[u8], max_frame_size: usize) -> Result<Bytes> {
    let mut buf = Vec::with_capacity(HEADER_LEN + payload.len());
    buf.extend_from_slice(&[0; HEADER_LEN]);
    buf.extend_from_slice(payload);
    finish_frame(buf, max_frame_size)
}

/// Fills in the header of `buf`, whose first [`HEADER_LEN`] bytes were
/// reserved for it and the rest is the payload.
pub(crate) fn finish_frame(mut buf: Vec<u8>, max_frame_size: usize) -> Result<Bytes> {
    let size = buf.len().saturating_sub(HEADER_LEN);
    let header = header(size, max_frame_size)?;
    if let Some(head) = buf.get_mut(..HEADER_LEN) {
        head.copy_from_slice(&header);
    }
    Ok(Bytes::from(buf))
}

/// The header of a frame whose payload is `size` bytes long.
///
/// # Errors
///
/// [`ChannelError::FrameTooLarge`] if `size` is above `max_frame_size` (or
/// than the header can describe).
pub(crate) fn header(size: usize, max_frame_size: usize) -> Result<[u8; HEADER_LEN]> {
    let max = max_frame_size.min(MAX_HEADER_LENGTH);
    match u32::try_from(size) {
        Ok(len) if size <= max => Ok(len.to_be_bytes()),
        _ => Err(ChannelError::FrameTooLarge {
            size: size as u64,
            max,
        }),
    }
}

enum State {
    /// Reading a header; `have` bytes of it are in `buf`.
    Header { buf: [u8; HEADER_LEN], have: usize },
    /// Reading a payload of `len` bytes; `buf` holds what arrived.
    Body { len: usize, buf: Vec<u8> },
    /// A header was too large; nothing more is decoded.
    Failed { size: u64 },
}

/// Decodes a stream of length-prefixed frames, whatever its chunking.
///
/// Push each received chunk with [`push`](Self::push), then call
/// [`next_frame`](Self::next_frame) until it returns `Ok(None)`. Large frames
/// that lie whole inside a chunk are handed out without copying (small ones
/// are copied, so they do not pin the chunk's memory); a frame split
/// across chunks is collected in a buffer that grows with the data that
/// actually arrived, up to the frame's length and never beyond the maximum
/// frame size, whatever the header claims.
///
/// ```
/// use agentwire::channel::FrameDecoder;
/// use bytes::Bytes;
/// let mut dec = FrameDecoder::new(1024);
/// dec.push(Bytes::from_static(b"\x00\x00\x00\x03ab"));
/// assert_eq!(dec.next_frame().unwrap(), None); // incomplete
/// dec.push(Bytes::from_static(b"c\x00\x00"));
/// assert_eq!(dec.next_frame().unwrap().as_deref(), Some(&b"abc"[..]));
/// assert_eq!(dec.next_frame().unwrap(), None);
/// assert!(dec.finish().is_err()); // two bytes of a header are left
/// ```
pub struct FrameDecoder {
    max: usize,
    state: State,
    /// The unprocessed rest of the pushed chunks.
    input: VecDeque<Bytes>,
}

impl FrameDecoder {
    /// A decoder that rejects frames longer than `max_frame_size` bytes of
    /// payload.
    pub fn new(max_frame_size: usize) -> Self {
        FrameDecoder {
            max: max_frame_size.min(MAX_HEADER_LENGTH),
            state: State::Header {
                buf: [0; HEADER_LEN],
                have: 0,
            },
            input: VecDeque::new(),
        }
    }

    /// The maximum frame size in force.
    pub fn max_frame_size(&self) -> usize {
        self.max
    }

    /// Adds received bytes.
    pub fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() && !matches!(self.state, State::Failed { .. }) {
            self.input.push_back(chunk);
        }
    }

    /// The next complete frame's payload, `Ok(None)` when more bytes are
    /// needed.
    ///
    /// # Errors
    ///
    /// [`ChannelError::FrameTooLarge`] when a header claims more than the
    /// maximum frame size. The decoder then stays failed: every later call
    /// returns the same error and pushed bytes are dropped.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>> {
        loop {
            if let State::Failed { size } = self.state {
                return Err(ChannelError::FrameTooLarge {
                    size,
                    max: self.max,
                });
            }
            while self.input.front().is_some_and(Bytes::is_empty) {
                self.input.pop_front();
            }
            let max = self.max;
            let Some(chunk) = self.input.front_mut() else {
                return Ok(None);
            };
            let step = match &mut self.state {
                State::Failed { .. } => Step::Continue,
                State::Header { buf, have } => {
                    if *have == 0 && chunk.len() >= HEADER_LEN {
                        match check(chunk.get_u32(), max) {
                            // Fast path: the whole frame is in this chunk.
                            Ok(len) if chunk.len() >= len => Step::Frame(take(chunk, len)),
                            Ok(len) => Step::Body(len),
                            Err(size) => Step::Fail(size),
                        }
                    } else {
                        let n = (HEADER_LEN - *have).min(chunk.len());
                        buf[*have..*have + n].copy_from_slice(&chunk[..n]);
                        *have += n;
                        chunk.advance(n);
                        if *have == HEADER_LEN {
                            match check(u32::from_be_bytes(*buf), max) {
                                Ok(len) => Step::Body(len),
                                Err(size) => Step::Fail(size),
                            }
                        } else {
                            Step::Continue
                        }
                    }
                }
                State::Body { len, buf } => {
                    let len = *len;
                    if buf.is_empty() && chunk.len() >= len {
                        Step::Done(take(chunk, len))
                    } else {
                        let n = (len - buf.len()).min(chunk.len());
                        grow(buf, n, len);
                        buf.extend_from_slice(&chunk[..n]);
                        chunk.advance(n);
                        if buf.len() == len {
                            Step::Done(Bytes::from(std::mem::take(buf)))
                        } else {
                            Step::Continue
                        }
                    }
                }
            };
            match step {
                Step::Continue => {}
                Step::Frame(frame) => return Ok(Some(frame)),
                Step::Done(frame) => {
                    self.reset();
                    return Ok(Some(frame));
                }
                Step::Body(0) => {
                    self.reset();
                    return Ok(Some(Bytes::new()));
                }
                Step::Body(len) => {
                    self.state = State::Body {
                        len,
                        buf: Vec::new(),
                    }
                }
                Step::Fail(size) => {
                    self.state = State::Failed { size };
                    self.input.clear();
                    return Err(ChannelError::FrameTooLarge { size, max });
                }
            }
        }
    }

    /// The fast path of a chunk that starts with a whole frame while the
    /// decoder holds nothing: splits that frame off the front of `chunk`
    /// (as [`next_frame`](Self::next_frame) would hand it out). `None` if
    /// the decoder holds data, or `chunk` does not start with a whole frame
    /// of an acceptable size: then push the rest.
    pub(crate) fn split_whole(&self, chunk: &mut Bytes) -> Option<Bytes> {
        let idle = self.input.is_empty() && matches!(self.state, State::Header { have: 0, .. });
        let header: [u8; HEADER_LEN] = chunk.get(..HEADER_LEN)?.try_into().ok()?;
        let len = check(u32::from_be_bytes(header), self.max).ok()?;
        if !idle || chunk.len() - HEADER_LEN < len {
            return None;
        }
        chunk.advance(HEADER_LEN);
        Some(take(chunk, len))
    }

    fn reset(&mut self) {
        self.state = State::Header {
            buf: [0; HEADER_LEN],
            have: 0,
        };
    }

    /// Bytes of an incomplete frame held by the decoder (header included),
    /// plus pushed bytes not yet decoded.
    pub fn buffered(&self) -> usize {
        let partial = match &self.state {
            State::Header { have, .. } => *have,
            State::Body { buf, .. } => HEADER_LEN + buf.len(),
            State::Failed { .. } => 0,
        };
        partial + self.input.iter().map(Bytes::len).sum::<usize>()
    }

    /// The capacity of the buffer that collects a frame split across chunks:
    /// never more than the maximum frame size.
    pub fn buffer_capacity(&self) -> usize {
        match &self.state {
            State::Body { buf, .. } => buf.capacity(),
            _ => 0,
        }
    }

    /// Checks that the stream ended on a frame boundary (call it at EOF,
    /// after [`next_frame`](Self::next_frame) returned `Ok(None)`: complete
    /// frames not yet taken would count as part of a truncated one).
    ///
    /// # Errors
    ///
    /// [`ChannelError::TruncatedFrame`] if part of a frame is left;
    /// [`ChannelError::FrameTooLarge`] if the decoder failed earlier.
    pub fn finish(&self) -> Result<()> {
        let rest: usize = self.input.iter().map(Bytes::len).sum();
        let (expected, received) = match &self.state {
            State::Failed { size } => {
                return Err(ChannelError::FrameTooLarge {
                    size: *size,
                    max: self.max,
                })
            }
            State::Header { have: 0, .. } if rest == 0 => return Ok(()),
            State::Header { buf, have } => {
                // The header may be complete only once the rest is counted.
                let mut header = *buf;
                let mut got = *have;
                for byte in self.input.iter().flat_map(|c| c.iter()) {
                    if got == HEADER_LEN {
                        break;
                    }
                    header[got] = *byte;
                    got += 1;
                }
                let expected = if got == HEADER_LEN {
                    HEADER_LEN as u64 + u64::from(u32::from_be_bytes(header))
                } else {
                    HEADER_LEN as u64
                };
                (expected, (*have + rest) as u64)
            }
            State::Body { len, buf } => (
                (HEADER_LEN + *len) as u64,
                (HEADER_LEN + buf.len() + rest) as u64,
            ),
        };
        Err(ChannelError::TruncatedFrame { expected, received })
    }
}

/// Takes the first `len` bytes of `chunk`: copied when small, else sliced.
fn take(chunk: &mut Bytes, len: usize) -> Bytes {
    if len <= COPY_BELOW && len < chunk.len() {
        let frame = Bytes::copy_from_slice(&chunk[..len]);
        chunk.advance(len);
        frame
    } else {
        chunk.split_to(len)
    }
}

/// What one decoding step found.
enum Step {
    /// Nothing complete yet; go on.
    Continue,
    /// A whole frame, read while in the header state.
    Frame(Bytes),
    /// A frame body completed; back to the header state.
    Done(Bytes),
    /// A valid header for a body of this length.
    Body(usize),
    /// A header claiming this many bytes, above the maximum.
    Fail(u64),
}

/// Checks a header's length against the maximum.
fn check(len: u32, max: usize) -> std::result::Result<usize, u64> {
    match usize::try_from(len) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(u64::from(len)),
    }
}

/// Makes room for `n` more bytes in a body buffer that will hold `len` bytes
/// in the end: at least doubling (amortised linear copying), never past `len`.
fn grow(buf: &mut Vec<u8>, n: usize, len: usize) {
    let needed = buf.len() + n;
    if needed <= buf.capacity() {
        return;
    }
    let target = needed
        .max(buf.capacity().saturating_mul(2))
        .max(MIN_BODY_ALLOCATION)
        .min(len);
    buf.reserve_exact(target - buf.len());
}

impl fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Header { .. } => "header",
            State::Body { .. } => "body",
            State::Failed { .. } => "failed",
        };
        f.debug_struct("FrameDecoder")
            .field("max_frame_size", &self.max)
            .field("state", &state)
            .field("buffered", &self.buffered())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(dec: &mut FrameDecoder) -> Vec<Bytes> {
        let mut out = Vec::new();
        while let Some(frame) = dec.next_frame().expect("valid stream") {
            out.push(frame);
        }
        out
    }

    #[test]
    fn byte_by_byte() {
        let mut stream = encode_frame(b"hello", 100).expect("fits").to_vec();
        stream.extend_from_slice(&encode_frame(b"", 100).expect("fits"));
        stream.extend_from_slice(&encode_frame(b"world!", 100).expect("fits"));
        let mut dec = FrameDecoder::new(100);
        let mut frames = Vec::new();
        for b in stream {
            dec.push(Bytes::copy_from_slice(&[b]));
            frames.extend(decode_all(&mut dec));
        }
        assert_eq!(frames, vec![&b"hello"[..], &b""[..], &b"world!"[..]]);
        assert!(dec.finish().is_ok());
    }

    #[test]
    fn oversized_header_is_rejected_without_allocating() {
        let mut dec = FrameDecoder::new(10);
        dec.push(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
        let err = dec.next_frame().expect_err("too large");
        assert!(matches!(
            err,
            ChannelError::FrameTooLarge {
                size: 0xffff_ffff,
                max: 10
            }
        ));
        assert_eq!(dec.buffer_capacity(), 0);
        assert_eq!(dec.buffered(), 0);
        dec.push(Bytes::from_static(b"more"));
        assert!(dec.next_frame().is_err());
    }

    #[test]
    fn truncated_at_eof() {
        let mut dec = FrameDecoder::new(100);
        dec.push(Bytes::from_static(b"\x00\x00\x00\x05abc"));
        assert_eq!(decode_all(&mut dec), Vec::<Bytes>::new());
        assert!(matches!(
            dec.finish(),
            Err(ChannelError::TruncatedFrame {
                expected: 9,
                received: 7
            })
        ));
        let mut dec = FrameDecoder::new(100);
        dec.push(Bytes::from_static(b"\x00\x00"));
        assert!(matches!(dec.next_frame(), Ok(None)));
        assert!(matches!(
            dec.finish(),
            Err(ChannelError::TruncatedFrame {
                expected: 4,
                received: 2
            })
        ));
    }

    #[test]
    fn body_buffer_grows_with_data_not_with_claim() {
        let max = 1 << 20;
        let mut dec = FrameDecoder::new(max);
        let mut header = (max as u32).to_be_bytes().to_vec();
        header.push(7);
        dec.push(Bytes::from(header));
        assert_eq!(dec.next_frame().expect("ok"), None);
        assert!(dec.buffer_capacity() <= MIN_BODY_ALLOCATION);
        dec.push(Bytes::from(vec![0u8; max - 1]));
        let frame = dec.next_frame().expect("ok").expect("complete");
        assert_eq!(frame.len(), max);
        assert_eq!(frame[0], 7);
    }

    #[test]
    fn sender_side_limit() {
        assert!(matches!(
            encode_frame(&[0; 11], 10),
            Err(ChannelError::FrameTooLarge { size: 11, max: 10 })
        ));
    }
}
