//! [`ChannelOptions`]: codec, limits and connect retries of a channel.

use std::time::Duration;

use super::frame::{DEFAULT_MAX_FRAME_SIZE, MAX_HEADER_LENGTH};
use super::{Bincode, Codec};

/// How a channel is set up: its codec, its maximum frame size, how many
/// incoming requests may wait for [`recv`](super::Channel::recv), and (for
/// [`open_connection`](super::Channel::open_connection)) how long to keep
/// retrying a refused connection.
///
/// ```
/// use std::time::Duration;
/// use agentwire::channel::{ChannelOptions, Json};
/// let options = ChannelOptions::new()
///     .codec(Json)
///     .max_frame_size(1 << 20)
///     .connect_timeout(Some(Duration::from_secs(5)));
/// assert_eq!(options.get_max_frame_size(), 1 << 20);
/// ```
#[derive(Debug, Clone)]
pub struct ChannelOptions<C = Bincode> {
    codec: C,
    max_frame_size: usize,
    max_queued_requests: usize,
    max_pending_requests: usize,
    max_concurrent_requests: usize,
    connect_timeout: Option<Duration>,
    retry_interval: Duration,
    max_retry_interval: Duration,
    close_grace: Duration,
}

impl ChannelOptions<Bincode> {
    /// The defaults: [`Bincode`], a maximum frame of
    /// [`DEFAULT_MAX_FRAME_SIZE`] (16 MiB), up to
    /// [`DEFAULT_MAX_QUEUED_REQUESTS`](Self::DEFAULT_MAX_QUEUED_REQUESTS)
    /// queued incoming requests, and one connection attempt.
    pub fn new() -> Self {
        ChannelOptions::with_codec(Bincode)
    }
}

impl Default for ChannelOptions<Bincode> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Codec> ChannelOptions<C> {
    /// The default number of received requests that may wait for
    /// [`recv`](super::Channel::recv) before further ones are held back
    /// (and, past 1 MiB of those, the channel stops reading from the peer).
    pub const DEFAULT_MAX_QUEUED_REQUESTS: usize = 1024;

    /// The default number of our own requests that may wait for their
    /// replies at once (more wait for a free slot before they are sent).
    pub const DEFAULT_MAX_PENDING_REQUESTS: usize = 1024;

    /// The default number of received requests an RPC connection handles
    /// at once.
    pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 256;

    /// The default first pause between two connection attempts.
    pub const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_millis(50);

    /// The default longest pause between two connection attempts.
    pub const DEFAULT_MAX_RETRY_INTERVAL: Duration = Duration::from_secs(2);

    /// The default time [`Channel::close`](super::Channel::close) lets the
    /// peer take what was written before the connection is aborted.
    pub const DEFAULT_CLOSE_GRACE: Duration = Duration::from_secs(5);

    /// The defaults, with `codec`.
    pub fn with_codec(codec: C) -> Self {
        ChannelOptions {
            codec,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_queued_requests: Self::DEFAULT_MAX_QUEUED_REQUESTS,
            max_pending_requests: Self::DEFAULT_MAX_PENDING_REQUESTS,
            max_concurrent_requests: Self::DEFAULT_MAX_CONCURRENT_REQUESTS,
            connect_timeout: Some(Duration::ZERO),
            retry_interval: Self::DEFAULT_RETRY_INTERVAL,
            max_retry_interval: Self::DEFAULT_MAX_RETRY_INTERVAL,
            close_grace: Self::DEFAULT_CLOSE_GRACE,
        }
    }

    /// The same options with another codec.
    pub fn codec<D: Codec>(self, codec: D) -> ChannelOptions<D> {
        ChannelOptions {
            codec,
            max_frame_size: self.max_frame_size,
            max_queued_requests: self.max_queued_requests,
            max_pending_requests: self.max_pending_requests,
            max_concurrent_requests: self.max_concurrent_requests,
            connect_timeout: self.connect_timeout,
            retry_interval: self.retry_interval,
            max_retry_interval: self.max_retry_interval,
            close_grace: self.close_grace,
        }
    }

    /// The largest frame payload, in bytes, this end sends or accepts
    /// (default [`DEFAULT_MAX_FRAME_SIZE`], 16 MiB; at most `u32::MAX`, the
    /// most a frame header can say). A larger incoming header closes the
    /// connection with [`FrameTooLarge`](super::ChannelError::FrameTooLarge);
    /// a larger outgoing message is refused with that error and the
    /// connection goes on. Both ends should use the same value.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes.min(MAX_HEADER_LENGTH);
        self
    }

    /// How many received requests may wait for
    /// [`recv`](super::Channel::recv) (default 1024). When the queue is
    /// full, further requests are held back, and once they pass 1 MiB the
    /// channel stops reading from the peer (backpressure: the peer's
    /// writes slow down, nothing is refused) until `recv` makes room; replies
    /// still complete our requests. (Reading on for a while lets the
    /// channel notice a peer that leaves with a burst of calls pending:
    /// nothing is read while reading is paused, the end of the connection
    /// included.) 0 refuses
    /// every request with an exception reply (a channel that only makes
    /// requests).
    pub fn max_queued_requests(mut self, count: usize) -> Self {
        self.max_queued_requests = count;
        self
    }

    /// How many of our requests may wait for their replies at once (default
    /// 1024, at least 1). Further requests wait for a free slot before they
    /// are sent, so a burst of calls is slowed down rather than flooding
    /// the peer; a request whose future is dropped frees its slot.
    ///
    /// Calls nested through handlers (our handler calls the peer, whose
    /// handler calls us back, and so on) hold a slot per level until the
    /// chain unwinds: a chain nested more than `count` levels deep on our
    /// side of one connection waits forever. Raise the limit for deeper
    /// recursion (aiomas has no such limit). A container's connection to
    /// itself is the exception: its handlers' calls over it take no slot
    /// (see [`Container`](crate::Container)).
    pub fn max_pending_requests(mut self, count: usize) -> Self {
        self.max_pending_requests = count.max(1);
        self
    }

    /// How many received requests an RPC connection
    /// ([`rpc::Connection`](crate::rpc::Connection)) handles at once
    /// (default 256, at least 1). At the limit it takes no more requests
    /// from the queue, which then fills and stops the reading (see
    /// [`max_queued_requests`](Self::max_queued_requests)). A handler that
    /// is waiting for the reply to an RPC call of its own does not count,
    /// so that two containers whose handlers call each other back cannot
    /// deadlock; all handlers together, waiting or not, are bounded by this
    /// limit plus [`max_pending_requests`](Self::max_pending_requests)
    /// (except on a container's connection to itself, where only the
    /// handlers that do not wait are bounded).
    pub fn max_concurrent_requests(mut self, count: usize) -> Self {
        self.max_concurrent_requests = count.max(1);
        self
    }

    /// How long [`open_connection`](super::Channel::open_connection) keeps
    /// trying while the connection is refused (aiomas's `timeout`):
    /// `Some(Duration::ZERO)` (the default) makes one attempt, `Some(t)`
    /// retries with backoff for up to `t`, `None` retries forever.
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The pauses between connection attempts: the first is `first`, each
    /// next one 1.5 times the last (as aiomas does), at most `max`. The
    /// defaults are 50 ms and 2 s (aiomas: 0.5 s and 30 s).
    pub fn retry_interval(mut self, first: Duration, max: Duration) -> Self {
        self.retry_interval = first;
        self.max_retry_interval = max.max(first);
        self
    }

    /// How long [`Channel::close`](super::Channel::close) waits for the
    /// peer to take what was written (default
    /// [`DEFAULT_CLOSE_GRACE`](Self::DEFAULT_CLOSE_GRACE), 5 s) before it
    /// aborts the connection: a peer that does not read cannot make it
    /// wait for ever.
    pub fn close_grace(mut self, grace: Duration) -> Self {
        self.close_grace = grace;
        self
    }

    /// The codec.
    pub fn get_codec(&self) -> &C {
        &self.codec
    }

    /// The maximum frame size.
    pub fn get_max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// The incoming request queue bound.
    pub fn get_max_queued_requests(&self) -> usize {
        self.max_queued_requests
    }

    /// The bound on our requests waiting for replies.
    pub fn get_max_pending_requests(&self) -> usize {
        self.max_pending_requests
    }

    /// The bound on requests an RPC connection handles at once.
    pub fn get_max_concurrent_requests(&self) -> usize {
        self.max_concurrent_requests
    }

    /// The connect retry timeout.
    pub fn get_connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout
    }

    /// The first and the longest pause between connection attempts.
    pub fn get_retry_interval(&self) -> (Duration, Duration) {
        (self.retry_interval, self.max_retry_interval)
    }

    /// How long `close` waits before aborting.
    pub fn get_close_grace(&self) -> Duration {
        self.close_grace
    }
}
