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
    connect_timeout: Option<Duration>,
    retry_interval: Duration,
    max_retry_interval: Duration,
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
    /// [`recv`](super::Channel::recv) before new ones are refused.
    pub const DEFAULT_MAX_QUEUED_REQUESTS: usize = 1024;

    /// The default first pause between two connection attempts.
    pub const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_millis(50);

    /// The default longest pause between two connection attempts.
    pub const DEFAULT_MAX_RETRY_INTERVAL: Duration = Duration::from_secs(2);

    /// The defaults, with `codec`.
    pub fn with_codec(codec: C) -> Self {
        ChannelOptions {
            codec,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_queued_requests: Self::DEFAULT_MAX_QUEUED_REQUESTS,
            connect_timeout: Some(Duration::ZERO),
            retry_interval: Self::DEFAULT_RETRY_INTERVAL,
            max_retry_interval: Self::DEFAULT_MAX_RETRY_INTERVAL,
        }
    }

    /// The same options with another codec.
    pub fn codec<D: Codec>(self, codec: D) -> ChannelOptions<D> {
        ChannelOptions {
            codec,
            max_frame_size: self.max_frame_size,
            max_queued_requests: self.max_queued_requests,
            connect_timeout: self.connect_timeout,
            retry_interval: self.retry_interval,
            max_retry_interval: self.max_retry_interval,
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
    /// [`recv`](super::Channel::recv) (default 1024). Beyond that, a new
    /// request is answered at once with an exception ("too many queued
    /// requests") instead of being queued, so a peer cannot make us buffer
    /// without bound, and replies keep flowing. 0 refuses every request (a
    /// channel that only makes requests).
    pub fn max_queued_requests(mut self, count: usize) -> Self {
        self.max_queued_requests = count;
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

    /// The connect retry timeout.
    pub fn get_connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout
    }

    /// The first and the longest pause between connection attempts.
    pub fn get_retry_interval(&self) -> (Duration, Duration) {
        (self.retry_interval, self.max_retry_interval)
    }
}
