//! [`Proxy`]: calls under one path prefix (aiomas's `Proxy`).

use std::fmt;

use serde::de::{self, DeserializeOwned};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::wire::deserialize_reference;
use super::{Args, Connection, RpcError};
use crate::channel::{Codec, Json};

/// The methods of one remote object, e.g. an agent: `proxy.call("add", (1,
/// 2))` calls `<prefix>/add` over its [`Connection`]. Cheap to clone; it
/// keeps its connection open.
pub struct Proxy<C: Codec = Json> {
    conn: Connection<C>,
    prefix: String,
    class_name: Option<String>,
    url: Option<String>,
}

impl<C: Codec> Clone for Proxy<C> {
    fn clone(&self) -> Self {
        Proxy {
            conn: self.conn.clone(),
            prefix: self.prefix.clone(),
            class_name: self.class_name.clone(),
            url: self.url.clone(),
        }
    }
}

impl<C: Codec> Proxy<C> {
    pub(crate) fn new(conn: Connection<C>, prefix: String) -> Self {
        Proxy {
            conn,
            prefix: prefix.trim_end_matches('/').to_owned(),
            class_name: None,
            url: None,
        }
    }

    pub(crate) fn with_agent(mut self, url: String, class_name: String) -> Self {
        self.url = Some(url);
        self.class_name = Some(class_name);
        self
    }

    /// A proxy for the sub-service `name` of this one (its methods are at
    /// `<prefix>/<name>/<method>`), over the same connection.
    pub fn sub(&self, name: &str) -> Proxy<C> {
        Proxy::new(self.conn.clone(), self.path(name))
    }

    fn path(&self, method: &str) -> String {
        if self.prefix.is_empty() {
            method.to_owned()
        } else {
            format!("{}/{method}", self.prefix)
        }
    }

    /// Calls `method` with positional `args`; see [`Connection::call`].
    ///
    /// # Errors
    ///
    /// As [`Connection::call`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the call; the peer may still run it.
    pub async fn call<A: Args + Send, R: DeserializeOwned>(
        &self,
        method: &str,
        args: A,
    ) -> Result<R, RpcError> {
        self.conn.call(&self.path(method), args).await
    }

    /// Calls `method` with positional and keyword arguments; see
    /// [`Connection::call_with_kwargs`].
    ///
    /// # Errors
    ///
    /// As [`Connection::call`].
    ///
    /// # Cancel safety
    ///
    /// As [`call`](Self::call).
    pub async fn call_with_kwargs<A, K, R>(
        &self,
        method: &str,
        args: A,
        kwargs: &K,
    ) -> Result<R, RpcError>
    where
        A: Args + Send,
        K: Serialize + Sync + ?Sized,
        R: DeserializeOwned,
    {
        self.conn
            .call_with_kwargs(&self.path(method), args, kwargs)
            .await
    }

    /// The path prefix (`agents/0`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// For a proxy from [`Container::connect`](crate::container::Container::connect):
    /// the agent's URL.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// For a proxy from [`Container::connect`](crate::container::Container::connect):
    /// the agent's class name, as `validate_aid` returned it.
    pub fn class_name(&self) -> Option<&str> {
        self.class_name.as_deref()
    }

    /// The connection.
    pub fn connection(&self) -> &Connection<C> {
        &self.conn
    }
}

impl<C: Codec> fmt::Debug for Proxy<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("prefix", &self.prefix)
            .field("url", &self.url)
            .field("class_name", &self.class_name)
            .finish()
    }
}

/// A proxy arrives where the peer sent a reference to one of its objects
/// (aiomas's `{"__type__": [typeid, "agents/0"]}`): it calls that object
/// back over the connection it came on.
impl<'de, C: Codec> Deserialize<'de> for Proxy<C> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (path, wire) = deserialize_reference(deserializer)?;
        let conn = Connection::of_wire(&wire)
            .ok_or_else(|| de::Error::custom("the connection of an agent reference is gone"))?;
        Ok(Proxy::new(conn, path))
    }
}

/// A proxy cannot be sent: aiomas sends only a container's own objects
/// (the peer would take the path for one of the sender's). Send the agent's
/// URL instead, or an agent's own handle.
impl<C: Codec> Serialize for Proxy<C> {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(format_args!(
            "a proxy (to {:?}) cannot be sent, only a container's own agents can; send its URL",
            self.url.as_deref().unwrap_or(&self.prefix)
        )))
    }
}
