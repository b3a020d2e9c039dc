//! [`Link`]: the latency, jitter and bandwidth of a simulated link.

use std::time::Duration;

/// How a link between two endpoints carries bytes: a fixed latency, plus
/// a seeded jitter drawn uniformly from `[0, jitter]` per message, and an
/// optional bandwidth (bytes per second: a message of `n` bytes occupies
/// the link for `n / bandwidth`, so messages queue behind each other).
///
/// Messages on one connection keep their order, as on a stream socket: a
/// message never overtakes an earlier one in the same direction (jitter
/// and delays hold back the ones behind), unless a
/// [`reorder`](crate::Action::Reorder) rule says so.
///
/// ```
/// use std::time::Duration;
/// use agentwire_debug::Link;
/// let wan = Link::new()
///     .latency(Duration::from_millis(50))
///     .jitter(Duration::from_millis(5))
///     .bandwidth(1_000_000);
/// assert_eq!(wan.get_latency(), Duration::from_millis(50));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Link {
    latency: Duration,
    jitter: Duration,
    bandwidth: Option<u64>,
}

impl Link {
    /// A link with no latency, no jitter and unlimited bandwidth.
    pub fn new() -> Self {
        Self::default()
    }

    /// The fixed one-way latency. `Duration::MAX` (or a delay that adds
    /// up to it) is a link whose messages never arrive: simulated time
    /// does not jump to the end of time to deliver them.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// The largest extra delay, drawn per message from the simulation's seed.
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Bytes per second; `0` means unlimited.
    pub fn bandwidth(mut self, bytes_per_second: u64) -> Self {
        self.bandwidth = (bytes_per_second > 0).then_some(bytes_per_second);
        self
    }

    /// The fixed latency.
    pub fn get_latency(&self) -> Duration {
        self.latency
    }

    /// The jitter bound.
    pub fn get_jitter(&self) -> Duration {
        self.jitter
    }

    /// The bandwidth in bytes per second, if limited.
    pub fn get_bandwidth(&self) -> Option<u64> {
        self.bandwidth
    }

    /// Whether the link adds no delay at all (the fast path).
    pub(crate) fn is_instant(&self) -> bool {
        self.latency.is_zero() && self.jitter.is_zero() && self.bandwidth.is_none()
    }

    /// How long `bytes` bytes occupy the link.
    pub(crate) fn transmit_time(&self, bytes: usize) -> Duration {
        match self.bandwidth {
            Some(bw) => {
                let nanos = (bytes as u128 * 1_000_000_000) / u128::from(bw);
                Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
            }
            None => Duration::ZERO,
        }
    }
}
