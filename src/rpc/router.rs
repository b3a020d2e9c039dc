//! [`Service`] and [`Router`]: from a path (`agents/0/add`) to a
//! [`Handler`].

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{FromArgs, Handler};
use crate::channel::{Codec, Json};

/// Something that finds the handler for a path. [`Router`] is the usual
/// one; implement it for routing that changes at run time (a container
/// routes `agents/<id>/…` to agents registered after it started serving).
pub trait Service<C: Codec = Json>: Send + Sync + 'static {
    /// The handler for `path` (segments separated by `/`, relative to this
    /// service), or `None` if there is none.
    fn resolve(&self, path: &str) -> Option<Handler<C>>;
}

impl<C: Codec, S: Service<C> + ?Sized> Service<C> for Arc<S> {
    fn resolve(&self, path: &str) -> Option<Handler<C>> {
        (**self).resolve(path)
    }
}

/// Methods by name and sub-services by path segment (aiomas's `Router`).
///
/// `add` is a method; with `router.service("agents", agents)`,
/// `agents/0/add` is method `add` of the service that `agents` routes
/// `0` to.
///
/// ```
/// use std::convert::Infallible;
/// use agentwire::rpc::{Router, Service};
///
/// let calc: Router = Router::new()
///     .method("add", |(a, b): (i64, i64)| async move { Ok::<_, Infallible>(a + b) })
///     .method("fail", |(msg,): (String,)| async move { Err::<(), _>(msg) });
/// let root: Router = Router::new().service("calc", calc);
/// assert!(root.resolve("calc/add").is_some());
/// assert!(root.resolve("calc/nope").is_none());
/// ```
pub struct Router<C: Codec = Json> {
    methods: BTreeMap<String, Handler<C>>,
    services: BTreeMap<String, Arc<dyn Service<C>>>,
}

impl<C: Codec> Default for Router<C> {
    fn default() -> Self {
        Router {
            methods: BTreeMap::new(),
            services: BTreeMap::new(),
        }
    }
}

fn check_name(name: &str) {
    assert!(
        !name.is_empty() && !name.contains('/'),
        "invalid RPC name {name:?}: names are non-empty and contain no '/'"
    );
}

impl<C: Codec> Router<C> {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds method `name`: `f` takes the positional arguments as a tuple
    /// (see [`FromArgs`]) and returns a future of `Result<R, E>`; see
    /// [`Handler::new`]. A later method of the same name replaces it.
    ///
    /// # Panics
    ///
    /// If `name` is empty or contains `/` (a programming error).
    pub fn method<A, R, E, F, Fut>(self, name: &str, f: F) -> Self
    where
        A: FromArgs,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Serialize + Send + Sync + 'static,
        E: fmt::Display + Send + 'static,
    {
        self.handler(name, Handler::new(f))
    }

    /// Adds method `name` taking keyword arguments too; see
    /// [`Handler::with_kwargs`].
    ///
    /// # Panics
    ///
    /// If `name` is empty or contains `/`.
    pub fn method_with_kwargs<A, K, R, E, F, Fut>(self, name: &str, f: F) -> Self
    where
        A: FromArgs,
        K: DeserializeOwned + Send + 'static,
        F: Fn(A, K) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Serialize + Send + Sync + 'static,
        E: fmt::Display + Send + 'static,
    {
        self.handler(name, Handler::with_kwargs(f))
    }

    /// Adds a ready-made handler as method `name`.
    ///
    /// # Panics
    ///
    /// If `name` is empty or contains `/`.
    pub fn handler(mut self, name: &str, handler: Handler<C>) -> Self {
        check_name(name);
        self.methods.insert(name.to_owned(), handler);
        self
    }

    /// Routes paths starting with `name/` to `service`.
    ///
    /// # Panics
    ///
    /// If `name` is empty or contains `/`.
    pub fn service(mut self, name: &str, service: impl Service<C>) -> Self {
        check_name(name);
        self.services.insert(name.to_owned(), Arc::new(service));
        self
    }

    /// The names of the methods, in order.
    pub fn method_names(&self) -> impl Iterator<Item = &str> {
        self.methods.keys().map(String::as_str)
    }
}

impl<C: Codec> Service<C> for Router<C> {
    fn resolve(&self, path: &str) -> Option<Handler<C>> {
        match path.split_once('/') {
            Some((head, rest)) => self.services.get(head)?.resolve(rest),
            None => self.methods.get(path).cloned(),
        }
    }
}

impl<C: Codec> fmt::Debug for Router<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("methods", &self.methods.keys().collect::<Vec<_>>())
            .field("services", &self.services.keys().collect::<Vec<_>>())
            .finish()
    }
}
