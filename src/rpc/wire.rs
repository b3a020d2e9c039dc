//! Values that travel as aiomas's `{"__type__": [typeid, data]}`: custom
//! types ([`Serializable`], registered in [`Serializers`]) and references
//! to agents, which arrive as [`Proxy`](super::Proxy)s that call back over
//! the same connection.
//!
//! aiomas numbers a codec's serializers in the order they were added: an
//! aiomas container adds its date serializer first, then its
//! `extra_serializers`, then the RPC layer's fallback for services (agents
//! and routers, sent as their path, `"agents/0"`). Both ends must add the
//! same types in the same order, as in aiomas.
//!
//! Encoding such a value needs the connection it goes over (its
//! serializers; whether the agent is served there) and decoding an agent
//! reference needs the connection to call back over: the RPC layer makes
//! the connection's [`Wire`] current (a thread-local) while it encodes and
//! decodes a call's values, so `Serialize`/`Deserialize` impls find it.

use std::any::{Any, TypeId};
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeTuple};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Date;

/// The key of aiomas's custom-type maps.
pub(crate) const TYPE_KEY: &str = "__type__";

/// A type that travels as aiomas's `{"__type__": [typeid, data]}` (aiomas's
/// `@serializable` classes and `add_serializer`): made with the
/// [`serializable`](crate::serializable) attribute, and registered with
/// [`ContainerOptions::serializer`](crate::ContainerOptions::serializer) in
/// the order the peer registers it.
pub trait Serializable: Serialize + for<'de> Deserialize<'de> + Send + 'static {}

/// The custom types of a connection, in aiomas's order: type ids `0, 1, …`
/// in order of [`add`](Self::add); the fallback for agent references comes
/// after them.
#[derive(Clone, Default)]
pub struct Serializers {
    types: Vec<(TypeId, &'static str)>,
}

impl Serializers {
    /// No custom types (aiomas's codec before any `add_serializer`).
    pub fn new() -> Self {
        Serializers::default()
    }

    /// Adds `T` with the next type id.
    ///
    /// # Panics
    ///
    /// If `T` was added already (aiomas raises `ValueError` too).
    #[must_use]
    pub fn add<T: Serializable>(self) -> Self {
        self.add_type::<T>()
    }

    /// A container's: aiomas's date serializer (type id 0), then `extra`.
    pub(crate) fn for_container(extra: &Serializers) -> Self {
        let mut all = Serializers::new().add_type::<Date>();
        all.types.extend(extra.types.iter().copied());
        all
    }

    pub(crate) fn add_type<T: 'static>(mut self) -> Self {
        let id = TypeId::of::<T>();
        assert!(
            !self.types.iter().any(|(t, _)| *t == id),
            "there is already a serializer for {}",
            std::any::type_name::<T>()
        );
        self.types.push((id, std::any::type_name::<T>()));
        self
    }

    /// The type id of `T`, if it was added.
    fn typeid_of<T: 'static>(&self) -> Option<u64> {
        let id = TypeId::of::<T>();
        let index = self.types.iter().position(|(t, _)| *t == id)?;
        u64::try_from(index).ok()
    }

    /// The type id of agent references: after every custom type.
    fn fallback(&self) -> u64 {
        u64::try_from(self.types.len()).unwrap_or(u64::MAX)
    }

    /// How many custom types.
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }
}

impl fmt::Debug for Serializers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.types.iter().map(|(_, name)| name))
            .finish()
    }
}

/// What encoding and decoding a connection's values needs beyond its codec.
pub(crate) struct Wire {
    pub(crate) serializers: Arc<Serializers>,
    /// Who serves the agents on this connection (a container's id; 0 for
    /// none): an agent reference is only sent where its agent is served.
    pub(crate) home: u64,
    /// The connection, `Weak<connection::Inner<C>>`: where decoded agent
    /// references call back.
    pub(crate) conn: Box<dyn Any + Send + Sync>,
}

thread_local! {
    /// The wire of the call being encoded or decoded on this thread.
    static CURRENT: Cell<Option<Arc<Wire>>> = const { Cell::new(None) };
}

/// Runs `f` with `wire` current (and puts back what was, also if `f`
/// unwinds).
pub(crate) fn with_wire<R>(wire: &Arc<Wire>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<Wire>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0.take()));
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.replace(Some(Arc::clone(wire)))));
    f()
}

/// The current wire: a call's, else the serving connection's.
pub(crate) fn current_wire() -> Option<Arc<Wire>> {
    let current = CURRENT.with(|c| {
        let wire = c.take();
        let copy = wire.clone();
        c.set(wire);
        copy
    });
    current.or_else(super::serve::serving_wire)
}

/// `value`, encoded with `wire` current.
pub(crate) struct InWire<'a, T: ?Sized> {
    pub(crate) wire: &'a Arc<Wire>,
    pub(crate) value: &'a T,
}

impl<T: Serialize + ?Sized> Serialize for InWire<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        with_wire(self.wire, || self.value.serialize(serializer))
    }
}

/// Writes `{"__type__": [typeid, data]}`.
fn write_typed<S: Serializer, V: Serialize + ?Sized>(
    serializer: S,
    typeid: u64,
    data: &V,
) -> Result<S::Ok, S::Error> {
    struct Pair<'a, V: ?Sized>(u64, &'a V);
    impl<V: Serialize + ?Sized> Serialize for Pair<'_, V> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut tuple = serializer.serialize_tuple(2)?;
            tuple.serialize_element(&self.0)?;
            tuple.serialize_element(self.1)?;
            tuple.end()
        }
    }
    let mut map = serializer.serialize_map(Some(1))?;
    map.serialize_entry(TYPE_KEY, &Pair(typeid, data))?;
    map.end()
}

/// Reads `{"__type__": [typeid, data]}` of `what`, whose type id must be
/// `expected`.
fn read_typed<'de, D, V>(deserializer: D, what: &'static str, expected: u64) -> Result<V, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Typed<V> {
        what: &'static str,
        expected: u64,
        _value: PhantomData<fn() -> V>,
    }
    impl<'de, V: Deserialize<'de>> Visitor<'de> for Typed<V> {
        type Value = V;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{} as {{\"__type__\": [typeid, data]}}", self.what)
        }
        fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<V, M::Error> {
            match map.next_key::<KeyStr>()? {
                Some(KeyStr(true)) => {}
                _ => {
                    return Err(de::Error::custom(format_args!(
                        "expected {} as {{\"__type__\": [typeid, data]}}",
                        self.what
                    )))
                }
            }
            let value = map.next_value_seed(PairSeed {
                expected: self.expected,
                what: self.what,
                _value: PhantomData,
            })?;
            if map.next_key::<KeyStr>()?.is_some() {
                return Err(de::Error::custom(format_args!(
                    "{}: a map with more keys than \"__type__\"",
                    self.what
                )));
            }
            Ok(value)
        }
    }
    struct PairSeed<V> {
        expected: u64,
        what: &'static str,
        _value: PhantomData<fn() -> V>,
    }
    impl<'de, V: Deserialize<'de>> DeserializeSeed<'de> for PairSeed<V> {
        type Value = V;
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<V, D::Error> {
            deserializer.deserialize_tuple(2, self)
        }
    }
    impl<'de, V: Deserialize<'de>> Visitor<'de> for PairSeed<V> {
        type Value = V;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a pair [typeid, data]")
        }
        fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<V, S::Error> {
            let typeid: u64 = seq
                .next_element()?
                .ok_or_else(|| de::Error::invalid_length(0, &self))?;
            if typeid != self.expected {
                return Err(de::Error::custom(format_args!(
                    "type id {typeid} where {} (type id {}) was expected",
                    self.what, self.expected
                )));
            }
            seq.next_element()?
                .ok_or_else(|| de::Error::invalid_length(1, &"a pair [typeid, data]"))
        }
    }
    deserializer.deserialize_map(Typed {
        what,
        expected,
        _value: PhantomData,
    })
}

/// A map key: true if it is `"__type__"`.
struct KeyStr(bool);

impl<'de> Deserialize<'de> for KeyStr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<KeyStr, E> {
                Ok(KeyStr(key == TYPE_KEY))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// Serializes a [`Serializable`] type's `data` as `{"__type__": [typeid,
/// data]}`, with `T`'s type id on the current connection. Used by the code
/// that [`serializable`](crate::serializable) writes.
#[doc(hidden)]
pub fn serialize_typed<T: 'static, V: Serialize + ?Sized, S: Serializer>(
    data: &V,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let typeid = typeid_here::<T>().map_err(serde::ser::Error::custom)?;
    write_typed(serializer, typeid, data)
}

/// Deserializes a [`Serializable`] type's data from `{"__type__": [typeid,
/// data]}`, checking the type id. Used by the code that
/// [`serializable`](crate::serializable) writes.
#[doc(hidden)]
pub fn deserialize_typed<'de, T: 'static, V: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<V, D::Error> {
    let expected = typeid_here::<T>().map_err(de::Error::custom)?;
    read_typed(deserializer, std::any::type_name::<T>(), expected)
}

/// `T`'s type id on the current connection, or why it has none.
fn typeid_here<T: 'static>() -> Result<u64, String> {
    let name = std::any::type_name::<T>();
    let wire = current_wire().ok_or_else(|| no_wire(name))?;
    wire.serializers
        .typeid_of::<T>()
        .ok_or_else(|| not_registered(name))
}

fn no_wire(name: &str) -> String {
    format!("{name} travels as {{\"__type__\": …}}, which only an RPC call's values can hold")
}

fn not_registered(name: &str) -> String {
    format!("no serializer for {name} on this connection: add it with ContainerOptions::serializer")
}

/// Serializes a reference to the object at `path` (an agent, `agents/0`),
/// served by `home`: `{"__type__": [fallback typeid, path]}`.
pub(crate) fn serialize_reference<S: Serializer>(
    home: u64,
    path: &str,
    url: &str,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let wire = current_wire().ok_or_else(|| {
        <S::Error as serde::ser::Error>::custom(format_args!(
            "the agent {url} can only be sent as an RPC call's argument or result"
        ))
    })?;
    if wire.home != home {
        return Err(serde::ser::Error::custom(format_args!(
            "the agent {url} is not served on this connection (only a container's own agents \
             can be sent to its peers; send the URL instead)"
        )));
    }
    write_typed(serializer, wire.serializers.fallback(), path)
}

/// Deserializes a reference `{"__type__": [fallback typeid, path]}` sent by
/// the peer: the path, and the current wire to call back over.
pub(crate) fn deserialize_reference<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<(String, Arc<Wire>), D::Error> {
    let wire = current_wire().ok_or_else(|| {
        <D::Error as de::Error>::custom("an agent reference can only be an RPC call's value")
    })?;
    let expected = wire.serializers.fallback();
    let path: String = read_typed(deserializer, "an agent reference", expected)?;
    Ok((path, wire))
}
