//! [`ContainerOptions`]: codec, connection settings and the local network.

use std::sync::Arc;
use std::time::Duration;

use transport_local::LocalNetwork;

use crate::channel::{ChannelOptions, Codec, Json};
use crate::clock::{Clock, RealClock};

/// How a [`Container`](super::Container) talks: its codec, its channels'
/// settings (maximum frame size, …), how long
/// [`connect`](super::Container::connect) retries a refused connection, and
/// where `local://` URLs are resolved.
///
/// The default codec is [`Json`], as in aiomas, so that containers can talk
/// to Python aiomas containers; choose
/// [`Bincode`](crate::channel::Bincode) for speed between Rust containers
/// (both ends must use the same codec).
///
/// ```
/// use std::time::Duration;
/// use agentwire::channel::Bincode;
/// use agentwire::ContainerOptions;
/// let options = ContainerOptions::new()
///     .codec(Bincode)
///     .connect_timeout(Some(Duration::from_secs(5)));
/// assert_eq!(options.get_connect_timeout(), Some(Duration::from_secs(5)));
/// ```
#[derive(Debug, Clone)]
pub struct ContainerOptions<C = Json> {
    channel: ChannelOptions<C>,
    network: LocalNetwork,
    clock: Arc<dyn Clock>,
    shutdown_grace: Duration,
}

impl ContainerOptions<Json> {
    /// The defaults: [`Json`], the channel defaults, one connection attempt
    /// per [`connect`](super::Container::connect), and the process-wide
    /// [`LocalNetwork`], and a [`RealClock`].
    pub fn new() -> Self {
        ContainerOptions {
            channel: ChannelOptions::with_codec(Json),
            network: LocalNetwork::global().clone(),
            clock: Arc::new(RealClock::new()),
            shutdown_grace: Self::DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

impl Default for ContainerOptions<Json> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Codec> ContainerOptions<C> {
    /// How long [`shutdown`](super::Container::shutdown) lets connections
    /// flush by default.
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

    /// How long [`shutdown`](super::Container::shutdown) lets connections
    /// flush what was written to them before it aborts them (default
    /// [`DEFAULT_SHUTDOWN_GRACE`](Self::DEFAULT_SHUTDOWN_GRACE), one
    /// second). Real time, whatever the container's clock.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// The shutdown grace period.
    pub fn get_shutdown_grace(&self) -> Duration {
        self.shutdown_grace
    }

    /// The same options with another codec.
    pub fn codec<D: Codec>(self, codec: D) -> ContainerOptions<D> {
        ContainerOptions {
            channel: self.channel.codec(codec),
            network: self.network,
            clock: self.clock,
            shutdown_grace: self.shutdown_grace,
        }
    }

    /// The channel options (codec, maximum frame size, queue bound, retry
    /// pauses) for every connection of the container.
    pub fn channel_options(mut self, options: ChannelOptions<C>) -> Self {
        self.channel = options;
        self
    }

    /// How long [`connect`](super::Container::connect) keeps trying while
    /// the remote container refuses connections (aiomas's `timeout`):
    /// `Some(Duration::ZERO)` (the default) makes one attempt, `None` tries
    /// forever.
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.channel = self.channel.connect_timeout(timeout);
        self
    }

    /// The network in which `local://` URLs are resolved (by default the
    /// process-wide one).
    pub fn local_network(mut self, network: LocalNetwork) -> Self {
        self.network = network;
        self
    }

    /// The container's clock, which its agents sleep on: real time by
    /// default, or an [`ExternalClock`](crate::clock::ExternalClock) that a
    /// co-simulation sets.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The clock.
    pub fn get_clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The channel options.
    pub fn get_channel_options(&self) -> &ChannelOptions<C> {
        &self.channel
    }

    /// The connect retry timeout.
    pub fn get_connect_timeout(&self) -> Option<Duration> {
        self.channel.get_connect_timeout()
    }

    /// The local network.
    pub fn get_local_network(&self) -> &LocalNetwork {
        &self.network
    }
}
