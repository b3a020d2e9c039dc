//! Building outgoing frames without an allocation per frame: each thread
//! encodes into one reused scratch buffer, then copies small frames into a
//! shared chunk that many frames slice (as tokio-util's `FramedWrite`
//! writes into one `BytesMut`). A frame costs a copy of a few dozen bytes
//! instead of two allocations (its `Vec` and the `Bytes` made from it).

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};

use super::frame::{finish_frame, header, HEADER_LEN};
use super::Result;

/// Frames up to this size go through the shared chunk; larger ones keep
/// their own buffer.
const SMALL_FRAME: usize = 1024;

/// The size of a new shared chunk. A frame kept alive keeps its chunk
/// alive: small chunks bound that.
const CHUNK: usize = 4096;

#[derive(Default)]
struct Buffers {
    scratch: Vec<u8>,
    chunk: BytesMut,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// A frame whose payload `encode` appends to the buffer it is given (the
/// header is filled in here).
///
/// # Errors
///
/// `encode`'s error, or [`FrameTooLarge`](super::ChannelError::FrameTooLarge).
pub(crate) fn frame(
    max_frame_size: usize,
    encode: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> Result<Bytes> {
    BUFFERS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffers) => buffers.frame(max_frame_size, encode),
        // Encoding a frame inside the encoding of another (a `Serialize`
        // impl that sends): a buffer of its own.
        Err(_) => fresh(max_frame_size, encode),
    })
}

fn fresh(max_frame_size: usize, encode: impl FnOnce(&mut Vec<u8>) -> Result<()>) -> Result<Bytes> {
    let mut buf = Vec::with_capacity(64);
    buf.extend_from_slice(&[0; HEADER_LEN]);
    encode(&mut buf)?;
    finish_frame(buf, max_frame_size)
}

impl Buffers {
    fn frame(
        &mut self,
        max_frame_size: usize,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<()>,
    ) -> Result<Bytes> {
        let scratch = &mut self.scratch;
        scratch.clear();
        scratch.extend_from_slice(&[0; HEADER_LEN]);
        let encoded = encode(scratch);
        if encoded.is_err() || scratch.len() > SMALL_FRAME {
            // A large frame keeps the buffer it was encoded in (and an
            // error drops it).
            let buf = std::mem::take(scratch);
            encoded?;
            return finish_frame(buf, max_frame_size);
        }
        let header = header(scratch.len() - HEADER_LEN, max_frame_size)?;
        scratch[..HEADER_LEN].copy_from_slice(&header);
        if self.chunk.capacity() < scratch.len() {
            self.chunk = BytesMut::with_capacity(CHUNK);
        }
        self.chunk.extend_from_slice(scratch);
        Ok(self.chunk.split().freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::ChannelError;

    fn payload(i: usize) -> Vec<u8> {
        (0..i % 700).map(|b| (b + i) as u8).collect()
    }

    #[test]
    fn frames_kept_together_stay_intact_across_chunks() {
        let frames: Vec<Bytes> = (0..3000)
            .map(|i| {
                frame(1 << 20, |buf| {
                    buf.extend_from_slice(&payload(i));
                    Ok(())
                })
                .expect("frame")
            })
            .collect();
        for (i, f) in frames.iter().enumerate() {
            let p = payload(i);
            assert_eq!(&f[..HEADER_LEN], &(p.len() as u32).to_be_bytes());
            assert_eq!(&f[HEADER_LEN..], &p[..], "frame {i}");
        }
    }

    #[test]
    fn large_frames_errors_and_limits_leave_the_buffers_usable() {
        let big = frame(1 << 20, |buf| {
            buf.resize(HEADER_LEN + 100_000, 7);
            Ok(())
        })
        .expect("a large frame");
        assert_eq!(big.len(), HEADER_LEN + 100_000);
        let failed = frame(1 << 20, |buf| {
            buf.extend_from_slice(b"half");
            Err(ChannelError::Closed)
        });
        assert!(failed.is_err());
        let too_large = frame(3, |buf| {
            buf.extend_from_slice(b"four");
            Ok(())
        });
        assert!(matches!(
            too_large,
            Err(ChannelError::FrameTooLarge { size: 4, max: 3 })
        ));
        let next = frame(16, |buf| {
            buf.extend_from_slice(b"ok");
            Ok(())
        })
        .expect("the next frame");
        assert_eq!(&next[..], b"\0\0\0\x02ok");
        assert!(big[HEADER_LEN..].iter().all(|b| *b == 7));
    }
}
