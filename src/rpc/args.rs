//! [`Args`]: positional arguments as a tuple, and the keyword arguments of a
//! call.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::quoted::Quoted;

/// Positional arguments of a call, as the caller gives them: a tuple of up
/// to eight `Serialize` values, sent as a list (aiomas's `args`): `()` is
/// `[]`, `(1, 2)` is `[1, 2]`, `("boom",)` is `["boom"]`.
pub trait Args {
    /// Writes the values as a sequence.
    ///
    /// # Errors
    ///
    /// The serializer's error.
    fn serialize_args<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error>;
}

/// Positional arguments as a handler takes them: a tuple of up to eight
/// owned values, decoded from the call's list. The number of values is
/// checked: too few or too many is an error the caller gets back, naming
/// both counts.
pub trait FromArgs: Sized + Send + 'static {
    /// How many values.
    const COUNT: usize;

    /// Reads the values from a sequence.
    ///
    /// # Errors
    ///
    /// The deserializer's error, e.g. for a value of the wrong type or a
    /// sequence of the wrong length.
    fn visit_args<'de, Sq: SeqAccess<'de>>(seq: Sq) -> Result<Self, Sq::Error>;
}

fn wrong_count<E: de::Error>(expected: usize, got: usize, more: bool) -> E {
    let plural = if expected == 1 { "" } else { "s" };
    let got = if more {
        format!("{got} or more")
    } else {
        got.to_string()
    };
    E::custom(format_args!(
        "expected {expected} positional argument{plural}, got {got}"
    ))
}

macro_rules! impl_args {
    ($count:expr; $($name:ident . $idx:tt),*) => {
        impl<$($name: Serialize),*> Args for ($($name,)*) {
            #[allow(unused_mut)]
            fn serialize_args<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut seq = serializer.serialize_seq(Some($count))?;
                $(seq.serialize_element(&self.$idx)?;)*
                seq.end()
            }
        }

        impl<$($name),*> FromArgs for ($($name,)*)
        where
            $($name: DeserializeOwned + Send + 'static,)*
        {
            const COUNT: usize = $count;

            #[allow(unused_mut, unused_variables, non_snake_case)]
            fn visit_args<'de, Sq: SeqAccess<'de>>(mut seq: Sq) -> Result<Self, Sq::Error> {
                let mut got = 0usize;
                $(
                    let Some($name) = seq.next_element::<$name>()? else {
                        return Err(wrong_count($count, got, false));
                    };
                    got += 1;
                )*
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(wrong_count($count, got + 1, true));
                }
                Ok(($($name,)*))
            }
        }
    };
}

impl_args!(0;);
impl_args!(1; A.0);
impl_args!(2; A.0, B.1);
impl_args!(3; A.0, B.1, C.2);
impl_args!(4; A.0, B.1, C.2, D.3);
impl_args!(5; A.0, B.1, C.2, D.3, E.4);
impl_args!(6; A.0, B.1, C.2, D.3, E.4, F.5);
impl_args!(7; A.0, B.1, C.2, D.3, E.4, F.5, G.6);
impl_args!(8; A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7);

/// Serializes [`Args`] as a list.
pub(crate) struct ArgsSer<'a, A: ?Sized>(pub(crate) &'a A);

impl<A: Args + ?Sized> Serialize for ArgsSer<'_, A> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_args(serializer)
    }
}

/// Deserializes [`FromArgs`] from a list.
pub(crate) struct ArgsDe<A>(pub(crate) A);

impl<'de, A: FromArgs> Deserialize<'de> for ArgsDe<A> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<A>(PhantomData<A>);
        impl<'de, A: FromArgs> Visitor<'de> for V<A> {
            type Value = A;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a list of {} positional arguments", A::COUNT)
            }
            fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<A, S::Error> {
                A::visit_args(seq)
            }
        }
        deserializer.deserialize_seq(V(PhantomData)).map(ArgsDe)
    }
}

/// No keyword arguments: sent as an empty map (aiomas's `{}`); when
/// received, any keyword argument is an error naming it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoKwargs;

impl Serialize for NoKwargs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_map(Some(0))?.end()
    }
}

impl<'de> Deserialize<'de> for NoKwargs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NoKwargs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("no keyword arguments")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<NoKwargs, M::Error> {
                match map.next_key::<String>()? {
                    None => Ok(NoKwargs),
                    Some(key) => Err(de::Error::custom(format_args!(
                        "unexpected keyword argument {}: this method takes none",
                        Quoted(&key)
                    ))),
                }
            }
            // aiomas never sends it, but a null is "no keyword arguments" too.
            fn visit_unit<E: de::Error>(self) -> Result<NoKwargs, E> {
                Ok(NoKwargs)
            }
            fn visit_none<E: de::Error>(self) -> Result<NoKwargs, E> {
                Ok(NoKwargs)
            }
        }
        deserialize_keywords(deserializer, V)
    }
}

/// Reads keyword arguments with `visitor`: a self-describing codec says
/// what it holds (a map, or null: JSON refuses null where a map is asked
/// for), others are told to read a map.
pub(crate) fn deserialize_keywords<'de, D: Deserializer<'de>, V: Visitor<'de>>(
    deserializer: D,
    visitor: V,
) -> Result<V::Value, D::Error> {
    if deserializer.is_human_readable() {
        deserializer.deserialize_any(visitor)
    } else {
        deserializer.deserialize_map(visitor)
    }
}
