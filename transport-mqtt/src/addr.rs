//! [`MqttAddr`]: `mqtt://host:port/<name>` and `mqtts://…`, parsing and printing.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use transport_api::{Error, Result};

/// The longest server name we accept, in bytes (MQTT topics may be 64 KiB;
/// ours sit under a prefix and are repeated in every handshake).
pub const MAX_NAME_LEN: usize = 1024;

/// The longest MQTT keep-alive, in seconds: the protocol sends it as a
/// 16-bit number.
pub const MAX_KEEP_ALIVE_S: u64 = u16::MAX as u64;

/// Where an MQTT server listens: a broker and a name on it.
///
/// `mqtt://[user[:password]@]host[:port]/<name>[?option=value&…]`, with
/// `mqtts://` for TLS to the broker. The port defaults to 1883 (`mqtt`) and
/// 8883 (`mqtts`); IPv6 hosts go in brackets. `<name>` is one or more topic
/// levels separated by `/` (`agents`, `site-a/agents`); it may not be empty,
/// have empty levels, or contain the MQTT wildcards `+` and `#`.
///
/// Options in the query: `client_id=<prefix>` (the MQTT client ids this
/// address's sessions use start with it, default `agentwire`),
/// `connect_timeout_ms=<n>` (how long a handshake waits for a server before
/// `ConnectionRefused`, default 2000), `keep_alive_s=<n>` (the MQTT keep-alive,
/// which also bounds how long the broker takes to notice a dead peer, default 5).
///
/// It prints without credentials and options, so an agent URL
/// (`mqtt://host:port/<name>/<aid>`) never carries a password.
///
/// ```
/// use transport_mqtt::MqttAddr;
/// let addr: MqttAddr = "mqtt://alice:secret@broker.example:1884/site/agents?client_id=ops"
///     .parse()?;
/// assert_eq!(addr.host(), "broker.example");
/// assert_eq!(addr.port(), 1884);
/// assert_eq!(addr.name(), "site/agents");
/// assert_eq!(addr.to_string(), "mqtt://broker.example:1884/site/agents");
/// assert!("mqtt://broker/a/+/b".parse::<MqttAddr>().is_err());
/// # Ok::<(), transport_api::Error>(())
/// ```
#[derive(Clone)]
pub struct MqttAddr {
    tls: bool,
    host: String,
    port: u16,
    name: String,
    credentials: Option<(String, String)>,
    client_id: String,
    connect_timeout: Duration,
    keep_alive: Duration,
    tls_config: Option<Arc<ClientConfig>>,
}

impl MqttAddr {
    /// An address on the broker at `host:port` with the given server name.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] for an empty host or a bad name.
    pub fn new(host: &str, port: u16, name: &str) -> Result<Self> {
        let url = format!("mqtt://{host}:{port}/{name}");
        let host = check_host(&url, host)?;
        check_name(&url, name)?;
        Ok(MqttAddr {
            tls: false,
            host: host.into(),
            port,
            name: name.into(),
            credentials: None,
            client_id: "agentwire".into(),
            connect_timeout: Duration::from_millis(2000),
            keep_alive: Duration::from_secs(5),
            tls_config: None,
        })
    }

    /// The broker's host name or IP address (without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The broker's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's name: the topic levels it listens under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the broker is reached over TLS (`mqtts://`).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The user name and password sent to the broker, if any.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The prefix of the MQTT client ids of this address's sessions.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// How long a handshake waits for a server before `ConnectionRefused`.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The MQTT keep-alive interval.
    pub fn keep_alive(&self) -> Duration {
        self.keep_alive
    }

    /// The TLS configuration for `mqtts://`, if one was given.
    pub fn tls_config(&self) -> Option<&Arc<ClientConfig>> {
        self.tls_config.as_ref()
    }

    /// The same broker and options with another server name.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] for a bad name.
    pub fn with_name(&self, name: &str) -> Result<Self> {
        check_name(
            &format!("{}://{}/{name}", self.scheme_str(), self.authority()),
            name,
        )?;
        Ok(MqttAddr {
            name: name.into(),
            ..self.clone()
        })
    }

    /// Sets the user name and password sent to the broker.
    pub fn with_credentials(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    /// Sets the prefix of the MQTT client ids.
    pub fn with_client_id(mut self, prefix: &str) -> Self {
        self.client_id = prefix.into();
        self
    }

    /// Sets how long a handshake waits for a server.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the MQTT keep-alive interval (at least one second, at most
    /// [`MAX_KEEP_ALIVE_S`] seconds: what the protocol's 16-bit field holds).
    pub fn with_keep_alive(mut self, keep_alive: Duration) -> Self {
        self.keep_alive = keep_alive.clamp(
            Duration::from_secs(1),
            Duration::from_secs(MAX_KEEP_ALIVE_S),
        );
        self
    }

    /// Uses TLS to the broker with `config` (and makes the address `mqtts://`).
    /// An `mqtts://` address needs one: connecting without it is an
    /// [`Error::Tls`] that says so.
    pub fn with_tls_config(mut self, config: Arc<ClientConfig>) -> Self {
        self.tls = true;
        self.tls_config = Some(config);
        self
    }

    pub(crate) fn scheme_str(&self) -> &'static str {
        if self.tls {
            "mqtts"
        } else {
            "mqtt"
        }
    }

    /// `host:port`, with IPv6 hosts in brackets.
    pub(crate) fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The broker as a URL, for messages.
    pub(crate) fn broker_url(&self) -> String {
        format!("{}://{}", self.scheme_str(), self.authority())
    }
}

/// Checks a broker host (an IPv6 address may come in one pair of
/// brackets) and returns it without the brackets.
fn check_host<'a>(url: &str, host: &'a str) -> Result<&'a str> {
    let bare = match host.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']').ok_or_else(|| {
            Error::invalid_address(url, format!("unbalanced brackets in broker host {host:?}"))
        })?,
        None => host,
    };
    if bare.is_empty() {
        return Err(Error::invalid_address(url, "empty broker host"));
    }
    if bare
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "/?#@[]".contains(c))
    {
        return Err(Error::invalid_address(
            url,
            format!("bad broker host {host:?}"),
        ));
    }
    Ok(bare)
}

/// Checks a server name: non-empty topic levels, no wildcards, bounded.
pub(crate) fn check_name(url: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid_address(
            url,
            "no server name: expected mqtt://host:port/<name>",
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::invalid_address(
            url,
            format!("server name longer than {MAX_NAME_LEN} bytes"),
        ));
    }
    if name.split('/').any(str::is_empty) {
        return Err(Error::invalid_address(
            url,
            "empty topic level in the server name",
        ));
    }
    if name.contains(['+', '#', '\0', '?']) {
        return Err(Error::invalid_address(
            url,
            "the server name may not contain '+', '#', '?' or NUL",
        ));
    }
    Ok(())
}

impl FromStr for MqttAddr {
    type Err = Error;

    fn from_str(url: &str) -> Result<Self> {
        // Schemes are case-insensitive (RFC 3986): `MQTT://` is `mqtt://`.
        let (tls, rest) = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("mqtt") => (false, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("mqtts") => (true, rest),
            _ => return Err(Error::invalid_address(url, "expected mqtt:// or mqtts://")),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let Some((authority, name)) = rest.split_once('/') else {
            return Err(Error::invalid_address(
                url,
                "no server name: expected mqtt://host:port/<name>",
            ));
        };
        let (credentials, hostport) = match authority.rsplit_once('@') {
            Some((cred, hp)) => {
                let (user, pass) = cred.split_once(':').unwrap_or((cred, ""));
                (Some((user.to_string(), pass.to_string())), hp)
            }
            None => (None, authority),
        };
        let default_port = if tls { 8883 } else { 1883 };
        let (host, port) = split_host_port(url, hostport, default_port)?;
        let mut addr = MqttAddr::new(host, port, name).map_err(|e| rename(e, url))?;
        addr.tls = tls;
        addr.credentials = credentials;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let number = || {
                value.parse::<u64>().map_err(|_| {
                    Error::invalid_address(
                        url,
                        format!("option {key} needs a number, got {value:?}"),
                    )
                })
            };
            match key {
                "client_id" if !value.is_empty() => addr.client_id = value.into(),
                "connect_timeout_ms" => addr.connect_timeout = Duration::from_millis(number()?),
                "keep_alive_s" => match number()? {
                    n @ 0..=MAX_KEEP_ALIVE_S => addr.keep_alive = Duration::from_secs(n.max(1)),
                    n => {
                        return Err(Error::invalid_address(
                            url,
                            format!(
                                "option keep_alive_s={n} is above the MQTT maximum of \
                                 {MAX_KEEP_ALIVE_S} seconds"
                            ),
                        ))
                    }
                },
                _ => {
                    return Err(Error::invalid_address(
                        url,
                        format!(
                            "unknown option {pair:?}; known: client_id, connect_timeout_ms, keep_alive_s"
                        ),
                    ))
                }
            }
        }
        Ok(addr)
    }
}

/// Splits `host[:port]` (IPv6 in brackets).
fn split_host_port<'a>(url: &str, hp: &'a str, default_port: u16) -> Result<(&'a str, u16)> {
    let (host, port) = if let Some(inner) = hp.strip_prefix('[') {
        let Some((host, after)) = inner.split_once(']') else {
            return Err(Error::invalid_address(
                url,
                "unclosed '[' in the broker host",
            ));
        };
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(Error::invalid_address(url, "junk after ']'")),
        }
    } else {
        match hp.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hp, None),
        }
    };
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse()
            .map_err(|_| Error::invalid_address(url, format!("bad port {p:?}")))?,
    };
    Ok((host, port))
}

/// An address error about a part, restated about the whole URL.
fn rename(err: Error, url: &str) -> Error {
    match err {
        Error::InvalidAddress { reason, .. } => Error::invalid_address(url, reason),
        other => other,
    }
}

impl fmt::Display for MqttAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}/{}",
            self.scheme_str(),
            self.authority(),
            self.name
        )
    }
}

impl fmt::Debug for MqttAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttAddr")
            .field("url", &self.to_string())
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("client_id", &self.client_id)
            .field("connect_timeout", &self.connect_timeout)
            .field("keep_alive", &self.keep_alive)
            .field("tls_config", &self.tls_config.is_some())
            .finish()
    }
}

impl PartialEq for MqttAddr {
    fn eq(&self, other: &Self) -> bool {
        self.tls == other.tls
            && self.host == other.host
            && self.port == other.port
            && self.name == other.name
    }
}

impl Eq for MqttAddr {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let a: MqttAddr = "mqtts://u:p@[::1]/x/y?connect_timeout_ms=50&keep_alive_s=3"
            .parse()
            .expect("valid");
        assert_eq!((a.host(), a.port(), a.name()), ("::1", 8883, "x/y"));
        assert_eq!(a.credentials(), Some(("u", "p")));
        assert_eq!(a.connect_timeout(), Duration::from_millis(50));
        assert_eq!(a.to_string(), "mqtts://[::1]:8883/x/y");
        assert_eq!(a.to_string().parse::<MqttAddr>().expect("round trip"), a);
    }

    #[test]
    fn schemes_are_case_insensitive() {
        for (url, tls) in [("MQTT://h:1/x", false), ("Mqtts://h:1/x", true)] {
            let a: MqttAddr = url.parse().expect(url);
            assert_eq!((a.is_tls(), a.host(), a.name()), (tls, "h", "x"), "{url}");
        }
    }

    #[test]
    fn errors_name_the_url() {
        for bad in [
            "tcp://a:1/x",
            "mqtt://a:1",
            "mqtt://a:1/",
            "mqtt://a:1/x//y",
            "mqtt://a:1/x/#",
            "mqtt://:1/x",
            "mqtt://a:99999/x",
            "mqtt://[::1/x",
            "mqtt://a/x?bogus=1",
            "mqtt://a/x?keep_alive_s=soon",
            "mqtt://a/x?keep_alive_s=65536",
            "mqtt://a/x?keep_alive_s=18446744073709551615",
            // Stray or doubled brackets around the host (found by fuzzing:
            // they were trimmed away and the rest taken as the host).
            "mqtt://a]:1/x",
            "mqtt://a:b]:1/x",
            "mqtt://[[::1]]:1/x",
            "mqtt://[a]b]:1/x",
        ] {
            let err = bad.parse::<MqttAddr>().expect_err(bad);
            assert!(err.to_string().contains(bad), "{err}");
        }
        let err = "mqtt://a\u{0}b:1/x"
            .parse::<MqttAddr>()
            .expect_err("a control character in the host");
        assert!(err.to_string().contains("bad broker host"), "{err}");
        assert!(MqttAddr::new("[a", 1, "x").is_err());
        assert!(MqttAddr::new("a]", 1, "x").is_err());
        assert_eq!(
            MqttAddr::new("[::1]", 1, "x").expect("bracketed").host(),
            "::1"
        );
    }
}
