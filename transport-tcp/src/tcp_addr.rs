//! [`TcpAddr`] (`tcp://host:port`) and [`Host`]: parsing and printing.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::str::FromStr;

use transport_api::{Error, Result};

/// The host part of a TCP address: an IP address or a name to resolve.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A host name (`localhost`, `example.org`), resolved when connecting or
    /// binding.
    Name(String),
}

impl Host {
    /// Parses a host as it appears in a URL: an IPv4 address, a bracketed
    /// IPv6 address, or a host name of letters, digits, `-`, `_` and `.`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] naming `host` if it is empty, has unbalanced
    /// brackets, is a malformed IP address, or contains other characters.
    ///
    /// ```
    /// use transport_tcp::Host;
    /// assert_eq!(Host::parse("[::1]").unwrap().to_string(), "[::1]");
    /// assert!(Host::parse("").is_err());
    /// ```
    pub fn parse(host: &str) -> Result<Self> {
        parse_host(host, host)
    }

    /// Whether this is `localhost` or a loopback IP address.
    pub fn is_loopback(&self) -> bool {
        match self {
            Host::Ip(ip) => ip.is_loopback(),
            Host::Name(name) => name.eq_ignore_ascii_case("localhost"),
        }
    }
}

impl fmt::Display for Host {
    /// IPv6 addresses print in brackets, as in URLs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Host::Name(name) => f.write_str(name),
        }
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Self {
        Host::Ip(ip)
    }
}

impl From<Ipv4Addr> for Host {
    fn from(ip: Ipv4Addr) -> Self {
        Host::Ip(ip.into())
    }
}

impl From<Ipv6Addr> for Host {
    fn from(ip: Ipv6Addr) -> Self {
        Host::Ip(ip.into())
    }
}

/// A TCP address, `tcp://host:port`: an IPv4 address, a bracketed IPv6
/// address or a host name, and a port (0 asks the OS to pick one when
/// binding; the server's `addr()` then reports the real port).
///
/// TCP_NODELAY is set on its connections unless turned off with
/// [`with_nodelay(false)`](Self::with_nodelay).
///
/// ```
/// use transport_tcp::TcpAddr;
/// let addr: TcpAddr = "tcp://[::1]:5555".parse().unwrap();
/// assert_eq!(addr.port(), 5555);
/// assert_eq!(addr.to_string(), "tcp://[::1]:5555");
///
/// let err = "tcp://localhost".parse::<TcpAddr>().unwrap_err();
/// assert!(err.to_string().contains("tcp://localhost"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TcpAddr {
    host: Host,
    port: u16,
    nodelay: bool,
}

impl TcpAddr {
    /// The URL scheme.
    pub const SCHEME: &'static str = "tcp";

    /// An address from a host and a port.
    pub fn new(host: impl Into<Host>, port: u16) -> Self {
        TcpAddr {
            host: host.into(),
            port,
            nodelay: true,
        }
    }

    /// Parses `host:port` (no scheme), as after `tcp://` or `tls://`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] naming `input`.
    pub fn from_host_port(input: &str) -> Result<Self> {
        parse_host_port(input, input)
    }

    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The port; 0 means "any" when binding.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The same address with another port.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Whether connections set TCP_NODELAY (the default: yes).
    pub fn nodelay(&self) -> bool {
        self.nodelay
    }

    /// Sets whether connections to or accepted at this address set
    /// TCP_NODELAY (Nagle's algorithm off). On by default.
    pub fn with_nodelay(mut self, nodelay: bool) -> Self {
        self.nodelay = nodelay;
        self
    }

    /// The socket address, if the host is an IP address (no resolution).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self.host {
            Host::Ip(ip) => Some(SocketAddr::new(ip, self.port)),
            Host::Name(_) => None,
        }
    }

    /// `host:port`, as `ToSocketAddrs` and URLs take it.
    pub fn host_port(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl fmt::Display for TcpAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tcp://{}:{}", self.host, self.port)
    }
}

impl FromStr for TcpAddr {
    type Err = Error;

    /// Parses `tcp://host:port`.
    fn from_str(input: &str) -> Result<Self> {
        let rest = strip_scheme(input, Self::SCHEME)?;
        parse_host_port(input, rest)
    }
}

impl From<SocketAddr> for TcpAddr {
    fn from(addr: SocketAddr) -> Self {
        TcpAddr::new(addr.ip(), addr.port())
    }
}

impl From<SocketAddrV4> for TcpAddr {
    fn from(addr: SocketAddrV4) -> Self {
        SocketAddr::from(addr).into()
    }
}

impl From<SocketAddrV6> for TcpAddr {
    fn from(addr: SocketAddrV6) -> Self {
        SocketAddr::from(addr).into()
    }
}

impl<H: Into<IpAddr>> From<(H, u16)> for TcpAddr {
    fn from((ip, port): (H, u16)) -> Self {
        TcpAddr::new(ip.into(), port)
    }
}

/// Strips `scheme://` from `input`.
///
/// # Errors
///
/// [`Error::InvalidAddress`] naming `input` if it has another scheme or none.
pub(crate) fn strip_scheme<'a>(input: &'a str, scheme: &str) -> Result<&'a str> {
    let Some((got, rest)) = input.split_once("://") else {
        return Err(Error::invalid_address(
            input,
            format!("expected a {scheme}:// URL"),
        ));
    };
    if !got.eq_ignore_ascii_case(scheme) {
        return Err(Error::invalid_address(
            input,
            format!("wrong scheme {got:?}, expected {scheme}://"),
        ));
    }
    Ok(rest)
}

/// Parses `host:port`; errors name `input` (the whole URL).
pub(crate) fn parse_host_port(input: &str, rest: &str) -> Result<TcpAddr> {
    let bad = |reason: &str| Error::invalid_address(input, reason);
    if rest.contains('/') {
        return Err(bad(
            "unexpected path after the port (an address is just host:port)",
        ));
    }
    let (host, port) = if let Some(after_open) = rest.strip_prefix('[') {
        let Some((inside, after)) = after_open.split_once(']') else {
            return Err(bad("unbalanced brackets: '[' without ']'"));
        };
        let Some(port) = after.strip_prefix(':') else {
            return Err(bad(if after.is_empty() {
                "missing port (expected [ipv6]:port)"
            } else {
                "expected ':' and a port after ']'"
            }));
        };
        (&rest[..inside.len() + 2], port)
    } else {
        let Some((host, port)) = rest.rsplit_once(':') else {
            return Err(bad("missing port (expected host:port)"));
        };
        (host, port)
    };
    let host = parse_host(input, host)?;
    let port = parse_port(input, port)?;
    Ok(TcpAddr::new(host, port))
}

fn parse_host(input: &str, host: &str) -> Result<Host> {
    let bad = |reason: &str| Error::invalid_address(input, reason);
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    if let Some(after_open) = host.strip_prefix('[') {
        let Some(inside) = after_open.strip_suffix(']') else {
            return Err(bad("unbalanced brackets: '[' without ']'"));
        };
        return match inside.parse::<Ipv6Addr>() {
            Ok(ip) => Ok(Host::Ip(ip.into())),
            Err(_) if inside.is_empty() => Err(bad("empty host")),
            Err(_) => Err(bad("invalid IPv6 address in brackets")),
        };
    }
    if host.contains('[') || host.contains(']') {
        return Err(bad("unbalanced brackets"));
    }
    if host.contains(':') {
        return Err(bad("an IPv6 address must be in brackets: [addr]:port"));
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return match host.parse::<Ipv4Addr>() {
            Ok(ip) => Ok(Host::Ip(ip.into())),
            Err(_) => Err(bad("invalid IPv4 address")),
        };
    }
    let valid = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if host.len() > 253 || !host.bytes().all(valid) {
        return Err(bad(
            "invalid host name (letters, digits, '-', '_' and '.', at most 253 characters)",
        ));
    }
    Ok(Host::Name(host.to_owned()))
}

fn parse_port(input: &str, port: &str) -> Result<u16> {
    let bad = |reason: &str| Error::invalid_address(input, reason);
    if port.is_empty() {
        return Err(bad("missing port"));
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the port is not a number"));
    }
    port.parse::<u16>()
        .map_err(|_| bad("port out of range (0-65535)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> TcpAddr {
        match s.parse() {
            Ok(a) => a,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn parses_and_prints() {
        for s in [
            "tcp://127.0.0.1:5555",
            "tcp://[::1]:80",
            "tcp://localhost:0",
            "tcp://my-host.example_1.org:65535",
        ] {
            assert_eq!(ok(s).to_string(), s);
        }
        assert_eq!(ok("TCP://127.0.0.1:1").to_string(), "tcp://127.0.0.1:1");
        assert_eq!(
            ok("tcp://[::1]:80").host(),
            &Host::Ip("::1".parse().expect("ip"))
        );
    }

    #[test]
    fn rejects_with_the_input_named() {
        for s in [
            "tcp://localhost",
            "tcp://localhost:",
            "tcp://:80",
            "tcp://[::1]",
            "tcp://[::1:80",
            "tcp://::1]:80",
            "tcp://::1:80",
            "tcp://h:65536",
            "tcp://h:99999999999999999999999",
            "tcp://h:-1",
            "tcp://h:+1",
            "tcp://h:80/0",
            "tcp://[]:80",
            "tcp://[zz]:80",
            "tcp://256.1.1.1:80",
            "tcp://a b:80",
            "udp://h:80",
            "h:80",
            "",
            "tcp://",
        ] {
            let err = s.parse::<TcpAddr>().expect_err(s);
            match &err {
                Error::InvalidAddress { input, .. } => assert_eq!(input, s),
                other => panic!("{s}: unexpected {other:?}"),
            }
            assert!(err.to_string().contains(&format!("{s:?}")), "{err}");
        }
    }
}
