//! Parameters by name: a call's positional and keyword arguments matched to
//! a method's parameters as Python matches them (what typed agents'
//! methods take; see [`Handler::named`](super::Handler::named)).
//!
//! `add(a, b)` accepts `[1, 2] {}`, `[1] {"b": 2}` and `[] {"a": 1, "b": 2}`;
//! a trailing [`Optional`] parameter may be left out (it is then `None`).
//! Too many positional arguments, an unknown keyword, a parameter given
//! twice or a required one missing is an error naming it, in the words of
//! Python's `TypeError`s.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::Deserializer;

use super::quoted::Quoted;

/// One parameter of a method: how its value is decoded, and what it is
/// when the caller leaves it out.
pub trait Param: Send + 'static {
    /// The value the method gets.
    type Value: DeserializeOwned + Send + 'static;

    /// The value for an argument the caller left out, or `None` if the
    /// parameter is required.
    fn absent() -> Option<Self::Value>;
}

/// A parameter the caller must give.
#[derive(Debug)]
pub struct Required<T>(PhantomData<fn() -> T>);

impl<T: DeserializeOwned + Send + 'static> Param for Required<T> {
    type Value = T;
    fn absent() -> Option<T> {
        None
    }
}

/// A parameter of type `Option<T>` that the caller may leave out (it is
/// then `None`), as a Python parameter with the default `None`.
#[derive(Debug)]
pub struct Optional<T>(PhantomData<fn() -> T>);

impl<T: DeserializeOwned + Send + 'static> Param for Optional<T> {
    type Value = Option<T>;
    fn absent() -> Option<Option<T>> {
        Some(None)
    }
}

/// A method's parameters: a tuple of up to twelve [`Param`]s, matched by
/// position and by name.
pub trait Params: Send + 'static {
    /// The values the method gets, a tuple.
    type Values: Send + 'static;
    /// The values as far as they were given.
    #[doc(hidden)]
    type Slots: Default;
    /// How many parameters.
    const COUNT: usize;

    /// Decodes the next element of `seq` into parameter `index`; false if
    /// the sequence has ended.
    #[doc(hidden)]
    fn positional<'de, S: SeqAccess<'de>>(
        slots: &mut Self::Slots,
        index: usize,
        seq: &mut S,
    ) -> Result<bool, S::Error>;

    /// Decodes the next value of `map` into parameter `index`; false if it
    /// was already given.
    #[doc(hidden)]
    fn keyword<'de, M: MapAccess<'de>>(
        slots: &mut Self::Slots,
        index: usize,
        map: &mut M,
    ) -> Result<bool, M::Error>;

    /// The values, or the index of the first required parameter missing.
    #[doc(hidden)]
    fn finish(slots: Self::Slots) -> Result<Self::Values, usize>;
}

macro_rules! impl_params {
    ($count:expr; $($p:ident . $idx:tt),*) => {
        impl<$($p: Param),*> Params for ($($p,)*) {
            type Values = ($($p::Value,)*);
            type Slots = ($(Option<$p::Value>,)*);
            const COUNT: usize = $count;

            #[allow(unused_variables)]
            fn positional<'de, S: SeqAccess<'de>>(
                slots: &mut Self::Slots,
                index: usize,
                seq: &mut S,
            ) -> Result<bool, S::Error> {
                match index {
                    $($idx => match seq.next_element::<$p::Value>()? {
                        Some(value) => {
                            slots.$idx = Some(value);
                            Ok(true)
                        }
                        None => Ok(false),
                    },)*
                    _ => Ok(false),
                }
            }

            #[allow(unused_variables)]
            fn keyword<'de, M: MapAccess<'de>>(
                slots: &mut Self::Slots,
                index: usize,
                map: &mut M,
            ) -> Result<bool, M::Error> {
                match index {
                    $($idx => {
                        if slots.$idx.is_some() {
                            return Ok(false);
                        }
                        slots.$idx = Some(map.next_value::<$p::Value>()?);
                        Ok(true)
                    })*
                    _ => Ok(false),
                }
            }

            #[allow(unused_variables, clippy::unused_unit)]
            fn finish(slots: Self::Slots) -> Result<Self::Values, usize> {
                Ok(($(match slots.$idx {
                    Some(value) => value,
                    None => $p::absent().ok_or($idx as usize)?,
                },)*))
            }
        }
    };
}

impl_params!(0;);
impl_params!(1; A.0);
impl_params!(2; A.0, B.1);
impl_params!(3; A.0, B.1, C.2);
impl_params!(4; A.0, B.1, C.2, D.3);
impl_params!(5; A.0, B.1, C.2, D.3, E.4);
impl_params!(6; A.0, B.1, C.2, D.3, E.4, F.5);
impl_params!(7; A.0, B.1, C.2, D.3, E.4, F.5, G.6);
impl_params!(8; A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7);
impl_params!(9; A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8);
impl_params!(10; A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9);
impl_params!(11; A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9, K.10);
impl_params!(12; A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9, K.10, L.11);

/// Decodes a request's content `[path, args, kwargs]` into the values of
/// `P`, whose names are `names` (the path was routed already and is
/// skipped). `kwargs` may be absent or null.
pub(crate) struct NamedSeed<'a, P: Params> {
    pub(crate) names: &'a [&'static str],
    pub(crate) _params: PhantomData<fn() -> P>,
}

impl<'de, P: Params> DeserializeSeed<'de> for NamedSeed<'_, P> {
    type Value = P::Values;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<P::Values, D::Error> {
        deserializer.deserialize_tuple(3, self)
    }
}

impl<'de, P: Params> Visitor<'de> for NamedSeed<'_, P> {
    type Value = P::Values;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list [path, args, kwargs]")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<P::Values, S::Error> {
        let mut slots = P::Slots::default();
        if seq.next_element::<super::handler::SkipStr>()?.is_none() {
            return Err(de::Error::invalid_length(0, &self));
        }
        seq.next_element_seed(Positional::<P> {
            slots: &mut slots,
            names: self.names,
        })?;
        seq.next_element_seed(Keywords::<P> {
            slots: &mut slots,
            names: self.names,
        })?;
        P::finish(slots).map_err(|missing| {
            de::Error::custom(format_args!(
                "missing required argument {:?}",
                self.names.get(missing).copied().unwrap_or("?")
            ))
        })
    }
}

/// Names `names[index]` in an argument's decoding error.
fn naming<'a, E: de::Error>(names: &'a [&str], index: usize) -> impl FnOnce(E) -> E + 'a {
    move |e| {
        de::Error::custom(format_args!(
            "argument {:?}: {e}",
            names.get(index).copied().unwrap_or("?")
        ))
    }
}

struct Positional<'a, P: Params> {
    slots: &'a mut P::Slots,
    names: &'a [&'static str],
}

impl<'de, P: Params> DeserializeSeed<'de> for Positional<'_, P> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, P: Params> Visitor<'de> for Positional<'_, P> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of at most {} positional arguments", P::COUNT)
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        let mut given = 0;
        while given < P::COUNT {
            if !P::positional(self.slots, given, &mut seq).map_err(naming(self.names, given))? {
                return Ok(());
            }
            given += 1;
        }
        // A codec that knows the length says so; others are asked for one
        // more element.
        let more = match seq.size_hint() {
            Some(left) => left > 0,
            None => seq.next_element::<IgnoredAny>()?.is_some(),
        };
        if more {
            let plural = if P::COUNT == 1 { "" } else { "s" };
            return Err(de::Error::custom(format_args!(
                "takes {} positional argument{plural} but more were given",
                P::COUNT
            )));
        }
        Ok(())
    }

    // A codec may write `None` for an empty list.
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

struct Keywords<'a, P: Params> {
    slots: &'a mut P::Slots,
    names: &'a [&'static str],
}

impl<'de, P: Params> DeserializeSeed<'de> for Keywords<'_, P> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        super::args::deserialize_keywords(deserializer, self)
    }
}

impl<'de, P: Params> Visitor<'de> for Keywords<'_, P> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of keyword arguments")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(key) = map.next_key_seed(KeyIndex { names: self.names })? {
            let index = match key {
                Ok(index) => index,
                Err(unknown) => {
                    return Err(de::Error::custom(format_args!(
                        "unexpected keyword argument {} (the parameters are {})",
                        Quoted(&unknown),
                        self.names.join(", ")
                    )))
                }
            };
            if !P::keyword(self.slots, index, &mut map).map_err(naming(self.names, index))? {
                return Err(de::Error::custom(format_args!(
                    "got multiple values for argument {:?}",
                    self.names[index]
                )));
            }
        }
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A keyword's parameter index, or the keyword itself if there is no such
/// parameter.
struct KeyIndex<'a> {
    names: &'a [&'static str],
}

impl<'de> DeserializeSeed<'de> for KeyIndex<'_> {
    type Value = Result<usize, String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIndex<'_> {
    type Value = Result<usize, String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a parameter name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(match self.names.iter().position(|n| *n == key) {
            Some(index) => Ok(index),
            // Bounded by the frame's size.
            None => Err(key.to_owned()),
        })
    }
}
