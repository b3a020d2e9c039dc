//! TLS over TCP with rustls (feature `tls`, on by default): [`TlsAddr`]
//! (`tls://host:port`) and its [`Address`] implementation.
//!
//! A `TlsAddr` is a [`TcpAddr`] plus the rustls configuration each side
//! needs: a server configuration (certificate and key, and for mutual TLS the
//! roots client certificates must chain to) to serve, a client configuration
//! (trust roots, and optionally a client certificate) to connect. The
//! [`config`] module builds them for the common cases with the ring provider;
//! any rustls configuration works.
//!
//! - The server does each handshake in the connection's own task, bounded by
//!   a timeout, so a slow or failing client never holds up others; a client
//!   whose handshake fails is dropped and the server goes on serving.
//! - A failed handshake on the client side is [`Error::Tls`] whose message
//!   says why (for example that the server's certificate is not signed by a
//!   trusted root).
//! - [`write_eof`](transport_api::Transport::write_eof) sends a TLS
//!   `close_notify` and half-closes the TCP connection; the peer gets
//!   `eof_received`, as over TCP. `abort` resets the TCP connection without a
//!   `close_notify`.
//! - Peer and local addresses are the TCP socket addresses.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> transport_api::Result<()> {
//! use transport_tcp::{tls, TlsAddr};
//! use transport_api::{create_connection, create_server, Protocol, Server, SharedTransport};
//!
//! // A self-signed certificate for "localhost" (tests make their own).
//! let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
//! let cert_der = cert.cert.der().clone();
//! let key = tls::rustls::pki_types::PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der());
//!
//! let server_addr = TlsAddr::new("tcp://localhost:0".parse::<transport_tcp::TcpAddr>()?)
//!     .with_server_config(tls::server_config(vec![cert_der.clone()], key.into())?);
//! struct Quiet;
//! impl Protocol for Quiet {
//!     fn connection_made(&mut self, _: SharedTransport) {}
//!     fn data_received(&mut self, _: bytes::Bytes) {}
//! }
//! let server = create_server(|| Quiet, &server_addr).await?;
//!
//! let client_addr = server.addr()
//!     .with_client_config(tls::client_config(tls::root_store([cert_der])?)?);
//! let (transport, _client) = create_connection(|| Quiet, &client_addr).await?;
//! assert_eq!(client_addr.to_string(), format!("tls://localhost:{}", client_addr.port()));
//! # use transport_api::Transport;
//! transport.close();
//! server.close();
//! server.wait_closed().await;
//! # Ok(()) }
//! ```

pub mod config;
pub(crate) mod error;
mod info;

use std::fmt;
use std::io;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};
use transport_api::{boxed_factory, Address, Error, Protocol, ProtocolHandle, Result};

pub use config::{
    client_config, client_config_with_cert, root_store, server_config,
    server_config_with_client_auth,
};
/// The rustls version this crate uses, for building configurations.
pub use info::TlsInfo;
pub use rustls;

use crate::conn::{self, ConnInfo};
use crate::tcp::{bind, connect, prepare};
use crate::tcp_addr::{parse_host_port, strip_scheme};
use crate::{Host, SocketServer, SocketTransport, TcpAddr};

/// A TLS server: [`SocketServer`] at a [`TlsAddr`].
pub type TlsServer = SocketServer<TlsAddr>;

/// A TLS-over-TCP address, `tls://host:port`, with the rustls configuration
/// to serve and/or connect with (see the [module docs](self)).
///
/// Parsing `tls://host:port` gives an address without configurations; add
/// them with [`with_server_config`](Self::with_server_config) and
/// [`with_client_config`](Self::with_client_config). The server name a client
/// checks the certificate against is the host, unless set with
/// [`with_server_name`](Self::with_server_name).
#[derive(Clone)]
pub struct TlsAddr {
    tcp: TcpAddr,
    server_config: Option<Arc<ServerConfig>>,
    client_config: Option<Arc<ClientConfig>>,
    server_name: Option<ServerName<'static>>,
    handshake_timeout: Duration,
}

impl TlsAddr {
    /// The URL scheme.
    pub const SCHEME: &'static str = "tls";

    /// How long a handshake may take unless set otherwise.
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

    /// A TLS address over `tcp`, without configurations.
    pub fn new(tcp: impl Into<TcpAddr>) -> Self {
        TlsAddr {
            tcp: tcp.into(),
            server_config: None,
            client_config: None,
            server_name: None,
            handshake_timeout: Self::DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// The configuration a server at this address uses.
    pub fn with_server_config(mut self, config: Arc<ServerConfig>) -> Self {
        self.server_config = Some(config);
        self
    }

    /// The configuration connections to this address use.
    pub fn with_client_config(mut self, config: Arc<ClientConfig>) -> Self {
        self.client_config = Some(config);
        self
    }

    /// The name the server's certificate must be valid for, if not the host.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `name` is neither a DNS name nor an IP
    /// address.
    pub fn with_server_name(mut self, name: &str) -> Result<Self> {
        let name = ServerName::try_from(name.to_owned()).map_err(|e| {
            Error::InvalidArgument(format!("invalid TLS server name {name:?}: {e}"))
        })?;
        self.server_name = Some(name);
        Ok(self)
    }

    /// How long a handshake may take before the connection is dropped (the
    /// default is [`DEFAULT_HANDSHAKE_TIMEOUT`](Self::DEFAULT_HANDSHAKE_TIMEOUT)).
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The TCP address underneath.
    pub fn tcp(&self) -> &TcpAddr {
        &self.tcp
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.tcp.port()
    }

    /// The server configuration, if set.
    pub fn server_config(&self) -> Option<&Arc<ServerConfig>> {
        self.server_config.as_ref()
    }

    /// The client configuration, if set.
    pub fn client_config(&self) -> Option<&Arc<ClientConfig>> {
        self.client_config.as_ref()
    }

    /// The name a client checks the server's certificate against.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] if the host cannot be a TLS server name.
    pub fn server_name(&self) -> Result<ServerName<'static>> {
        if let Some(name) = &self.server_name {
            return Ok(name.clone());
        }
        match self.tcp.host() {
            Host::Ip(ip) => Ok(ServerName::IpAddress((*ip).into())),
            Host::Name(name) => ServerName::try_from(name.clone()).map_err(|e| {
                Error::invalid_address(self.to_string(), format!("not a TLS server name: {e}"))
            }),
        }
    }

    fn with_port(&self, port: u16) -> Self {
        let mut addr = self.clone();
        addr.tcp = addr.tcp.with_port(port);
        addr
    }
}

impl fmt::Display for TlsAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tls://{}", self.tcp.host_port())
    }
}

impl fmt::Debug for TlsAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAddr")
            .field("addr", &format_args!("{self}"))
            .field("server_config", &self.server_config.is_some())
            .field("client_config", &self.client_config.is_some())
            .field("server_name", &self.server_name)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish()
    }
}

impl FromStr for TlsAddr {
    type Err = Error;

    /// Parses `tls://host:port` (no configurations).
    fn from_str(input: &str) -> Result<Self> {
        let rest = strip_scheme(input, Self::SCHEME)?;
        Ok(TlsAddr::new(parse_host_port(input, rest)?))
    }
}

impl From<TcpAddr> for TlsAddr {
    fn from(tcp: TcpAddr) -> Self {
        TlsAddr::new(tcp)
    }
}

#[async_trait]
impl Address for TlsAddr {
    type Transport = SocketTransport;
    type Server = TlsServer;

    fn scheme(&self) -> &'static str {
        Self::SCHEME
    }

    /// Binds like a TCP server; every accepted connection does its handshake
    /// (within the timeout) in its own task, then gets a protocol from
    /// `factory`. Failed handshakes are dropped, with a `tracing` debug event
    /// saying why.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] without a server configuration, otherwise
    /// as for [`TcpAddr`].
    async fn create_server<P, F>(&self, factory: F) -> Result<TlsServer>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let runtime = conn::runtime()?;
        let Some(config) = self.server_config.clone() else {
            return Err(Error::InvalidArgument(format!(
                "{self}: no TLS server configuration (see TlsAddr::with_server_config)"
            )));
        };
        let (listener, bound) = bind(&self.tcp, self).await?;
        let acceptor = TlsAcceptor::from(config);
        let factory = boxed_factory(factory);
        let nodelay = self.tcp.nodelay();
        let timeout = self.handshake_timeout;
        let spawner = runtime.clone();
        let handle = move |stream: TcpStream, token| {
            let info = prepare(&stream, Self::SCHEME, nodelay);
            let handshake = acceptor.accept(stream);
            let factory = factory.clone();
            spawner.spawn(async move {
                let peer = info.peer.clone();
                match tokio::time::timeout(timeout, handshake).await {
                    Ok(Ok(tls)) => {
                        let session = tls.get_ref().1;
                        let sni = session.server_name().map(str::to_owned);
                        let info = ConnInfo {
                            tls: Some(TlsInfo::new(session, sni)),
                            ..info
                        };
                        conn::serve(TlsStream::Server(tls), info, factory, token).await;
                    }
                    // The client is refused; the server goes on. Say why,
                    // for whoever debugs a client that cannot connect.
                    Ok(Err(err)) => {
                        tracing::debug!(peer = ?peer, error = %err, "TLS handshake failed");
                    }
                    Err(_) => {
                        tracing::debug!(peer = ?peer, "TLS handshake timed out after {timeout:?}");
                    }
                }
            });
        };
        Ok(SocketServer::start(
            &runtime,
            listener,
            self.with_port(bound.port()),
            handle,
            None,
        ))
    }

    /// Connects over TCP, does the handshake, and returns once `protocol`
    /// got `connection_made`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] without a client configuration;
    /// [`Error::Tls`] if the handshake fails or times out (the message says
    /// why, e.g. that the server is not trusted); otherwise as for
    /// [`TcpAddr`].
    async fn create_connection<P: Protocol>(
        &self,
        protocol: P,
    ) -> Result<(SocketTransport, ProtocolHandle<P>)> {
        conn::runtime()?;
        let Some(config) = self.client_config.clone() else {
            return Err(Error::InvalidArgument(format!(
                "{self}: no TLS client configuration (see TlsAddr::with_client_config)"
            )));
        };
        let name = self.server_name()?;
        let sni = name.to_str().into_owned();
        let stream = connect(&self.tcp, self).await?;
        let info = prepare(&stream, Self::SCHEME, self.tcp.nodelay());
        let context = format!("TLS handshake with {self} failed");
        let handshake = TlsConnector::from(config).connect(name, stream);
        let tls = match tokio::time::timeout(self.handshake_timeout, handshake).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(err)) => return Err(handshake_error(err, &context)),
            Err(_) => {
                return Err(Error::Tls {
                    message: format!("{context}: timed out after {:?}", self.handshake_timeout),
                    source: Some(Box::new(io::Error::from(io::ErrorKind::TimedOut))),
                })
            }
        };
        let info = ConnInfo {
            tls: Some(TlsInfo::new(tls.get_ref().1, Some(sni))),
            ..info
        };
        conn::start_client(TlsStream::Client(tls), info, protocol).await
    }
}

/// Every handshake failure is a TLS error, with the cause in the message.
fn handshake_error(err: io::Error, context: &str) -> Error {
    match error::from_io(err, context) {
        Ok(tls) => tls,
        Err(io) => Error::Tls {
            message: format!("{context}: {io}"),
            source: Some(Box::new(io)),
        },
    }
}
