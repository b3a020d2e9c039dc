//! [`MqttServer`] and the [`Address`] implementation of [`MqttAddr`].

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use async_trait::async_trait;
use transport_api::{
    boxed_factory, Address, ConnectionTracker, Error, Protocol, ProtocolHandle, Result, Server,
};

use crate::session::{Listener, Session};
use crate::{MqttAddr, MqttTransport};

/// A server listening on an MQTT broker under a name.
///
/// It has one MQTT session for itself and every connection it accepts. If
/// the broker goes away, its connections end with an error and the session
/// reconnects; once the broker is back it serves new connections again.
pub struct MqttServer {
    addr: MqttAddr,
    session: Arc<Session>,
    tracker: ConnectionTracker,
    /// The name on its broker, this process's until the server closes.
    claim: Mutex<Option<Claim>>,
}

/// A broker (TLS or not, host, port) and a server name on it.
type Key = (bool, String, u16, String);

/// The names that this process's servers listen under, by broker.
fn names_in_use() -> MutexGuard<'static, HashSet<Key>> {
    static IN_USE: OnceLock<Mutex<HashSet<Key>>> = OnceLock::new();
    IN_USE
        .get_or_init(Mutex::default)
        .lock()
        // Nothing panics while holding it; recover anyway.
        .unwrap_or_else(|p| p.into_inner())
}

/// A server name on a broker taken by one of this process's servers, given
/// back when dropped.
struct Claim(Key);

impl Claim {
    /// Takes `addr`'s name on its broker, unless a server of this process
    /// has it.
    fn take(addr: &MqttAddr) -> Result<Claim> {
        let key = (
            addr.is_tls(),
            addr.host().to_ascii_lowercase(),
            addr.port(),
            addr.name().to_owned(),
        );
        if names_in_use().insert(key.clone()) {
            Ok(Claim(key))
        } else {
            Err(Error::AddrInUse {
                addr: addr.to_string(),
                source: None,
            })
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        names_in_use().remove(&self.0);
    }
}

impl fmt::Debug for MqttServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttServer")
            .field("addr", &self.addr.to_string())
            .field("session", &self.session)
            .field("connections", &self.tracker)
            .finish()
    }
}

#[async_trait]
impl Server for MqttServer {
    type Addr = MqttAddr;

    fn addr(&self) -> MqttAddr {
        self.addr.clone()
    }

    fn close(&self) {
        self.session.stop_listening();
        self.tracker.close();
        // The name is free for a new server once this one stopped listening.
        drop(self.claim.lock().unwrap_or_else(|p| p.into_inner()).take());
    }

    async fn wait_closed(&self) {
        self.tracker.wait_closed().await;
    }

    fn is_serving(&self) -> bool {
        self.session.is_serving()
    }
}

impl Drop for MqttServer {
    fn drop(&mut self) {
        self.session.stop_listening();
    }
}

#[async_trait]
impl Address for MqttAddr {
    type Transport = MqttTransport;
    type Server = MqttServer;

    fn scheme(&self) -> &'static str {
        self.scheme_str()
    }

    /// Subscribes to the server's topic on the broker. Two servers under the
    /// same name on one broker would both answer handshakes, and MQTT has
    /// no way to refuse the second: within one process, a second server
    /// under a name that a live server has on the same broker (the same
    /// scheme, host and port as written) fails with `AddrInUse`, until the
    /// first is closed or dropped. Across processes, do not start two.
    ///
    /// # Errors
    ///
    /// `AddrInUse` for a name this process already serves on that broker;
    /// `ConnectionRefused` when the broker cannot be reached; an I/O error
    /// of kind `PermissionDenied` naming the topic filter when the broker
    /// refuses the subscription (its ACLs).
    async fn create_server<P, F>(&self, factory: F) -> Result<MqttServer>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let claim = Claim::take(self)?;
        let tracker = ConnectionTracker::new();
        let listener = Listener {
            name: self.name().to_owned(),
            factory: boxed_factory(factory),
            tracker: tracker.clone(),
            serving: true,
        };
        let session = Session::start(self, Some(listener)).await?;
        Ok(MqttServer {
            addr: self.clone(),
            session,
            tracker,
            claim: Mutex::new(Some(claim)),
        })
    }

    async fn create_connection<P: Protocol>(
        &self,
        protocol: P,
    ) -> Result<(MqttTransport, ProtocolHandle<P>)> {
        crate::conn::connect(self, protocol).await
    }
}
