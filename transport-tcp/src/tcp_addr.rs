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
    /// IPv6 address, or a host name of letters, digits, `-`, `_` and `.`
    /// (kept in lower case: host names are case-insensitive). An IPv6 zone
    /// (`[fe80::1%25eth0]`) belongs to a whole address: see [`TcpAddr`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] naming `host` if it is empty, has unbalanced
    /// brackets, is a malformed IP address, has a zone, or contains other
    /// characters.
    ///
    /// ```
    /// use transport_tcp::Host;
    /// assert_eq!(Host::parse("[::1]").unwrap().to_string(), "[::1]");
    /// assert!(Host::parse("").is_err());
    /// ```
    pub fn parse(host: &str) -> Result<Self> {
        match parse_host(host, host)? {
            (host, None) => Ok(host),
            (_, Some(_)) => Err(Error::invalid_address(
                host,
                "an IPv6 zone belongs to a whole address (tcp://[addr%25zone]:port)",
            )),
        }
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
/// The scheme and host names are case-insensitive (`TCP://Host:1` is
/// `tcp://host:1`). A link-local IPv6 address may carry a zone, written
/// `%25` and the zone as RFC 6874 has it: a numeric interface index
/// (`tcp://[fe80::1%252]:5555`, the socket address's `scope_id`), or, on
/// Linux, an interface name (`tcp://[fe80::1%25eth0]:5555`), looked up
/// when binding or connecting.
///
/// ```
/// use transport_tcp::TcpAddr;
/// let addr: TcpAddr = "tcp://[::1]:5555".parse().unwrap();
/// assert_eq!(addr.port(), 5555);
/// assert_eq!(addr.to_string(), "tcp://[::1]:5555");
///
/// let zoned: TcpAddr = "TCP://[fe80::1%252]:5555".parse().unwrap();
/// assert_eq!(zoned.scope_id(), Some(2));
/// assert_eq!(zoned.to_string(), "tcp://[fe80::1%252]:5555");
///
/// let err = "tcp://localhost".parse::<TcpAddr>().unwrap_err();
/// assert!(err.to_string().contains("tcp://localhost"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TcpAddr {
    host: Host,
    port: u16,
    /// The IPv6 zone, only with an IPv6 host.
    zone: Option<Zone>,
    nodelay: bool,
}

/// An IPv6 zone: an interface index, or a name to look up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Zone {
    Index(u32),
    Name(String),
}

impl fmt::Display for Zone {
    /// As in a URL: `%25` and the zone.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Index(i) => write!(f, "%25{i}"),
            Zone::Name(name) => write!(f, "%25{name}"),
        }
    }
}

impl TcpAddr {
    /// The URL scheme.
    pub const SCHEME: &'static str = "tcp";

    /// An address from a host and a port.
    pub fn new(host: impl Into<Host>, port: u16) -> Self {
        TcpAddr {
            host: host.into(),
            port,
            zone: None,
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

    /// The IPv6 zone's interface index (the socket address's `scope_id`),
    /// if the address has a numeric zone.
    pub fn scope_id(&self) -> Option<u32> {
        match self.zone {
            Some(Zone::Index(i)) => Some(i),
            _ => None,
        }
    }

    /// The same address with the IPv6 zone `scope_id` (0: none). Ignored
    /// unless the host is an IPv6 address.
    pub fn with_scope_id(mut self, scope_id: u32) -> Self {
        self.zone = match self.host {
            Host::Ip(IpAddr::V6(_)) if scope_id != 0 => Some(Zone::Index(scope_id)),
            _ => None,
        };
        self
    }

    /// The socket address, if the host is an IP address (no resolution;
    /// `None` also for a zone given as an interface name, looked up when
    /// binding or connecting).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match (&self.host, &self.zone) {
            (Host::Ip(IpAddr::V6(ip)), Some(Zone::Index(scope))) => {
                Some(SocketAddrV6::new(*ip, self.port, 0, *scope).into())
            }
            (Host::Ip(_), Some(Zone::Name(_))) | (Host::Name(_), _) => None,
            (Host::Ip(ip), _) => Some(SocketAddr::new(*ip, self.port)),
        }
    }

    /// The zone's interface name, if the zone is given as one.
    pub(crate) fn zone_name(&self) -> Option<&str> {
        match &self.zone {
            Some(Zone::Name(name)) => Some(name),
            _ => None,
        }
    }

    /// `host:port`, as URLs take it (and `ToSocketAddrs`, for an address
    /// without a zone).
    pub fn host_port(&self) -> String {
        match (&self.host, &self.zone) {
            (Host::Ip(IpAddr::V6(ip)), Some(zone)) => format!("[{ip}{zone}]:{}", self.port),
            _ => format!("{}:{}", self.host, self.port),
        }
    }
}

impl fmt::Display for TcpAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tcp://{}", self.host_port())
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
    /// Keeps an IPv6 address's `scope_id` as its zone.
    fn from(addr: SocketAddr) -> Self {
        let scope_id = match addr {
            SocketAddr::V6(v6) => v6.scope_id(),
            SocketAddr::V4(_) => 0,
        };
        TcpAddr::new(addr.ip(), addr.port()).with_scope_id(scope_id)
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
    let (host, zone) = parse_host(input, host)?;
    let port = parse_port(input, port)?;
    Ok(TcpAddr {
        zone,
        ..TcpAddr::new(host, port)
    })
}

/// Parses a host, and an IPv6 address's zone if it has one.
fn parse_host(input: &str, host: &str) -> Result<(Host, Option<Zone>)> {
    let bad = |reason: &str| Error::invalid_address(input, reason);
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    if let Some(after_open) = host.strip_prefix('[') {
        let Some(inside) = after_open.strip_suffix(']') else {
            return Err(bad("unbalanced brackets: '[' without ']'"));
        };
        let (ip, zone) = match inside.split_once('%') {
            Some((ip, zone)) => (ip, Some(parse_zone(input, zone)?)),
            None => (inside, None),
        };
        return match ip.parse::<Ipv6Addr>() {
            Ok(ip) => Ok((Host::Ip(ip.into()), zone)),
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
            Ok(ip) => Ok((Host::Ip(ip.into()), None)),
            Err(_) => Err(bad("invalid IPv4 address")),
        };
    }
    let valid = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if host.len() > 253 || !host.bytes().all(valid) {
        return Err(bad(
            "invalid host name (letters, digits, '-', '_' and '.', at most 253 characters)",
        ));
    }
    // Host names are case-insensitive (RFC 3986, 3.2.2): kept in lower
    // case, so that two spellings of one host are one address.
    Ok((Host::Name(host.to_ascii_lowercase()), None))
}

/// Parses an IPv6 zone as a URL writes it (RFC 6874): `25` (the `%` is
/// already taken) and an interface index or name.
fn parse_zone(input: &str, zone: &str) -> Result<Zone> {
    let bad = |reason: &str| Error::invalid_address(input, reason);
    let Some(zone) = zone.strip_prefix("25") else {
        return Err(bad(
            "an IPv6 zone in a URL is written %25 and the zone (RFC 6874), e.g. [fe80::1%252]",
        ));
    };
    if zone.is_empty() {
        return Err(bad("empty IPv6 zone after %25"));
    }
    if zone.bytes().all(|b| b.is_ascii_digit()) {
        return match zone.parse::<u32>() {
            Ok(0) => Err(bad("IPv6 zone index 0 is no interface")),
            Ok(i) => Ok(Zone::Index(i)),
            Err(_) => Err(bad("IPv6 zone index out of range")),
        };
    }
    // An interface name, as Linux allows them (at most 15 bytes, no '/',
    // no whitespace); kept more strictly to what appears in URLs.
    let valid = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if zone.len() > 15 || !zone.bytes().all(valid) || zone == "." || zone == ".." {
        return Err(bad(
            "invalid IPv6 zone: an interface index, or an interface name of at most 15 \
             letters, digits, '-', '_' and '.'",
        ));
    }
    Ok(Zone::Name(zone.to_owned()))
}

/// The interface index of the network interface `name` (for an IPv6
/// zone), read from sysfs.
///
/// # Errors
///
/// [`Error::NotFound`] naming `shown` when there is no such interface, or
/// where interface names cannot be looked up (outside Linux).
pub(crate) fn interface_index(name: &str, shown: &dyn fmt::Display) -> Result<u32> {
    let not_found = |why: String| Error::NotFound {
        addr: shown.to_string(),
        source: Some(std::io::Error::new(std::io::ErrorKind::NotFound, why)),
    };
    if !cfg!(target_os = "linux") {
        return Err(not_found(format!(
            "IPv6 zone {name:?}: interface names are looked up on Linux only; \
             give the interface's index instead"
        )));
    }
    let path = std::path::Path::new("/sys/class/net")
        .join(name)
        .join("ifindex");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        not_found(format!(
            "IPv6 zone {name:?}: no such network interface ({e})"
        ))
    })?;
    text.trim()
        .parse::<u32>()
        .map_err(|_| not_found(format!("IPv6 zone {name:?}: unreadable interface index")))
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
            ok("Tcp://My-Host.Example:1").to_string(),
            "tcp://my-host.example:1"
        );
        assert_eq!(ok("tcp://LOCALHOST:1"), ok("tcp://localhost:1"));
        assert_eq!(
            ok("tcp://[::1]:80").host(),
            &Host::Ip("::1".parse().expect("ip"))
        );
    }

    #[test]
    fn ipv6_zones() {
        let zoned = ok("tcp://[fe80::1%253]:5555");
        assert_eq!(zoned.scope_id(), Some(3));
        assert_eq!(zoned.to_string(), "tcp://[fe80::1%253]:5555");
        let sa = SocketAddrV6::new("fe80::1".parse().expect("ip"), 5555, 0, 3);
        assert_eq!(zoned.socket_addr(), Some(sa.into()));
        assert_eq!(TcpAddr::from(sa), zoned);
        assert_eq!(ok(&zoned.to_string()), zoned);
        let named = ok("tcp://[fe80::1%25eth0]:5555");
        assert_eq!(named.to_string(), "tcp://[fe80::1%25eth0]:5555");
        assert_eq!((named.scope_id(), named.socket_addr()), (None, None));
        assert_eq!(named.zone_name(), Some("eth0"));
        assert!(Host::parse("[fe80::1%253]").is_err());
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
            "tcp://[fe80::1%]:80",
            "tcp://[fe80::1%25]:80",
            "tcp://[fe80::1%3]:80",
            "tcp://[fe80::1%250]:80",
            "tcp://[fe80::1%2599999999999]:80",
            "tcp://[fe80::1%25a/b]:80",
            "tcp://[fe80::1%25..]:80",
            "tcp://[fe80::1%25abcdefghijklmnop]:80",
            "tcp://[%253]:80",
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
