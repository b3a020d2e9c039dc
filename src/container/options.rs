//! [`ContainerOptions`]: codec, connection settings, URL schemes and TLS
//! configurations; [`ConnectOptions`] for one `connect`.

use std::sync::Arc;
use std::time::Duration;

use transport_api::AnyAddress;
use transport_local::LocalNetwork;
#[cfg(feature = "tls")]
use transport_tcp::tls::rustls::{ClientConfig, ServerConfig};

use super::Schemes;
use crate::channel::{ChannelOptions, Codec, Json};
use crate::clock::{Clock, RealClock};
use crate::rpc::{Serializable, Serializers};

/// How a [`Container`](super::Container) talks: its codec, its channels'
/// settings (maximum frame size, …), how long
/// [`connect`](super::Container::connect) retries a refused connection,
/// how URLs are resolved ([`Schemes`]: where `local://` queues live, your
/// own schemes) and, with the feature `tls`, the TLS configurations of
/// `tls://` URLs.
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
    schemes: Schemes,
    clock: Arc<dyn Clock>,
    shutdown_grace: Duration,
    handshake_timeout: Option<Duration>,
    serializers: Serializers,
}

impl ContainerOptions<Json> {
    /// The defaults: [`Json`], the channel defaults, one connection attempt
    /// per [`connect`](super::Container::connect), and the process-wide
    /// [`LocalNetwork`], and a [`RealClock`].
    pub fn new() -> Self {
        ContainerOptions {
            channel: ChannelOptions::with_codec(Json),
            schemes: Schemes::new(LocalNetwork::global().clone()),
            clock: Arc::new(RealClock::new()),
            shutdown_grace: Self::DEFAULT_SHUTDOWN_GRACE,
            handshake_timeout: Some(Self::DEFAULT_HANDSHAKE_TIMEOUT),
            serializers: Serializers::new(),
        }
    }
}

impl Default for ContainerOptions<Json> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Codec> ContainerOptions<C> {
    /// Adds a custom type that travels as aiomas's `{"__type__": [typeid,
    /// data]}` (a [`serializable`](crate::serializable) type): aiomas's
    /// `extra_serializers`. Type ids follow aiomas's container: 0 is its
    /// date serializer, then these in the order added, then agent
    /// references; the peer must add the same types in the same order.
    ///
    /// # Panics
    ///
    /// If `T` was added already.
    #[must_use]
    pub fn serializer<T: Serializable>(mut self) -> Self {
        self.serializers = self.serializers.add::<T>();
        self
    }

    /// The custom types added with [`serializer`](Self::serializer).
    pub fn get_serializers(&self) -> &Serializers {
        &self.serializers
    }

    /// The serializers of the container's connections: aiomas's date
    /// serializer first, then the custom types.
    pub(crate) fn wire_serializers(&self) -> Serializers {
        Serializers::for_container(&self.serializers)
    }

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

    /// How long [`connect`](super::Container::connect) waits for a remote
    /// container's answer to `validate_aid` by default.
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

    /// How long [`connect`](super::Container::connect) waits for the remote
    /// container to answer `validate_aid` once connected (default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`](Self::DEFAULT_HANDSHAKE_TIMEOUT), ten
    /// seconds, as a TLS handshake's): a peer that accepts and never
    /// answers makes `connect` fail with
    /// [`ContainerError::NoAnswer`](super::ContainerError::NoAnswer)
    /// instead of waiting forever. `None` waits forever, as aiomas does.
    /// Real time, whatever the container's clock (a co-simulation may step
    /// an external clock by hours while a connection is being made).
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The handshake timeout.
    pub fn get_handshake_timeout(&self) -> Option<Duration> {
        self.handshake_timeout
    }

    /// The same options with another codec.
    pub fn codec<D: Codec>(self, codec: D) -> ContainerOptions<D> {
        ContainerOptions {
            channel: self.channel.codec(codec),
            schemes: self.schemes,
            clock: self.clock,
            shutdown_grace: self.shutdown_grace,
            handshake_timeout: self.handshake_timeout,
            serializers: self.serializers,
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
        self.schemes.set_network(network);
        self
    }

    /// Registers the URL scheme `name` (what comes before `://`):
    /// `resolver` turns a URL of that scheme into an address, of any
    /// backend. The container then resolves such URLs for
    /// [`Container::create`](super::Container::create) and
    /// [`connect`](super::Container::connect) with it. A scheme registered
    /// under a built-in name (`local`, `tcp`, `tls`, `ipc`) replaces the
    /// built-in one.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use agentwire::api::AnyAddress;
    /// use agentwire::{Container, ContainerOptions};
    /// use transport_local::LocalNetwork;
    ///
    /// // `queue://name` is a local queue in a network of our own.
    /// let net = LocalNetwork::new();
    /// let queues = net.clone();
    /// let options = ContainerOptions::new().scheme("queue", move |url: &str| {
    ///     let name = url.strip_prefix("queue://").unwrap_or_default();
    ///     Ok(AnyAddress::new(queues.get_queue(name)?))
    /// });
    /// let c = Container::create_with("queue://q", options).await?;
    /// // The address a queue prints is its own `local://` URL.
    /// assert_eq!(c.url(), "local://q");
    /// assert!(net.get_queue("q")?.server().is_some());
    /// # c.shutdown().await; Ok(()) }
    /// ```
    pub fn scheme<F>(mut self, name: impl Into<String>, resolver: F) -> Self
    where
        F: Fn(&str) -> transport_api::Result<AnyAddress> + Send + Sync + 'static,
    {
        self.schemes.add(name.into(), Arc::new(resolver));
        self
    }

    /// The server configuration of a container created at a `tls://`
    /// URL (`Container::create("tls://127.0.0.1:0")`). With a
    /// configuration that requires client certificates
    /// ([`server_config_with_client_auth`](transport_tcp::tls::server_config_with_client_auth)),
    /// only peers presenting a trusted one can connect (mutual TLS).
    #[cfg(feature = "tls")]
    pub fn tls_server_config(mut self, config: Arc<ServerConfig>) -> Self {
        self.schemes.set_tls_server(config);
        self
    }

    /// The client configuration for `tls://` agent URLs: the roots the
    /// container trusts, and for mutual TLS the certificate it presents
    /// ([`client_config_with_cert`](transport_tcp::tls::client_config_with_cert)).
    /// Any container can have one, also one that does not itself listen on
    /// TLS; [`ConnectOptions::tls_client_config`] overrides it for one
    /// connect.
    #[cfg(feature = "tls")]
    pub fn tls_client_config(mut self, config: Arc<ClientConfig>) -> Self {
        self.schemes.set_tls_client(config);
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
        self.schemes.network()
    }

    /// The URL schemes, with which URLs are resolved.
    pub fn get_schemes(&self) -> &Schemes {
        &self.schemes
    }

    /// The TLS server configuration, if set.
    #[cfg(feature = "tls")]
    pub fn get_tls_server_config(&self) -> Option<&Arc<ServerConfig>> {
        self.schemes.tls_server()
    }

    /// The TLS client configuration, if set.
    #[cfg(feature = "tls")]
    pub fn get_tls_client_config(&self) -> Option<&Arc<ClientConfig>> {
        self.schemes.tls_client()
    }
}

/// Settings for one [`Container::connect_with`](super::Container::connect_with)
/// that differ from the container's [`ContainerOptions`]: the retry
/// timeout and, with the feature `tls`, the TLS client configuration.
///
/// They apply when a connection is made: a connection to the same remote
/// container that is already cached (by the container's URL) is reused as
/// it is.
///
/// ```
/// use std::time::Duration;
/// use agentwire::ConnectOptions;
/// let once = ConnectOptions::new().timeout(Some(Duration::ZERO));
/// assert_eq!(once.get_timeout(), Some(Some(Duration::ZERO)));
/// assert_eq!(ConnectOptions::new().get_timeout(), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    timeout: Option<Option<Duration>>,
    #[cfg(feature = "tls")]
    tls_client: Option<Arc<ClientConfig>>,
}

impl ConnectOptions {
    /// Nothing overridden: the container's options apply.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long to retry a refused connection, instead of
    /// [`ContainerOptions::connect_timeout`] (`Some(Duration::ZERO)`: one
    /// attempt; `None`: forever).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The TLS client configuration for a `tls://` URL, instead of
    /// [`ContainerOptions::tls_client_config`].
    #[cfg(feature = "tls")]
    pub fn tls_client_config(mut self, config: Arc<ClientConfig>) -> Self {
        self.tls_client = Some(config);
        self
    }

    /// The retry timeout, if overridden.
    pub fn get_timeout(&self) -> Option<Option<Duration>> {
        self.timeout
    }

    /// The TLS client configuration, if overridden.
    #[cfg(feature = "tls")]
    pub fn get_tls_client_config(&self) -> Option<&Arc<ClientConfig>> {
        self.tls_client.as_ref()
    }
}
