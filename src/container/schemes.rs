//! [`Schemes`]: how a container turns URLs into addresses.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use transport_api::AnyAddress;
use transport_local::LocalNetwork;
#[cfg(feature = "tls")]
use transport_tcp::tls::rustls::{ClientConfig, ServerConfig};

use super::ContainerError;

/// A scheme's resolver: turns a URL of that scheme into an address.
pub type Resolver = Arc<dyn Fn(&str) -> transport_api::Result<AnyAddress> + Send + Sync>;

/// The built-in schemes: name, whether this build has it, the feature
/// that gives it.
const BUILT_IN: &[(&str, bool, &str)] = &[
    ("local", true, ""),
    ("tcp", cfg!(feature = "tcp"), "tcp"),
    ("tls", cfg!(feature = "tls"), "tls"),
    ("ipc", cfg!(all(unix, feature = "unix")), "unix (on Unix)"),
    ("mqtt", cfg!(feature = "mqtt"), "mqtt"),
    ("mqtts", cfg!(feature = "mqtt"), "mqtt"),
];

/// The registry of URL schemes a container resolves URLs with — its own
/// address given as a string, and the agent URLs it
/// [`connect`](super::Container::connect)s to.
///
/// Built in: `local://queue-id` (a queue of the options'
/// [`LocalNetwork`]), and with the crate features of the same names
/// `tcp://host:port`, `tls://host:port` (with the TLS configurations of
/// the options), `ipc://[/path/to.sock]` and `mqtt://broker:port/<name>`
/// (`mqtts://` with the options' TLS client configuration; see
/// `transport_mqtt::MqttAddr` for credentials and options). Add your own with
/// [`ContainerOptions::scheme`](super::ContainerOptions::scheme); one
/// registered under a built-in name replaces the built-in.
///
/// ```
/// use agentwire::ContainerOptions;
/// use transport_local::{LocalNetwork, LocalQueue};
///
/// let options = ContainerOptions::new().local_network(LocalNetwork::new());
/// let addr = options.get_schemes().resolve("local://a")?;
/// assert_eq!(addr.to_string(), "local://a");
/// assert!(addr.downcast_ref::<LocalQueue>().is_some());
///
/// let err = options.get_schemes().resolve("carrier-pigeon://x").unwrap_err();
/// assert!(err.to_string().contains("carrier-pigeon://x"));
/// assert!(err.to_string().contains("local"));
/// # Ok::<(), agentwire::ContainerError>(())
/// ```
#[derive(Clone)]
pub struct Schemes {
    network: LocalNetwork,
    custom: BTreeMap<String, Resolver>,
    #[cfg(feature = "tls")]
    tls_server: Option<Arc<ServerConfig>>,
    #[cfg(feature = "tls")]
    tls_client: Option<Arc<ClientConfig>>,
}

impl Schemes {
    pub(crate) fn new(network: LocalNetwork) -> Self {
        Schemes {
            network,
            custom: BTreeMap::new(),
            #[cfg(feature = "tls")]
            tls_server: None,
            #[cfg(feature = "tls")]
            tls_client: None,
        }
    }

    pub(crate) fn set_network(&mut self, network: LocalNetwork) {
        self.network = network;
    }

    pub(crate) fn network(&self) -> &LocalNetwork {
        &self.network
    }

    /// Registers `name` (case-insensitive: kept in lower case).
    pub(crate) fn add(&mut self, name: String, resolver: Resolver) {
        self.custom.insert(name.to_ascii_lowercase(), resolver);
    }

    #[cfg(feature = "tls")]
    pub(crate) fn set_tls_server(&mut self, config: Arc<ServerConfig>) {
        self.tls_server = Some(config);
    }

    #[cfg(feature = "tls")]
    pub(crate) fn set_tls_client(&mut self, config: Arc<ClientConfig>) {
        self.tls_client = Some(config);
    }

    #[cfg(feature = "tls")]
    pub(crate) fn tls_server(&self) -> Option<&Arc<ServerConfig>> {
        self.tls_server.as_ref()
    }

    #[cfg(feature = "tls")]
    pub(crate) fn tls_client(&self) -> Option<&Arc<ClientConfig>> {
        self.tls_client.as_ref()
    }

    /// The schemes this registry knows: the built-in ones of this build,
    /// then the registered ones, each once.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = BUILT_IN
            .iter()
            .filter(|(_, on, _)| *on)
            .map(|(name, _, _)| *name)
            .collect();
        for name in self.custom.keys() {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        names
    }

    /// Whether `scheme` is known (in any case: `TCP` is `tcp`).
    pub fn contains(&self, scheme: &str) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        self.names().contains(&scheme.as_str())
    }

    /// The address `url` (`<scheme>://<address>`) stands for, by its
    /// scheme.
    ///
    /// Schemes are case-insensitive (RFC 3986): `TCP://…` and `Local://…`
    /// work like `tcp://…` and `local://…`, registered schemes too. A
    /// resolver sees the URL with its scheme in lower case; errors name
    /// `url` as given. The rest of the URL is the scheme's own: TCP and
    /// TLS host names are case-insensitive too, local queue ids are not.
    ///
    /// # Errors
    ///
    /// [`ContainerError::InvalidAddress`] naming `url`: not a URL, an
    /// unknown scheme (the reason lists the known ones), or an address
    /// the scheme's resolver rejects.
    pub fn resolve(&self, url: &str) -> Result<AnyAddress, ContainerError> {
        let given = url;
        let Some((scheme, rest)) = given.split_once("://") else {
            return Err(ContainerError::invalid(
                url,
                format!(
                    "expected a URL <scheme>://<address>; known schemes: {}",
                    self.names().join(", ")
                ),
            ));
        };
        let lower;
        let (scheme, url) = if scheme.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = format!("{}://{rest}", scheme.to_ascii_lowercase());
            (&lower[..scheme.len()], lower.as_str())
        } else {
            (scheme, given)
        };
        // From here on `url` is what resolvers see; errors name `given`.
        if let Some(resolver) = self.custom.get(scheme) {
            return resolver(url).map_err(|e| resolver_error(given, e));
        }
        match scheme {
            "local" => {
                let queue = self
                    .network
                    .get_queue(rest)
                    .map_err(|e| resolver_error(given, e))?;
                Ok(AnyAddress::new(queue))
            }
            #[cfg(feature = "tcp")]
            "tcp" => {
                let addr: transport_tcp::TcpAddr =
                    url.parse().map_err(|e| resolver_error(given, e))?;
                Ok(AnyAddress::new(addr))
            }
            #[cfg(feature = "tls")]
            "tls" => {
                let mut addr: transport_tcp::TlsAddr =
                    url.parse().map_err(|e| resolver_error(given, e))?;
                if let Some(config) = &self.tls_server {
                    addr = addr.with_server_config(Arc::clone(config));
                }
                if let Some(config) = &self.tls_client {
                    addr = addr.with_client_config(Arc::clone(config));
                }
                Ok(AnyAddress::new(addr))
            }
            #[cfg(all(unix, feature = "unix"))]
            "ipc" => {
                let addr: transport_tcp::UnixAddr =
                    url.parse().map_err(|e| resolver_error(given, e))?;
                Ok(AnyAddress::new(addr))
            }
            #[cfg(feature = "mqtt")]
            "mqtt" | "mqtts" => {
                let addr: transport_mqtt::MqttAddr =
                    url.parse().map_err(|e| resolver_error(given, e))?;
                #[cfg(feature = "tls")]
                let addr = match &self.tls_client {
                    Some(config) if addr.is_tls() => addr.with_tls_config(Arc::clone(config)),
                    _ => addr,
                };
                Ok(AnyAddress::new(addr))
            }
            other => {
                let mut reason = format!(
                    "unknown scheme {:?}; known schemes: {}",
                    &given[..other.len()],
                    self.names().join(", ")
                );
                if let Some((_, _, feature)) = BUILT_IN.iter().find(|(n, _, _)| *n == other) {
                    reason.push_str(&format!(
                        " (agentwire was built without the feature {feature})"
                    ));
                }
                Err(ContainerError::invalid(given, reason))
            }
        }
    }
}

/// A resolver's error as an invalid address naming `url`.
fn resolver_error(url: &str, err: transport_api::Error) -> ContainerError {
    match err {
        transport_api::Error::InvalidAddress { reason, .. } => ContainerError::invalid(url, reason),
        other => ContainerError::invalid(url, other.to_string()),
    }
}

impl fmt::Debug for Schemes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Schemes");
        d.field("names", &self.names())
            .field("network", &self.network);
        #[cfg(feature = "tls")]
        d.field("tls_server_config", &self.tls_server.is_some())
            .field("tls_client_config", &self.tls_client.is_some());
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schemes() -> Schemes {
        Schemes::new(LocalNetwork::new())
    }

    #[test]
    fn built_ins_then_registered_names() {
        let mut s = schemes();
        s.add(
            "mine".into(),
            Arc::new(|url: &str| Err(transport_api::Error::invalid_address(url, "never"))),
        );
        s.add(
            "local".into(),
            Arc::new(|_: &str| Err(transport_api::Error::Closed)),
        );
        let names = s.names();
        assert_eq!(names.first(), Some(&"local"));
        assert_eq!(names.last(), Some(&"mine"));
        assert_eq!(names.iter().filter(|n| **n == "local").count(), 1);
        assert!(s.contains("mine") && !s.contains("nope"));
    }

    #[test]
    fn schemes_are_case_insensitive_and_errors_name_the_url_as_given() {
        let mut s = schemes();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        s.add(
            "Mine".into(),
            Arc::new(move |url: &str| {
                log.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(url.to_owned());
                Err(transport_api::Error::invalid_address(url, "never"))
            }),
        );
        assert!(s.contains("MINE") && s.contains("mine"));
        let err = s.resolve("mInE://X").expect_err("the resolver refuses");
        assert!(
            matches!(&err, ContainerError::InvalidAddress { input, .. } if input == "mInE://X"),
            "{err:?}"
        );
        assert_eq!(
            *seen.lock().unwrap_or_else(|p| p.into_inner()),
            ["mine://X"]
        );
        let queue = s.resolve("Local://Q").expect("a local queue");
        assert_eq!(queue.to_string(), "local://Q");
        let err = s.resolve("LOCAL://a/b").expect_err("a bad queue id");
        assert!(err.to_string().contains("LOCAL://a/b"), "{err}");
        let err = s.resolve("Pigeon://x").expect_err("unknown");
        assert!(err.to_string().contains("\"Pigeon\""), "{err}");
    }

    #[test]
    fn registered_resolvers_replace_built_ins_and_errors_name_the_url() {
        let mut s = schemes();
        assert!(s.resolve("local://q").is_ok());
        s.add(
            "local".into(),
            Arc::new(|_: &str| Err(transport_api::Error::Closed)),
        );
        let err = s.resolve("local://q").expect_err("replaced");
        assert!(
            matches!(&err, ContainerError::InvalidAddress { input, .. } if input == "local://q"),
            "{err:?}"
        );
        for bad in ["nothing", "nope://x"] {
            let err = s.resolve(bad).expect_err(bad);
            let msg = err.to_string();
            assert!(msg.contains(bad) && msg.contains("local"), "{msg}");
        }
    }
}
