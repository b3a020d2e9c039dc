//! [`MqttServer`] and the [`Address`] implementation of [`MqttAddr`].

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use transport_api::{
    boxed_factory, Address, ConnectionTracker, Protocol, ProtocolHandle, Result, Server,
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
    /// same name on one broker would both answer handshakes; MQTT has no way
    /// to refuse the second, so do not start two (`AddrInUse` is never
    /// returned).
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` when the broker cannot be reached; an I/O error
    /// of kind `PermissionDenied` naming the topic filter when the broker
    /// refuses the subscription (its ACLs).
    async fn create_server<P, F>(&self, factory: F) -> Result<MqttServer>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
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
        })
    }

    async fn create_connection<P: Protocol>(
        &self,
        protocol: P,
    ) -> Result<(MqttTransport, ProtocolHandle<P>)> {
        crate::conn::connect(self, protocol).await
    }
}
