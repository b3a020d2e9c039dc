//! [`ContainerAddr`]: where a container lives, and the sealed
//! [`IntoContainerAddr`] conversion behind `Container::create`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::path::{Path, PathBuf};

use transport_local::{LocalNetwork, LocalQueue};
use transport_tcp::{Host, TcpAddr, TlsAddr, UnixAddr};

use super::ContainerError;

/// The address of a container: one per backend. Prints as a URL
/// (`tcp://127.0.0.1:5555`, `ipc://[/tmp/c.sock]`, `local://c`,
/// `tls://host:port`); an agent's URL is that, `/`, and its id.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ContainerAddr {
    /// An in-process local queue.
    Local(LocalQueue),
    /// TCP.
    Tcp(TcpAddr),
    /// A Unix domain socket.
    Unix(UnixAddr),
    /// TLS over TCP.
    Tls(TlsAddr),
}

impl fmt::Display for ContainerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContainerAddr::Local(a) => a.fmt(f),
            ContainerAddr::Tcp(a) => a.fmt(f),
            ContainerAddr::Unix(a) => a.fmt(f),
            ContainerAddr::Tls(a) => a.fmt(f),
        }
    }
}

impl ContainerAddr {
    /// Parses a container URL: `tcp://host:port`, `ipc://[/path]` or
    /// `local://queue-id` (resolved in `network`). `tls://` URLs need TLS
    /// configurations: pass a [`TlsAddr`] instead.
    ///
    /// # Errors
    ///
    /// [`ContainerError::InvalidAddress`] naming `url`.
    pub fn parse(url: &str, network: &LocalNetwork) -> Result<Self, ContainerError> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(ContainerError::invalid(
                url,
                "expected a URL: tcp://host:port, ipc://[/path] or local://id",
            ));
        };
        match scheme {
            "tcp" => Ok(ContainerAddr::Tcp(url.parse()?)),
            "ipc" => Ok(ContainerAddr::Unix(url.parse()?)),
            "local" => {
                Ok(ContainerAddr::Local(network.get_queue(rest).map_err(
                    |e| ContainerError::invalid(url, e.to_string()),
                )?))
            }
            "tls" => Err(ContainerError::invalid(
                url,
                "a tls:// URL carries no TLS configuration: pass a TlsAddr",
            )),
            other => Err(ContainerError::invalid(
                url,
                format!("unknown scheme {other:?}: expected tcp, ipc or local"),
            )),
        }
    }
}

/// Splits an agent URL into the container's URL and the agent id:
/// `tcp://127.0.0.1:5555/0` → (`tcp://127.0.0.1:5555`, `0`).
pub(crate) fn split_agent_url(url: &str) -> Result<(&str, &str), ContainerError> {
    let bad = |reason: &str| ContainerError::invalid(url, reason);
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return Err(bad(
            "expected an agent URL: <scheme>://<address>/<agent id>",
        ));
    };
    // A Unix socket path (in brackets) may contain slashes.
    let from = match url[start..].find(']') {
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

mod sealed {
    pub trait Sealed {}
}

/// What [`Container::create`](super::Container::create) accepts as an
/// address; the type picks the backend. Sealed: implemented for
/// [`ContainerAddr`], [`LocalQueue`], [`TcpAddr`], [`UnixAddr`],
/// [`TlsAddr`], [`SocketAddr`] (and its V4/V6 forms), `(ip, port)`,
/// `(&str, port)` / `(String, port)` (a host name or IP), [`Path`] /
/// [`PathBuf`] (a Unix socket), and URL strings (`&str`, `String`).
pub trait IntoContainerAddr: sealed::Sealed {
    /// The address; `local://` URLs are resolved in `network`.
    ///
    /// # Errors
    ///
    /// [`ContainerError::InvalidAddress`] naming malformed input.
    fn into_container_addr(self, network: &LocalNetwork) -> Result<ContainerAddr, ContainerError>;
}

macro_rules! into_addr {
    ($($ty:ty => |$v:ident, $net:ident| $body:expr;)*) => {$(
        impl sealed::Sealed for $ty {}
        impl IntoContainerAddr for $ty {
            #[allow(unused_variables)]
            fn into_container_addr(
                self,
                $net: &LocalNetwork,
            ) -> Result<ContainerAddr, ContainerError> {
                let $v = self;
                $body
            }
        }
    )*};
}

into_addr! {
    ContainerAddr => |a, net| Ok(a);
    &ContainerAddr => |a, net| Ok(a.clone());
    LocalQueue => |a, net| Ok(ContainerAddr::Local(a));
    &LocalQueue => |a, net| Ok(ContainerAddr::Local(a.clone()));
    TcpAddr => |a, net| Ok(ContainerAddr::Tcp(a));
    UnixAddr => |a, net| Ok(ContainerAddr::Unix(a));
    TlsAddr => |a, net| Ok(ContainerAddr::Tls(a));
    SocketAddr => |a, net| Ok(ContainerAddr::Tcp(a.into()));
    SocketAddrV4 => |a, net| Ok(ContainerAddr::Tcp(a.into()));
    SocketAddrV6 => |a, net| Ok(ContainerAddr::Tcp(a.into()));
    (IpAddr, u16) => |a, net| Ok(ContainerAddr::Tcp(a.into()));
    (Ipv4Addr, u16) => |a, net| Ok(ContainerAddr::Tcp(a.into()));
    (Ipv6Addr, u16) => |a, net| Ok(ContainerAddr::Tcp(a.into()));
    (&str, u16) => |a, net| Ok(ContainerAddr::Tcp(TcpAddr::new(Host::parse(a.0)?, a.1)));
    (String, u16) => |a, net| Ok(ContainerAddr::Tcp(TcpAddr::new(Host::parse(&a.0)?, a.1)));
    &Path => |a, net| Ok(ContainerAddr::Unix(UnixAddr::new(a)?));
    PathBuf => |a, net| Ok(ContainerAddr::Unix(UnixAddr::new(a)?));
    &PathBuf => |a, net| Ok(ContainerAddr::Unix(UnixAddr::new(a.as_path())?));
    &str => |a, net| ContainerAddr::parse(a, net);
    String => |a, net| ContainerAddr::parse(&a, net);
    &String => |a, net| ContainerAddr::parse(a, net);
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
        for bad in [
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
