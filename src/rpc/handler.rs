//! [`Handler`]: a typed async function behind one uniform interface, and the
//! dispatch of a received request to it.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::{self, DeserializeOwned, DeserializeSeed, SeqAccess, Visitor};
use serde::{Deserializer, Serialize};

use super::args::{ArgsDe, NoKwargs};
use super::{FromArgs, Service};
use crate::channel::{Codec, Json, Request};

/// A boxed, sendable future.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The object-safe side of a handler: decodes, runs, answers.
trait Call<C: Codec>: Send + Sync + 'static {
    fn call(&self, path: String, request: Request<C>) -> BoxFuture<'static, ()>;
}

/// One RPC method: a typed async function whose arguments are decoded from
/// the request and whose result (or error) is sent back.
///
/// Made by [`Router::method`](super::Router::method) and friends, or
/// directly with [`new`](Self::new) / [`with_kwargs`](Self::with_kwargs) for
/// a [`Service`] of your own. Cheap to clone.
pub struct Handler<C: Codec = Json>(Arc<dyn Call<C>>);

impl<C: Codec> Clone for Handler<C> {
    fn clone(&self) -> Self {
        Handler(Arc::clone(&self.0))
    }
}

impl<C: Codec> fmt::Debug for Handler<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Handler")
    }
}

struct FnHandler<F, A, K> {
    f: F,
    _types: PhantomData<fn() -> (A, K)>,
}

impl<C, F, A, K, R, E, Fut> Call<C> for FnHandler<F, A, K>
where
    C: Codec,
    A: FromArgs,
    K: DeserializeOwned + Send + 'static,
    F: Fn(A, K) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
    R: Serialize + Send + Sync + 'static,
    E: fmt::Display + Send + 'static,
{
    fn call(&self, path: String, request: Request<C>) -> BoxFuture<'static, ()> {
        match request.content::<(String, ArgsDe<A>, K)>() {
            Err(e) => Box::pin(async move {
                let _ = request
                    .fail(format!("bad arguments for {path:?}: {e}"))
                    .await;
            }),
            Ok((_, ArgsDe(args), kwargs)) => {
                let fut = (self.f)(args, kwargs);
                Box::pin(async move {
                    let _ = match fut.await {
                        Ok(value) => request.reply(&value).await,
                        Err(e) => request.fail(e).await,
                    };
                })
            }
        }
    }
}

impl<C: Codec> Handler<C> {
    /// A handler for `f`, which takes the positional arguments as a tuple
    /// (see [`FromArgs`]) and returns a future of its result. The result is
    /// sent back; an error is sent back as a remote error whose text is the
    /// error's `Display`. Keyword arguments are refused (an error naming the
    /// first one).
    pub fn new<A, R, E, F, Fut>(f: F) -> Self
    where
        A: FromArgs,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Serialize + Send + Sync + 'static,
        E: fmt::Display + Send + 'static,
    {
        Handler::with_kwargs(move |args: A, NoKwargs| f(args))
    }

    /// Like [`new`](Self::new), but `f` also gets the keyword arguments,
    /// decoded as `K`: a struct (with `#[serde(default)]` for optional ones)
    /// or a map. For the JSON codec, any map of names to values; with
    /// [`Bincode`](crate::channel::Bincode), callers must send exactly the
    /// layout of `K`.
    pub fn with_kwargs<A, K, R, E, F, Fut>(f: F) -> Self
    where
        A: FromArgs,
        K: DeserializeOwned + Send + 'static,
        F: Fn(A, K) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Serialize + Send + Sync + 'static,
        E: fmt::Display + Send + 'static,
    {
        Handler(Arc::new(FnHandler {
            f,
            _types: PhantomData,
        }))
    }
}

/// Routes `request` through `service` and returns the future that answers
/// it: the handler's, or one that sends the routing error back. Never
/// panics on the peer's input.
pub(crate) fn dispatch<C: Codec>(
    service: &dyn Service<C>,
    request: Request<C>,
) -> BoxFuture<'static, ()> {
    let mut path = None;
    let peeked = request
        .channel()
        .codec()
        .decode_content_seed(request.raw_content(), PathSeed { out: &mut path });
    let Some(path) = path else {
        let error = match peeked {
            Err(e) => e.to_string(),
            Ok(()) => "no path".to_owned(),
        };
        return Box::pin(async move {
            let _ = request
                .fail(format!(
                    "malformed RPC request (expected [path, args, kwargs]): {error}"
                ))
                .await;
        });
    };
    match service.resolve(&path) {
        Some(handler) => handler.0.call(path, request),
        None => Box::pin(async move {
            let _ = request.fail(format!("no such method: {path:?}")).await;
        }),
    }
}

/// Reads the path, the first element of `[path, args, kwargs]`, then stops
/// decoding (with an error that is ignored).
struct PathSeed<'a> {
    out: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for PathSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_tuple(3, self)
    }
}

impl<'de> Visitor<'de> for PathSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list [path, args, kwargs]")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        match seq.next_element::<String>()? {
            Some(path) => {
                *self.out = Some(path);
                // Stop here: the handler decodes the rest, typed.
                Err(de::Error::custom("path read"))
            }
            None => Err(de::Error::invalid_length(0, &self)),
        }
    }
}
