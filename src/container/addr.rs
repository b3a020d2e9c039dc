//! [`ContainerAddr`]: where a container lives, and the
//! [`IntoContainerAddr`] conversion behind `Container::create`.

#[cfg(feature = "tcp")]
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
#[cfg(all(unix, feature = "unix"))]
use std::path::{Path, PathBuf};

use transport_api::{Address, AnyAddress};

use super::{ContainerError, Schemes};

/// The address of a container: any backend's [`Address`], type-erased
/// (see [`AnyAddress`]). Prints as a URL (`tcp://127.0.0.1:5555`,
/// `ipc://[/tmp/c.sock]`, `local://c`, `tls://host:port`, or a third-party
/// backend's own); an agent's URL is that, `/`, and its id.
/// [`downcast_ref`](AnyAddress::downcast_ref) gives the backend's address
/// back.
pub type ContainerAddr = AnyAddress;

/// Splits an agent URL into the container's URL and the agent id:
/// `tcp://127.0.0.1:5555/0` → (`tcp://127.0.0.1:5555`, `0`).
pub(crate) fn split_agent_url(url: &str) -> Result<(&str, &str), ContainerError> {
    let bad = |reason: &str| ContainerError::invalid(url, reason);
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return Err(bad(
            "expected an agent URL: <scheme>://<address>/<agent id>",
        ));
    };
    // A Unix socket path (in brackets) may contain slashes, and even
    // brackets: it ends at the last ']' (as `UnixAddr` reads it).
    let from = match url[start..].rfind(']') {
        Some(close) if url[start..].starts_with('[') => start + close,
        _ => start,
    };
    let Some(slash) = url[from..].rfind('/').map(|i| from + i) else {
        return Err(bad("no agent id: expected <scheme>://<address>/<agent id>"));
    };
    let (base, aid) = (&url[..slash], &url[slash + 1..]);
    if aid.is_empty() {
        return Err(bad("empty agent id"));
    }
    Ok((base, aid))
}

/// The marker types that tell [`IntoContainerAddr`]'s implementations
/// apart (the compiler picks the one that applies; you never name them).
pub mod marker {
    /// Any type implementing [`Address`](transport_api::Address).
    #[derive(Debug)]
    pub enum ByAddress {}
    /// A reference to an address.
    #[derive(Debug)]
    pub enum ByRef {}
    /// A URL string, a socket address, a host and port, or a path.
    #[derive(Debug)]
    pub enum ByConversion {}
}

use marker::{ByAddress, ByConversion, ByRef};

mod sealed {
    pub trait Sealed<M> {}
}

/// What [`Container::create`](super::Container::create) accepts as an
/// address; `M` is one of the [`marker`] types, which the compiler infers.
///
/// Implemented for
///
/// - any [`Address`], this repository's ([`LocalQueue`], `TcpAddr`,
///   `UnixAddr`, `TlsAddr`, [`ContainerAddr`]) or a third-party backend's,
///   and references to them;
/// - URL strings (`&str`, `String`), resolved by the options'
///   [`Schemes`]: `local://id`, `tcp://host:port`, `tls://host:port`,
///   `ipc://[/path]`, or a scheme of your own;
/// - with the feature `tcp`: [`SocketAddr`] (and its V4/V6 forms),
///   `(ip, port)`, `(&str, port)` / `(String, port)` (a host name or IP;
///   an IPv6 address without brackets, as in Python: `("::1", 5555)`);
/// - with the feature `unix`, on Unix: [`Path`] / [`PathBuf`] (a Unix
///   socket).
///
/// Sealed: implement [`Address`] for your own backend instead.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), agentwire::ContainerError> {
/// use agentwire::{Container, ContainerOptions};
/// use transport_local::LocalNetwork;
///
/// let net = LocalNetwork::new();
/// let options = ContainerOptions::new().local_network(net.clone());
/// // A URL, resolved in the options' network…
/// let a = Container::create_with("local://a", options.clone()).await?;
/// // …or an address of any backend.
/// let b = Container::create_with(net.get_queue("b").unwrap(), options).await?;
/// assert_eq!((a.url(), b.url()), ("local://a", "local://b"));
/// # a.shutdown().await; b.shutdown().await; Ok(()) }
/// ```
///
/// [`LocalQueue`]: transport_local::LocalQueue
pub trait IntoContainerAddr<M>: sealed::Sealed<M> {
    /// The address; URLs are resolved with `schemes`.
    ///
    /// # Errors
    ///
    /// [`ContainerError::InvalidAddress`] naming malformed input.
    fn into_container_addr(self, schemes: &Schemes) -> Result<ContainerAddr, ContainerError>;
}

impl<A: Address> sealed::Sealed<ByAddress> for A {}
impl<A: Address> IntoContainerAddr<ByAddress> for A {
    fn into_container_addr(self, _: &Schemes) -> Result<ContainerAddr, ContainerError> {
        Ok(AnyAddress::new(self))
    }
}

impl<A: Address> sealed::Sealed<ByRef> for &A {}
impl<A: Address> IntoContainerAddr<ByRef> for &A {
    fn into_container_addr(self, _: &Schemes) -> Result<ContainerAddr, ContainerError> {
        Ok(AnyAddress::new(self.clone()))
    }
}

macro_rules! into_addr {
    ($($(#[$cfg:meta])* $ty:ty => |$v:ident, $schemes:ident| $body:expr;)*) => {$(
        $(#[$cfg])*
        impl sealed::Sealed<ByConversion> for $ty {}
        $(#[$cfg])*
        impl IntoContainerAddr<ByConversion> for $ty {
            #[allow(unused_variables)]
            fn into_container_addr(
                self,
                $schemes: &Schemes,
            ) -> Result<ContainerAddr, ContainerError> {
                let $v = self;
                $body
            }
        }
    )*};
}

#[cfg(feature = "tcp")]
fn tcp(addr: transport_tcp::TcpAddr) -> Result<ContainerAddr, ContainerError> {
    Ok(AnyAddress::new(addr))
}

#[cfg(feature = "tcp")]
fn host_port(host: &str, port: u16) -> Result<ContainerAddr, ContainerError> {
    // As in Python's `(host, port)` pairs, an IPv6 address comes without
    // brackets (`("::1", 5555)`); anything else is a host as in a URL.
    let host = match host.parse::<IpAddr>() {
        Ok(ip) => transport_tcp::Host::Ip(ip),
        Err(_) => transport_tcp::Host::parse(host)?,
    };
    tcp(transport_tcp::TcpAddr::new(host, port))
}

#[cfg(all(unix, feature = "unix"))]
fn unix(path: &Path) -> Result<ContainerAddr, ContainerError> {
    Ok(AnyAddress::new(transport_tcp::UnixAddr::new(path)?))
}

into_addr! {
    &str => |a, schemes| schemes.resolve(a);
    String => |a, schemes| schemes.resolve(&a);
    &String => |a, schemes| schemes.resolve(a);
    #[cfg(feature = "tcp")] SocketAddr => |a, schemes| tcp(a.into());
    #[cfg(feature = "tcp")] SocketAddrV4 => |a, schemes| tcp(a.into());
    #[cfg(feature = "tcp")] SocketAddrV6 => |a, schemes| tcp(a.into());
    #[cfg(feature = "tcp")] (IpAddr, u16) => |a, schemes| tcp(a.into());
    #[cfg(feature = "tcp")] (Ipv4Addr, u16) => |a, schemes| tcp(a.into());
    #[cfg(feature = "tcp")] (Ipv6Addr, u16) => |a, schemes| tcp(a.into());
    #[cfg(feature = "tcp")] (&str, u16) => |a, schemes| host_port(a.0, a.1);
    #[cfg(feature = "tcp")] (String, u16) => |a, schemes| host_port(&a.0, a.1);
    #[cfg(all(unix, feature = "unix"))] &Path => |a, schemes| unix(a);
    #[cfg(all(unix, feature = "unix"))] PathBuf => |a, schemes| unix(&a);
    #[cfg(all(unix, feature = "unix"))] &PathBuf => |a, schemes| unix(a);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_agent_urls() {
        let ok = |url| split_agent_url(url).expect("valid agent url");
        assert_eq!(ok("tcp://127.0.0.1:5555/0"), ("tcp://127.0.0.1:5555", "0"));
        assert_eq!(ok("tcp://[::1]:5555/12"), ("tcp://[::1]:5555", "12"));
        assert_eq!(
            ok("ipc://[/tmp/a/b.sock]/3"),
            ("ipc://[/tmp/a/b.sock]", "3")
        );
        assert_eq!(ok("local://q/0"), ("local://q", "0"));
        assert_eq!(
            ok("ipc://[/tmp/x]/y.sock]/4"),
            ("ipc://[/tmp/x]/y.sock]", "4")
        );
        for bad in [
            // Not the socket /tmp/x with agent "y.sock]": no agent id.
            "ipc://[/tmp/x]/y.sock]",
            "tcp://127.0.0.1:5555",
            "tcp://127.0.0.1:5555/",
            "nothing",
            "ipc://[/a.sock]",
        ] {
            let err = split_agent_url(bad).expect_err(bad);
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
