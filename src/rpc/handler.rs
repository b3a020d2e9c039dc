//! [`Handler`]: a typed async function behind one uniform interface, and the
//! dispatch of a received request to it.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;

use futures_util::FutureExt;
use serde::de::{self, DeserializeOwned, DeserializeSeed, SeqAccess, Visitor};
use serde::Deserialize;
use serde::{Deserializer, Serialize};

use super::args::{ArgsDe, NoKwargs};
use super::params::{NamedSeed, Params};
use super::quoted::Quoted;
use super::{FromArgs, Service};
use crate::channel::{Codec, Json, Request};

/// A boxed, sendable future.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The object-safe side of a handler: decodes, runs, answers.
trait Call<C: Codec>: Send + Sync + 'static {
    fn call(&self, request: Request<C>) -> BoxFuture<'static, ()>;
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
    fn call(&self, request: Request<C>) -> BoxFuture<'static, ()> {
        // The path was read for routing: skip it without a copy. (A user's
        // `Deserialize` may panic: that is an error reply too.)
        let decoded = catch_unwind(AssertUnwindSafe(|| {
            request.content::<(SkipStr, ArgsDe<A>, K)>()
        }));
        match decoded {
            Ok(Ok((_, ArgsDe(args), kwargs))) => run(|args| (self.f)(args, kwargs), args, request),
            Ok(Err(e)) => bad_arguments(request, e),
            Err(panic) => decoding_panicked(request, panic),
        }
    }
}

struct NamedHandler<F, P> {
    f: F,
    names: &'static [&'static str],
    _params: PhantomData<fn() -> P>,
}

impl<C, F, P, R, E, Fut> Call<C> for NamedHandler<F, P>
where
    C: Codec,
    P: Params,
    F: Fn(P::Values) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
    R: Serialize + Send + Sync + 'static,
    E: fmt::Display + Send + 'static,
{
    fn call(&self, request: Request<C>) -> BoxFuture<'static, ()> {
        let seed = NamedSeed::<P> {
            names: self.names,
            _params: PhantomData,
        };
        let decoded = catch_unwind(AssertUnwindSafe(|| {
            request
                .channel()
                .codec()
                .decode_content_seed(request.raw_content(), seed)
        }));
        let values = match decoded {
            Ok(Ok(values)) => values,
            Ok(Err(e)) => return bad_arguments(request, e),
            Err(panic) => return decoding_panicked(request, panic),
        };
        run(&self.f, values, request)
    }
}

/// Answers `request` with an error naming its path and `error`.
fn bad_arguments<C: Codec>(
    request: Request<C>,
    error: impl fmt::Display + Send + 'static,
) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let text = format!("bad arguments for {:?}: {error}", path_of(&request));
        let _ = request.fail(text).await;
    })
}

/// Answers `request` with an error naming the panic of its arguments'
/// decoding.
fn decoding_panicked<C: Codec>(
    request: Request<C>,
    panic: Box<dyn Any + Send>,
) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let text = format!(
            "decoding the arguments of {:?} panicked: {}",
            path_of(&request),
            crate::panics::message(&*panic)
        );
        let _ = request.fail(text).await;
    })
}

/// Runs `f(args)` and answers `request` with its result; a panic, before
/// or inside the future, is an error reply.
fn run<C, A, F, Fut, R, E>(f: F, args: A, request: Request<C>) -> BoxFuture<'static, ()>
where
    C: Codec,
    F: FnOnce(A) -> Fut,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
    R: Serialize + Send + Sync + 'static,
    E: fmt::Display + Send + 'static,
{
    let fut = match catch_unwind(AssertUnwindSafe(|| f(args))) {
        Ok(fut) => fut,
        Err(panic) => {
            return Box::pin(async move {
                let _ = fail_panicked(request, panic).await;
            })
        }
    };
    Box::pin(async move {
        // The answer is written at once unless the transport pushes back:
        // only then is there more to wait for (and a future to box), so
        // this future stays small.
        let finishing = match AssertUnwindSafe(fut).catch_unwind().await {
            Ok(Ok(value)) => request.reply_now(&value),
            Ok(Err(e)) => request.fail_now(e),
            Err(panic) => {
                let text = panicked(&request, &*panic);
                request.fail_now(text)
            }
        };
        if let Some(finishing) = finishing {
            finishing.await;
        }
    })
}

/// The error text for a handler's panic.
fn panicked<C: Codec>(request: &Request<C>, panic: &(dyn Any + Send)) -> String {
    format!(
        "the handler of {:?} panicked: {}",
        path_of(request),
        crate::panics::message(panic)
    )
}

/// Answers `request` with an error reply naming the handler's panic.
async fn fail_panicked<C: Codec>(
    request: Request<C>,
    panic: Box<dyn Any + Send>,
) -> Result<(), crate::channel::ChannelError> {
    let text = panicked(&request, &*panic);
    request.fail(text).await
}

/// The path of a request, for error messages (read again: errors are rare).
fn path_of<C: Codec>(request: &Request<C>) -> String {
    let mut path = None;
    let _ = request
        .channel()
        .codec()
        .decode_content_seed(request.raw_content(), PathSeed { out: &mut path });
    path.unwrap_or_default()
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

impl<C: Codec> Handler<C> {
    /// A handler for `f`, whose parameters are named `names` and typed by
    /// `P` (a tuple of [`Required`](super::Required) and
    /// [`Optional`](super::Optional)): the caller may pass each by position
    /// or by name, as in Python, and leave out optional ones; see
    /// [`params`](super::Params). This is what typed agents' methods are.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use agentwire::rpc::{Handler, Optional, Required};
    ///
    /// let greet: Handler = Handler::named::<(Required<String>, Optional<String>), _, _, _, _>(
    ///     &["name", "greeting"],
    ///     |(name, greeting)| async move {
    ///         Ok::<_, Infallible>(format!("{}, {name}", greeting.as_deref().unwrap_or("Hello")))
    ///     },
    /// );
    /// # let _ = greet;
    /// ```
    ///
    /// # Panics
    ///
    /// If `names` does not have one name per parameter (a programming
    /// error; the `agent` macro always gets it right).
    pub fn named<P, R, E, F, Fut>(names: &'static [&'static str], f: F) -> Self
    where
        P: Params,
        F: Fn(P::Values) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Serialize + Send + Sync + 'static,
        E: fmt::Display + Send + 'static,
    {
        assert_eq!(
            names.len(),
            P::COUNT,
            "Handler::named: {} names for {} parameters",
            names.len(),
            P::COUNT
        );
        Handler(Arc::new(NamedHandler {
            f,
            names,
            _params: PhantomData::<fn() -> P>,
        }))
    }
}

/// Routes `request` through `service` and returns the future that answers
/// it: the handler's, or one that sends the routing error back. The path is
/// routed while it is decoded, without a copy where the codec can lend it.
/// Never panics on the peer's input, and a service that panics while
/// routing is answered like a handler that panics.
pub(crate) fn dispatch<C: Codec>(
    service: &dyn Service<C>,
    request: Request<C>,
) -> BoxFuture<'static, ()> {
    let mut route = None;
    let routed = catch_unwind(AssertUnwindSafe(|| {
        request.channel().codec().decode_content_seed(
            request.raw_content(),
            RouteSeed {
                service,
                out: &mut route,
            },
        )
    }));
    let peeked = match routed {
        Ok(peeked) => peeked,
        Err(panic) => {
            return Box::pin(async move {
                let _ = fail_panicked(request, panic).await;
            })
        }
    };
    match route {
        Some(Some(handler)) => handler.0.call(request),
        Some(None) => Box::pin(async move {
            let text = format!("no such method: {}", Quoted(&path_of(&request)));
            let _ = request.fail(text).await;
        }),
        None => {
            let error = match peeked {
                Err(e) => e.to_string(),
                Ok(()) => "no path".to_owned(),
            };
            Box::pin(async move {
                let _ = request
                    .fail(format!(
                        "malformed RPC request (expected [path, args, kwargs]): {error}"
                    ))
                    .await;
            })
        }
    }
}

/// Reads the path, the first element of `[path, args, kwargs]`, resolves it
/// in `service`, then stops decoding (with an error that is ignored).
struct RouteSeed<'a, C: Codec> {
    service: &'a dyn Service<C>,
    /// `Some(handler or None)` once the path was read.
    out: &'a mut Option<Option<Handler<C>>>,
}

impl<'de, C: Codec> DeserializeSeed<'de> for RouteSeed<'_, C> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_tuple(3, self)
    }
}

impl<'de, C: Codec> Visitor<'de> for RouteSeed<'_, C> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list [path, args, kwargs]")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        let service = self.service;
        match seq.next_element_seed(Resolve(service))? {
            Some(handler) => {
                *self.out = Some(handler);
                // Stop here: the handler decodes the rest, typed. (A
                // self-describing codec may then complain about the
                // elements left: that error is ignored.)
                Ok(())
            }
            None => Err(de::Error::invalid_length(0, &self)),
        }
    }
}

/// Resolves a path string in a service as it is decoded.
struct Resolve<'a, C: Codec>(&'a dyn Service<C>);

impl<'de, C: Codec> DeserializeSeed<'de> for Resolve<'_, C> {
    type Value = Option<Handler<C>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, C: Codec> Visitor<'de> for Resolve<'_, C> {
    type Value = Option<Handler<C>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a path string")
    }

    fn visit_str<E: de::Error>(self, path: &str) -> Result<Self::Value, E> {
        Ok(self.0.resolve(path))
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

/// A string read and dropped without a copy (the path, already routed and
/// so checked to be a string): read as bytes, which skips the UTF-8 check
/// where the codec can (bincode) and is a string's raw text elsewhere.
/// Unlike `IgnoredAny`, it works with codecs that are not self-describing.
pub(crate) struct SkipStr;

impl<'de> Deserialize<'de> for SkipStr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SkipStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a path string")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<SkipStr, E> {
                Ok(SkipStr)
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<SkipStr, E> {
                Ok(SkipStr)
            }
        }
        deserializer.deserialize_bytes(V)
    }
}
