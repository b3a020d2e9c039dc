//! [`Bounded`]: a serde deserializer wrapper that bounds the work a frame
//! can ask of a decoder which is not self-describing (bincode).
//!
//! A bincode sequence or map is a claimed length followed by its elements,
//! and an element of a zero-sized type (`()`, a unit struct, `PhantomData`)
//! is zero bytes: a ten-byte frame claiming 2^64 such elements would keep
//! the decoder looping for centuries, on the connection's driver. And a
//! recursive type nests one level per byte: a megabyte frame would recurse
//! a million levels deep and overflow the stack. So, per decoded content:
//!
//! - at most [`MIN_ELEMENTS`] plus the content's length in sequence and map
//!   elements (any element that is not zero bytes takes at least one byte
//!   of the content, so honest data never comes near it);
//! - at most [`MAX_DEPTH`] nested compound values (tuples, structs,
//!   sequences, maps, enums, options, newtypes).
//!
//! Every visitor, access and seed passed through is wrapped in turn, so the
//! budget holds however deep the value goes. The wrappers only forward
//! calls: one counter update per element or compound value.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess};
use serde::de::{VariantAccess, Visitor};

/// Sequence and map elements any content may hold, whatever its length.
pub(crate) const MIN_ELEMENTS: usize = 1 << 20;

/// How deep compound values may nest.
pub(crate) const MAX_DEPTH: usize = 128;

/// What is left of one content's budget.
#[derive(Debug)]
pub(crate) struct Budget {
    elements: Cell<usize>,
    depth: Cell<usize>,
    /// For the error message.
    limit: usize,
}

impl Budget {
    /// The budget of a content of `len` bytes.
    pub(crate) fn for_content(len: usize) -> Self {
        let limit = len.saturating_add(MIN_ELEMENTS);
        Budget {
            elements: Cell::new(limit),
            depth: Cell::new(MAX_DEPTH),
            limit,
        }
    }

    #[inline]
    fn spend_element<E: de::Error>(&self) -> Result<(), E> {
        match self.elements.get().checked_sub(1) {
            Some(left) => {
                self.elements.set(left);
                Ok(())
            }
            None => Err(self.too_many()),
        }
    }

    #[cold]
    #[inline(never)]
    fn too_many<E: de::Error>(&self) -> E {
        E::custom(format_args!(
            "more than {} sequence or map elements in one message (a claimed length \
             of zero-sized elements?)",
            self.limit
        ))
    }

    /// Enters a compound value; [`leave`](Self::leave) when done.
    #[inline]
    fn enter<E: de::Error>(&self) -> Result<(), E> {
        match self.depth.get().checked_sub(1) {
            Some(left) => {
                self.depth.set(left);
                Ok(())
            }
            None => Err(too_deep()),
        }
    }

    #[inline]
    fn leave(&self) {
        self.depth.set(self.depth.get() + 1);
    }
}

#[cold]
#[inline(never)]
fn too_deep<E: de::Error>() -> E {
    E::custom(format_args!("values nested deeper than {MAX_DEPTH} levels"))
}

/// A seed decoded within `budget`.
pub(crate) struct BoundedSeed<'b, S> {
    pub(crate) seed: S,
    pub(crate) budget: &'b Budget,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for BoundedSeed<'_, S> {
    type Value = S::Value;

    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(Bounded {
            inner: deserializer,
            budget: self.budget,
        })
    }
}

/// A deserializer whose values are decoded within `budget`.
struct Bounded<'b, D> {
    inner: D,
    budget: &'b Budget,
}

/// A visitor whose sequences, maps, enums and inner values are decoded
/// within `budget`; `counted`: its sequence or map length comes from the
/// input (not from the type, as a tuple's or struct's does).
struct Wrap<'b, V> {
    inner: V,
    budget: &'b Budget,
    counted: bool,
}

impl<'b, D> Bounded<'b, D> {
    #[inline]
    fn wrap<V>(&self, visitor: V, counted: bool) -> Wrap<'b, V> {
        Wrap {
            inner: visitor,
            budget: self.budget,
            counted,
        }
    }
}

/// Forwards scalar `deserialize_*` methods, wrapping the visitor.
macro_rules! scalars {
    ($($method:ident),* $(,)?) => {$(
        #[inline]
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            let visitor = self.wrap(visitor, false);
            self.inner.$method(visitor)
        }
    )*};
}

/// Runs `$call` as a compound value one level deeper.
macro_rules! nested {
    ($budget:expr, $call:expr) => {{
        let budget = $budget;
        budget.enter::<D::Error>()?;
        let result = $call;
        budget.leave();
        result
    }};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Bounded<'_, D> {
    type Error = D::Error;

    scalars!(
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_unit,
        deserialize_identifier,
        deserialize_ignored_any,
    );

    #[inline]
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor, true);
        nested!(self.budget, self.inner.deserialize_any(visitor))
    }

    #[inline]
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor, false);
        nested!(self.budget, self.inner.deserialize_option(visitor))
    }

    #[inline]
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor, false);
        self.inner.deserialize_unit_struct(name, visitor)
    }

    #[inline]
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor, false);
        nested!(
            self.budget,
            self.inner.deserialize_newtype_struct(name, visitor)
        )
    }

    #[inline]
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor, true);
        nested!(self.budget, self.inner.deserialize_seq(visitor))
    }

    #[inline]
    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor, false);
        nested!(self.budget, self.inner.deserialize_tuple(len, visitor))
    }

    #[inline]
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor, false);
        nested!(
            self.budget,
            self.inner.deserialize_tuple_struct(name, len, visitor)
        )
    }

    #[inline]
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor, true);
        nested!(self.budget, self.inner.deserialize_map(visitor))
    }

    #[inline]
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor, false);
        nested!(
            self.budget,
            self.inner.deserialize_struct(name, fields, visitor)
        )
    }

    #[inline]
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor, false);
        nested!(
            self.budget,
            self.inner.deserialize_enum(name, variants, visitor)
        )
    }

    #[inline]
    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// Forwards `visit_*` methods that carry a plain value.
macro_rules! visits {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        #[inline]
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    visits!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
        visit_str(&str),
        visit_borrowed_str(&'de str),
        visit_string(String),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    );

    #[inline]
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    #[inline]
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    #[inline]
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Bounded {
            inner: deserializer,
            budget: self.budget,
        })
    }

    #[inline]
    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Bounded {
            inner: deserializer,
            budget: self.budget,
        })
    }

    #[inline]
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(Access {
            inner: seq,
            budget: self.budget,
            counted: self.counted,
        })
    }

    #[inline]
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(Access {
            inner: map,
            budget: self.budget,
            counted: self.counted,
        })
    }

    #[inline]
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(Access {
            inner: data,
            budget: self.budget,
            counted: false,
        })
    }
}

/// A sequence, map, enum or variant access whose elements are decoded
/// within `budget` (and, if `counted`, paid for from it).
struct Access<'b, A> {
    inner: A,
    budget: &'b Budget,
    counted: bool,
}

impl<'b, A> Access<'b, A> {
    #[inline]
    fn seed<S>(&self, seed: S) -> BoundedSeed<'b, S> {
        BoundedSeed {
            seed,
            budget: self.budget,
        }
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Access<'_, A> {
    type Error = A::Error;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        if self.counted {
            self.budget.spend_element()?;
        }
        let seed = self.seed(seed);
        self.inner.next_element_seed(seed)
    }

    #[inline]
    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Access<'_, A> {
    type Error = A::Error;

    #[inline]
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        if self.counted {
            self.budget.spend_element()?;
        }
        let seed = self.seed(seed);
        self.inner.next_key_seed(seed)
    }

    #[inline]
    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        let seed = self.seed(seed);
        self.inner.next_value_seed(seed)
    }

    #[inline]
    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'b, 'de, A: EnumAccess<'de>> EnumAccess<'de> for Access<'b, A> {
    type Error = A::Error;
    type Variant = Access<'b, A::Variant>;

    #[inline]
    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        let budget = self.budget;
        let (value, variant) = self.inner.variant_seed(BoundedSeed { seed, budget })?;
        Ok((
            value,
            Access {
                inner: variant,
                budget,
                counted: false,
            },
        ))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Access<'_, A> {
    type Error = A::Error;

    #[inline]
    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    #[inline]
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        let seed = self.seed(seed);
        self.inner.newtype_variant_seed(seed)
    }

    #[inline]
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        let visitor = Wrap {
            inner: visitor,
            budget: self.budget,
            counted: false,
        };
        self.inner.tuple_variant(len, visitor)
    }

    #[inline]
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        let visitor = Wrap {
            inner: visitor,
            budget: self.budget,
            counted: false,
        };
        self.inner.struct_variant(fields, visitor)
    }
}
