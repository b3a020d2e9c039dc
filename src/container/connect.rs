//! [`Container::connect`]: proxies to other containers' agents, over one
//! cached connection per remote container.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

#[cfg(all(feature = "mqtt", feature = "tls"))]
use transport_mqtt::MqttAddr;
#[cfg(feature = "tls")]
use transport_tcp::TlsAddr;

use super::addr::split_agent_url;
use super::container::lock;
use super::loopback;
use super::{ConnectOptions, Container, ContainerAddr, ContainerError};
use crate::channel::{ChannelError, ChannelOptions, Codec, Retry};
use crate::rpc::{Connection, Proxy, RpcError};

mod cache;

pub(super) use cache::Cache;
use cache::{Entry, Failed, Settings, Slot};

impl<C: Codec> Container<C> {
    /// Connects to the agent at `url` (`tcp://127.0.0.1:5555/0`, …) and
    /// returns a proxy for it; the URL's scheme picks the backend (see
    /// [`Schemes`](super::Schemes)), after checking with the remote container's
    /// `validate_aid` that the agent exists (aiomas's `connect`). Retries a
    /// refused connection as [`ContainerOptions::connect_timeout`](super::ContainerOptions::connect_timeout) says.
    ///
    /// There is one connection per remote container: proxies to agents of
    /// the same container share it, and it is made again if it was lost.
    /// The remote container can call this one's agents over it too.
    /// Concurrent connects to one remote container make one attempt at a
    /// time, and share it: a connect that waited while another made an
    /// attempt takes that attempt's connection, or its failure as the
    /// failure of its own attempt (and retries after its own pause, or
    /// gives up, as its own timeout says); a failure other than a refusal
    /// only if the attempt had its own settings (URL and TLS client
    /// configuration). A connect waits for at most one attempt of others,
    /// however long they go on retrying.
    ///
    /// # Errors
    ///
    /// [`ContainerError::InvalidAddress`] for a malformed URL, an unknown
    /// scheme, or a `tls://` URL without a TLS client configuration;
    /// [`ContainerError::Connect`] if the remote container cannot be reached
    /// (kind `ConnectionRefused`, …; a refused TLS handshake is kind
    /// `InvalidData`, and a client certificate that a TLS 1.3 server refuses
    /// after the handshake is a lost connection, kind `ConnectionReset`;
    /// both with a message saying why) or `validate_aid` fails;
    /// [`ContainerError::AgentNotFound`] if it has no such agent;
    /// [`ContainerError::NoAnswer`] if it does not answer `validate_aid`
    /// within [`ContainerOptions::handshake_timeout`](super::ContainerOptions::handshake_timeout);
    /// [`ContainerError::ShutDown`] after [`shutdown`](Self::shutdown),
    /// also when the shutdown began while this call was under way.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a connection made before the future was dropped stays
    /// cached.
    pub async fn connect(&self, url: &str) -> Result<Proxy<C>, ContainerError> {
        self.connect_with_timeout(url, self.inner.options.get_connect_timeout())
            .await
    }

    /// Like [`connect`](Self::connect), with its own retry timeout
    /// (`Some(Duration::ZERO)`: one attempt; `None`: forever).
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    ///
    /// # Cancel safety
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_with_timeout(
        &self,
        url: &str,
        timeout: Option<Duration>,
    ) -> Result<Proxy<C>, ContainerError> {
        self.connect_with(url, &ConnectOptions::new().timeout(timeout))
            .await
    }

    /// Like [`connect`](Self::connect), with [`ConnectOptions`] that differ
    /// from the container's: its own retry timeout, its own TLS client
    /// configuration (say, another certificate for this peer). They apply
    /// when the connection is made; a cached connection to the same remote
    /// container is reused as it is.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    ///
    /// # Cancel safety
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_with(
        &self,
        url: &str,
        options: &ConnectOptions,
    ) -> Result<Proxy<C>, ContainerError> {
        if self.is_shut_down() {
            return Err(ContainerError::ShutDown);
        }
        let timeout = options
            .get_timeout()
            .unwrap_or_else(|| self.inner.options.get_connect_timeout());
        let (base, aid) = split_agent_url(url)?;
        // The error names the URL given, not just its container part.
        let addr = self.remote_addr(base, options).map_err(|e| match e {
            ContainerError::InvalidAddress { reason, .. } => ContainerError::invalid(url, reason),
            other => other,
        })?;
        let settings = Settings::new(base, &addr);
        // One schedule for the whole call: a connect that has to make the
        // connection again (the cached one, or the one it made, was lost
        // before `validate_aid` was answered) does not start its timeout
        // over.
        let mut retry = Retry::new(timeout, self.inner.options.get_channel_options());
        // A shutdown that began meanwhile ended the attempts (or closed
        // the connection under the `validate_aid` call): that is the error,
        // not the connection it cost.
        let failed = |source| {
            if self.is_shut_down() {
                return ContainerError::ShutDown;
            }
            ContainerError::Connect {
                url: url.to_owned(),
                source,
            }
        };
        let (mut conn, fresh) = self
            .connection(&addr, &settings, &mut retry)
            .await
            .map_err(failed)?;
        let checked = self.validate(&addr, &conn, fresh, url, aid).await?;
        // A shutdown that began meanwhile closed the connection (or is
        // closing it): no proxy that is dead on arrival, no reconnecting.
        if self.is_shut_down() {
            return Err(ContainerError::ShutDown);
        }
        let class = match checked {
            // The cached connection turned out dead (the remote container
            // restarted, say): once more on a fresh one.
            Err(e) if e.is_connection() => {
                self.forget(&addr, &conn).await;
                let fresh;
                (conn, fresh) = self
                    .connection(&addr, &settings, &mut retry)
                    .await
                    .map_err(failed)?;
                self.validate(&addr, &conn, fresh, url, aid)
                    .await?
                    .map_err(failed)?
            }
            other => other.map_err(failed)?,
        };
        if self.is_shut_down() {
            return Err(ContainerError::ShutDown);
        }
        match class {
            Some(class) => Ok(conn
                .proxy(format!("agents/{aid}"))
                .with_agent(url.to_owned(), class)),
            None => Err(ContainerError::AgentNotFound {
                url: url.to_owned(),
                aid: aid.to_owned(),
            }),
        }
    }

    /// Asks the remote container over `conn` whether it has agent `aid`
    /// (its class name, if so), within the handshake timeout: a container
    /// that does not answer in time is [`ContainerError::NoAnswer`], and
    /// its connection is no longer handed out; if this `connect` made it
    /// (`fresh`: no proxy uses it), it is aborted. (One that was cached may
    /// carry other proxies' calls, slow behind a busy peer's queue: those
    /// keep it.)
    async fn validate(
        &self,
        addr: &ContainerAddr,
        conn: &Connection<C>,
        fresh: bool,
        url: &str,
        aid: &str,
    ) -> Result<Result<Option<String>, RpcError>, ContainerError> {
        let call = conn.call::<_, Option<String>>("validate_aid", (aid,));
        let Some(waited) = self.inner.options.get_handshake_timeout() else {
            return Ok(call.await);
        };
        match tokio::time::timeout(waited, call).await {
            Ok(answer) => Ok(answer),
            Err(_) => {
                self.forget(addr, conn).await;
                if fresh {
                    conn.abort().await;
                }
                Err(ContainerError::NoAnswer {
                    url: url.to_owned(),
                    waited,
                })
            }
        }
    }

    /// The address of the remote container at `base`, by its scheme; for
    /// TLS (`tls://`, and `mqtts://` to the broker), with the client
    /// configuration of `options`, else of the container's options, else of
    /// the address it serves on.
    fn remote_addr(
        &self,
        base: &str,
        options: &ConnectOptions,
    ) -> Result<ContainerAddr, ContainerError> {
        let addr = self.inner.options.get_schemes().resolve(base)?;
        #[cfg(feature = "tls")]
        if let Some(tls) = addr.downcast_ref::<TlsAddr>() {
            let own = self.inner.addr.downcast_ref::<TlsAddr>();
            let config = options
                .get_tls_client_config()
                .or(tls.client_config())
                .or(own.and_then(TlsAddr::client_config));
            let config = config.ok_or_else(|| no_tls_config(base))?;
            let with = tls.clone().with_client_config(Arc::clone(config));
            return Ok(ContainerAddr::new(with));
        }
        #[cfg(all(feature = "mqtt", feature = "tls"))]
        if let Some(mqtt) = addr.downcast_ref::<MqttAddr>().filter(|a| a.is_tls()) {
            let own = self.inner.addr.downcast_ref::<MqttAddr>();
            let config = options
                .get_tls_client_config()
                .or(mqtt.tls_config())
                .or(own.and_then(MqttAddr::tls_config))
                .ok_or_else(|| no_tls_config(base))?;
            let with = mqtt.clone().with_tls_config(Arc::clone(config));
            return Ok(ContainerAddr::new(with));
        }
        #[cfg(not(feature = "tls"))]
        let _ = options; // only TLS has per-connect address settings
        Ok(addr)
    }

    /// The cached connection to the container at `addr`, made if needed
    /// (retrying as `retry` says); whether it was made now.
    async fn connection(
        &self,
        addr: &ContainerAddr,
        settings: &Settings,
        retry: &mut Retry,
    ) -> Result<(Connection<C>, bool), RpcError> {
        if self.inner.registry.is_shut_down() {
            return Err(shut());
        }
        let key = addr.to_string();
        let entry = lock(&self.inner.outgoing).slot(&key);
        // However this ends without a connection (an error, or the caller
        // giving up), no entry stays behind for an address that was never
        // reached: URLs to connect to may come from peers. Declared before
        // `slot`, so that it runs once the slot is unlocked.
        let _cleanup = EmptySlotCleanup {
            container: self,
            key: &key,
            entry: &entry,
        };
        // One attempt at a time under the entry's lock, the pauses between
        // them outside it: a connect that waits for the entry waits for one
        // attempt, not for all the retries of a connect ahead of it (which
        // may retry without end).
        let options = self
            .inner
            .options
            .get_channel_options()
            .clone()
            .connect_timeout(Some(Duration::ZERO));
        loop {
            let asked = Instant::now();
            let mut slot = entry.lock().await;
            if self.inner.registry.is_shut_down() {
                // What the entry holds is tracked: the shutdown closes it.
                return Err(shut());
            }
            if let Some(conn) = &slot.conn {
                if !conn.is_closed() {
                    return Ok((conn.clone(), false));
                }
            }
            // An attempt that began while this connect waited for the lock
            // failed: it is the attempt this one would make, and its
            // failure this one's. (Making it again, each waiter in turn,
            // made N concurrent connects to a container that is down take
            // N times as long: N times the two-second handshake on MQTT.
            // An attempt that began before this one asked may have been
            // refused before the remote container came up: that one is
            // made again. So is one that failed with other settings, unless
            // it was refused: another connect's TLS configuration may not
            // be trusted where this one's is.)
            let error = match &slot.failed {
                Some(failed) if failed.is_shared_with(asked, settings) => failed.error.clone(),
                _ => match self
                    .attempt(addr, settings, &key, &options, &mut slot)
                    .await
                {
                    Ok(conn) => return Ok((conn, true)),
                    Err(error) => error,
                },
            };
            drop(slot);
            let pause = match error {
                RpcError::Connection {
                    source: ChannelError::Transport(error),
                } => retry
                    .pause(addr, error)
                    .map_err(|source| RpcError::Connection { source })?,
                other => return Err(other),
            };
            // A shutdown ends the retries (which may go on without end).
            tokio::select! {
                biased;
                () = self.inner.registry.wait_shut_down() => return Err(shut()),
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One attempt to connect to `addr` (`key`), under its cache entry's
    /// lock (`slot`): the connection, cached and tracked, or the error, kept
    /// in `slot` for the connects waiting for the entry.
    async fn attempt(
        &self,
        addr: &ContainerAddr,
        settings: &Settings,
        key: &str,
        options: &ChannelOptions<C>,
        slot: &mut Entry<C>,
    ) -> Result<Connection<C>, RpcError> {
        let service = Arc::clone(&self.inner.service);
        let began = Instant::now();
        slot.failed = None;
        // A shutdown ends the attempt.
        let opened = tokio::select! {
            biased;
            () = self.inner.registry.wait_shut_down() => Err(shut()),
            conn = Connection::open_with(addr, service, options.clone(), &self.inner.wire) => conn,
        };
        let conn = opened.inspect_err(|error| {
            slot.failed = Some(Failed {
                began,
                settings: settings.clone(),
                error: error.clone(),
            });
        })?;
        if key == self.inner.url {
            // Our own address: the connection is marked as ours (or a
            // shutdown begins, and `track` below closes it).
            let patience = self.inner.options.get_handshake_timeout();
            tokio::select! {
                biased;
                () = self.inner.registry.wait_shut_down() => {}
                () = loopback::prove(&conn, &self.inner.registry.loopback, patience) => {}
            }
        }
        // Kept for shutdown, unless it began: then closed here. (The
        // cache alone would not do: a shutdown skips the entries that a
        // `connect` holds, as this one is held.)
        if !self.inner.registry.track(conn.clone()) {
            conn.close().await;
            return Err(shut());
        }
        slot.conn = Some(conn.clone());
        Ok(conn)
    }

    /// Removes the cache entry `entry` of `key` if it holds no connection
    /// and nobody else holds it (others take it only under the map's lock).
    fn drop_empty_slot(&self, key: &str, entry: &Slot<C>) {
        let mut outgoing = lock(&self.inner.outgoing);
        let ours = outgoing
            .slots
            .get(key)
            .is_some_and(|e| Arc::ptr_eq(e, entry));
        if ours
            && Arc::strong_count(entry) == 2
            && entry.try_lock().is_ok_and(|slot| slot.conn.is_none())
        {
            outgoing.slots.remove(key);
        }
    }

    /// Forgets the cached connection `conn` to the container at `addr`
    /// (if it is still the cached one). Waits for the entry if another
    /// `connect` holds it (for one attempt at most): a connection that did
    /// not answer, left cached, would make the next `connect` wait out the
    /// handshake timeout again.
    async fn forget(&self, addr: &ContainerAddr, conn: &Connection<C>) {
        let slot = lock(&self.inner.outgoing)
            .slots
            .get(&addr.to_string())
            .cloned();
        if let Some(slot) = slot {
            let mut slot = slot.lock().await;
            if slot.conn.as_ref().is_some_and(|c| c.ptr_eq(conn)) {
                slot.conn = None;
            }
        }
    }
}

/// Removes a cache entry left empty when dropped (see
/// [`Container::connection`]).
struct EmptySlotCleanup<'a, C: Codec> {
    container: &'a Container<C>,
    key: &'a str,
    entry: &'a Slot<C>,
}

impl<C: Codec> Drop for EmptySlotCleanup<'_, C> {
    fn drop(&mut self) {
        self.container.drop_empty_slot(self.key, self.entry);
    }
}

/// The error of a connect that a shutdown ended: the connection is lost
/// because this end closed it.
fn shut() -> RpcError {
    RpcError::Connection {
        source: ChannelError::lost(Some(ChannelError::Closed)),
    }
}

/// Connecting to `base` needs a TLS client configuration nobody gave.
#[cfg(feature = "tls")]
fn no_tls_config(base: &str) -> ContainerError {
    ContainerError::invalid(
        base,
        "no TLS client configuration to connect with: set \
         ContainerOptions::tls_client_config or ConnectOptions::tls_client_config",
    )
}

#[cfg(test)]
mod tests;
