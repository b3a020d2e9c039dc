//! [`IdHasher`]: the hasher of the map of pending requests, by id.

use std::hash::Hasher;

/// Hashes request ids (sequential `u64`s) with one multiplication
/// (Fibonacci hashing): no randomness, so nothing about the map depends on
/// the run.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}
