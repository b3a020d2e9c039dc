//! [`Proxy`]: calls under one path prefix (aiomas's `Proxy`).

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

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
    /// The prefix and the paths built on it, shared by clones.
    paths: Arc<Paths>,
    class_name: Option<Arc<str>>,
    url: Option<Arc<str>>,
}

impl<C: Codec> Clone for Proxy<C> {
    fn clone(&self) -> Self {
        Proxy {
            conn: self.conn.clone(),
            paths: Arc::clone(&self.paths),
            class_name: self.class_name.clone(),
            url: self.url.clone(),
        }
    }
}

/// The most method paths a proxy keeps built; calls to further methods
/// build theirs each time.
const MAX_PATHS: usize = 32;

/// A proxy's prefix and the full paths of the methods called through it,
/// so that a call builds no string (formatting `<prefix>/<method>` was
/// about a tenth of a local call).
#[derive(Debug)]
struct Paths {
    prefix: String,
    built: Mutex<Vec<(Box<str>, Arc<str>)>>,
}

/// A method's full path: the method itself under the root, else shared.
enum Path<'a> {
    Method(&'a str),
    Built(Arc<str>),
}

impl Deref for Path<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Path::Method(method) => method,
            Path::Built(path) => path,
        }
    }
}

impl Paths {
    /// `<prefix>/<name>`, or `name` under the root.
    fn join(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            [self.prefix.as_str(), "/", name].concat()
        }
    }

    fn path<'a>(&self, method: &'a str) -> Path<'a> {
        if self.prefix.is_empty() {
            return Path::Method(method);
        }
        // Nothing panics while holding the lock; recover anyway.
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, path)) = built.iter().find(|(m, _)| **m == *method) {
            return Path::Built(Arc::clone(path));
        }
        let path: Arc<str> = self.join(method).into();
        if built.len() < MAX_PATHS {
            built.push((method.into(), Arc::clone(&path)));
        }
        Path::Built(path)
    }
}

impl<C: Codec> Proxy<C> {
    pub(crate) fn new(conn: Connection<C>, prefix: String) -> Self {
        Proxy {
            conn,
            paths: Arc::new(Paths {
                prefix: prefix.trim_end_matches('/').to_owned(),
                built: Mutex::new(Vec::new()),
            }),
            class_name: None,
            url: None,
        }
    }

    pub(crate) fn with_agent(mut self, url: String, class_name: String) -> Self {
        self.url = Some(url.into());
        self.class_name = Some(class_name.into());
        self
    }

    /// A proxy for the sub-service `name` of this one (its methods are at
    /// `<prefix>/<name>/<method>`), over the same connection.
    pub fn sub(&self, name: &str) -> Proxy<C> {
        Proxy::new(self.conn.clone(), self.paths.join(name))
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
        self.conn.call(&self.paths.path(method), args).await
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
            .call_with_kwargs(&self.paths.path(method), args, kwargs)
            .await
    }

    /// The path prefix (`agents/0`).
    pub fn prefix(&self) -> &str {
        &self.paths.prefix
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
            .field("prefix", &self.paths.prefix)
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
            self.url.as_deref().unwrap_or(&self.paths.prefix)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(prefix: &str) -> Paths {
        Paths {
            prefix: prefix.to_owned(),
            built: Mutex::new(Vec::new()),
        }
    }

    #[test]
    fn a_method_under_the_root_is_its_own_path() {
        let root = paths("");
        assert!(matches!(root.path("add"), Path::Method("add")));
        assert!(root.built.lock().expect("unpoisoned").is_empty());
    }

    #[test]
    fn paths_are_built_once_and_shared() {
        let agent = paths("agents/0");
        let (Path::Built(first), Path::Built(again)) = (agent.path("add"), agent.path("add"))
        else {
            panic!("built paths");
        };
        assert_eq!(&*first, "agents/0/add");
        assert!(Arc::ptr_eq(&first, &again), "built once");
        assert_eq!(&*agent.path("sub"), "agents/0/sub");
    }

    #[test]
    fn at_most_max_paths_are_kept() {
        let agent = paths("a");
        for i in 0..MAX_PATHS + 10 {
            assert_eq!(&*agent.path(&format!("m{i}")), format!("a/m{i}"));
        }
        assert_eq!(agent.built.lock().expect("unpoisoned").len(), MAX_PATHS);
        let last = format!("m{}", MAX_PATHS + 5);
        assert_eq!(&*agent.path(&last), format!("a/{last}"), "built, not kept");
    }
}
