//! TCP: [`Address`] for [`TcpAddr`], and the resolve/bind/connect steps that
//! TLS reuses.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};

use async_trait::async_trait;
use tokio::net::{TcpListener, TcpStream};
use transport_api::{boxed_factory, Address, Endpoint, Error, Protocol, ProtocolHandle, Result};

use crate::conn::{self, ConnInfo};
use crate::{Host, SocketServer, SocketTransport, TcpAddr, TcpServer};

#[async_trait]
impl Address for TcpAddr {
    type Transport = SocketTransport;
    type Server = TcpServer;

    fn scheme(&self) -> &'static str {
        TcpAddr::SCHEME
    }

    /// Binds `host:port` (port 0: the OS picks one, and the server's `addr()`
    /// has it) and accepts connections, each with a protocol from `factory`.
    ///
    /// # Errors
    ///
    /// [`Error::AddrInUse`] when the port is taken, [`Error::NotFound`] when
    /// the host name does not resolve, [`Error::NoRuntime`] outside tokio,
    /// other OS errors as [`Error::Io`].
    async fn create_server<P, F>(&self, factory: F) -> Result<TcpServer>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let runtime = conn::runtime()?;
        let (listener, bound) = bind(self, self).await?;
        let addr = self.clone().with_port(bound.port());
        let factory = boxed_factory(factory);
        let nodelay = self.nodelay();
        let spawner = runtime.clone();
        let handle = move |stream: TcpStream, token| {
            let info = prepare(&stream, TcpAddr::SCHEME, nodelay);
            conn::spawn_accepted(&spawner, stream, info, factory.clone(), token);
        };
        Ok(SocketServer::start(&runtime, listener, addr, handle, None))
    }

    /// Connects to `host:port` (trying each resolved address in turn) and
    /// returns once `protocol` got `connection_made`.
    ///
    /// # Errors
    ///
    /// [`Error::ConnectionRefused`] when nothing listens there,
    /// [`Error::NotFound`] when the host name does not resolve,
    /// [`Error::ProtocolPanicked`] when `protocol`'s `connection_made`
    /// panicked (the socket is then closed),
    /// [`Error::NoRuntime`] outside tokio, other OS errors as [`Error::Io`].
    async fn create_connection<P: Protocol>(
        &self,
        protocol: P,
    ) -> Result<(SocketTransport, ProtocolHandle<P>)> {
        conn::runtime()?;
        let stream = connect(self, self).await?;
        let info = prepare(&stream, TcpAddr::SCHEME, self.nodelay());
        conn::start_client(stream, info, protocol).await
    }
}

/// Sets the socket options of a new connection and describes it.
pub(crate) fn prepare(stream: &TcpStream, kind: &'static str, nodelay: bool) -> ConnInfo {
    // Best effort: a socket that refuses the option still works.
    let _ = stream.set_nodelay(nodelay);
    ConnInfo {
        kind,
        peer: stream.peer_addr().ok().map(Endpoint::Socket),
        local: stream.local_addr().ok().map(Endpoint::Socket),
        #[cfg(feature = "tls")]
        tls: None,
    }
}

/// The socket addresses of `addr`; `shown` names it in errors.
///
/// # Errors
///
/// [`Error::NotFound`] if the host name does not resolve.
async fn resolve(addr: &TcpAddr, shown: &(dyn fmt::Display + Sync)) -> Result<Vec<SocketAddr>> {
    if let Some(sa) = addr.socket_addr() {
        return Ok(vec![sa]);
    }
    if let (Host::Ip(IpAddr::V6(ip)), Some(zone)) = (addr.host(), addr.zone_name()) {
        let scope = crate::tcp_addr::interface_index(zone, shown)?;
        return Ok(vec![SocketAddrV6::new(*ip, addr.port(), 0, scope).into()]);
    }
    let not_found = |source| Error::NotFound {
        addr: shown.to_string(),
        source: Some(source),
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr.host_port())
        .await
        .map_err(not_found)?
        .collect();
    if addrs.is_empty() {
        return Err(not_found(io::Error::new(
            io::ErrorKind::NotFound,
            "the host name resolved to no address",
        )));
    }
    Ok(addrs)
}

/// Binds the first resolved address that can be bound; returns the listener
/// and its real address.
///
/// # Errors
///
/// The error of the last address tried, classified by [`Error::from_io`].
pub(crate) async fn bind(
    addr: &TcpAddr,
    shown: &(dyn fmt::Display + Sync),
) -> Result<(TcpListener, SocketAddr)> {
    let mut last = None;
    for sa in resolve(addr, shown).await? {
        match TcpListener::bind(sa).await {
            Ok(listener) => {
                let bound = listener
                    .local_addr()
                    .map_err(|e| Error::from_io(e, shown))?;
                return Ok((listener, bound));
            }
            Err(err) => last = Some(err),
        }
    }
    Err(last_error(last, shown))
}

/// Connects to the first resolved address that accepts.
///
/// # Errors
///
/// The error of the last address tried, classified by [`Error::from_io`]
/// (a refusal is [`Error::ConnectionRefused`]).
pub(crate) async fn connect(
    addr: &TcpAddr,
    shown: &(dyn fmt::Display + Sync),
) -> Result<TcpStream> {
    let mut last = None;
    for sa in resolve(addr, shown).await? {
        match TcpStream::connect(sa).await {
            Ok(stream) => return Ok(stream),
            Err(err) => last = Some(err),
        }
    }
    Err(last_error(last, shown))
}

fn last_error(last: Option<io::Error>, shown: &(dyn fmt::Display + Sync)) -> Error {
    let err = last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrNotAvailable));
    Error::from_io(err, shown)
}
