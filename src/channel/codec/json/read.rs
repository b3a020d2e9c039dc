//! Reading JSON that holds Python's `NaN`, `Infinity` and `-Infinity`.
//!
//! serde_json's parser refuses those tokens, so the codec first parses as
//! usual; only when that fails and the text holds such a token (outside
//! strings) does it take this path: [`sanitize`](super::scan::sanitize)
//! turns each token into a marker string of the same length, and
//! [`Lenient`] wraps serde_json's deserializer so that a marker, wherever
//! it is read, reaches the target as the float it stands for (`visit_f64`).
//! A marker is known by its position in the sanitized text, so a string
//! that a peer sent ("NaN") is never taken for one.
//!
//! A `serde_json::Value` cannot hold a non-finite number (it would turn it
//! into `null`): reading one into a `Value` is an error that names it, and
//! only that decode fails. A `RawValue` read on this path holds the
//! sanitized text (the markers), not the original.

use std::fmt::{self, Write as _};
use std::marker::PhantomData;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, Expected, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};

use super::scan::Markers;

/// Where the sanitized text is and where its markers are.
#[derive(Clone, Copy)]
pub(super) struct Ctx<'m> {
    /// The sanitized text's address and length.
    base: usize,
    len: usize,
    markers: &'m Markers,
}

impl<'m> Ctx<'m> {
    pub(super) fn new(text: &[u8], markers: &'m Markers) -> Self {
        Ctx {
            base: text.as_ptr() as usize,
            len: text.len(),
            markers,
        }
    }

    /// The value `s` stands for, if it is a marker: a string borrowed from
    /// the sanitized text where a token was. (Strings from elsewhere, such
    /// as a deserializer's own names, lie outside the text.)
    fn marker(&self, s: &str) -> Option<f64> {
        let offset = (s.as_ptr() as usize).checked_sub(self.base)?;
        if offset.checked_add(s.len())? > self.len {
            return None;
        }
        self.markers.at(offset)
    }
}

/// A deserializer reading markers as floats (see the module docs).
pub(super) struct Lenient<'s, 'm, D> {
    de: D,
    ctx: Ctx<'m>,
    _text: PhantomData<fn(&'s ())>,
}

impl<'m, D> Lenient<'_, 'm, D> {
    pub(super) fn new(de: D, ctx: Ctx<'m>) -> Self {
        Lenient {
            de,
            ctx,
            _text: PhantomData,
        }
    }
}

struct LenientVisitor<'de, 'm, V> {
    visitor: V,
    ctx: Ctx<'m>,
    _out: PhantomData<fn(&'de ())>,
}

fn visitor<'de, 'm, V>(visitor: V, ctx: Ctx<'m>) -> LenientVisitor<'de, 'm, V> {
    LenientVisitor {
        visitor,
        ctx,
        _out: PhantomData,
    }
}

/// What serde_json's `Value` visitor says it expects.
const JSON_VALUE: &str = "any valid JSON value";

/// Whether `visitor` is serde_json's `Value` visitor, which would turn a
/// non-finite float into `null`.
fn is_json_value(visitor: &dyn Expected) -> bool {
    let mut text = String::new();
    let _ = write!(text, "{visitor}");
    text == JSON_VALUE
}

impl<'de, V: Visitor<'de>> LenientVisitor<'de, '_, V> {
    fn non_finite<E: de::Error>(self, value: f64) -> Result<V::Value, E> {
        if is_json_value(&self.visitor) {
            return Err(E::custom(format_args!(
                "{} cannot be held in a serde_json::Value (its numbers are finite); \
                 read it into an f64",
                super::write::token(value)
            )));
        }
        self.visitor.visit_f64(value)
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.visitor.$method(v)
        }
    )*};
}

impl<'s, 'de, V: Visitor<'de>> Visitor<'s> for LenientVisitor<'de, '_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    forward_visit!(
        visit_bool(bool),
        visit_i64(i64),
        visit_i128(i128),
        visit_u64(u64),
        visit_u128(u128),
        visit_f64(f64),
        visit_char(char),
        visit_str(&str),
        visit_string(String),
        visit_bytes(&[u8]),
        visit_byte_buf(Vec<u8>),
    );

    fn visit_borrowed_str<E: de::Error>(self, v: &'s str) -> Result<V::Value, E> {
        match self.ctx.marker(v) {
            Some(value) => self.non_finite(value),
            None => self.visitor.visit_str(v),
        }
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'s [u8]) -> Result<V::Value, E> {
        self.visitor.visit_bytes(v)
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_unit()
    }

    fn visit_some<D: Deserializer<'s>>(self, d: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_some(Lenient::new(d, self.ctx))
    }

    fn visit_newtype_struct<D: Deserializer<'s>>(self, d: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_newtype_struct(Lenient::new(d, self.ctx))
    }

    fn visit_seq<A: SeqAccess<'s>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_seq(Lenient::new(seq, self.ctx))
    }

    fn visit_map<A: MapAccess<'s>>(self, map: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(Lenient::new(map, self.ctx))
    }

    fn visit_enum<A: EnumAccess<'s>>(self, data: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_enum(Lenient::new(data, self.ctx))
    }
}

/// Numbers are read with `deserialize_any`, so that a marker (a string to
/// serde_json) reaches the visitor; strings and the rest keep their hint.
macro_rules! via_any {
    ($($method:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
            self.de.deserialize_any(visitor(v, self.ctx))
        }
    )*};
}

macro_rules! same_hint {
    ($($method:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
            self.de.$method(visitor(v, self.ctx))
        }
    )*};
}

impl<'s, 'de, D: Deserializer<'s>> Deserializer<'de> for Lenient<'s, '_, D> {
    type Error = D::Error;

    via_any!(
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_f32,
        deserialize_f64,
    );

    same_hint!(
        deserialize_any,
        deserialize_bool,
        deserialize_i128,
        deserialize_u128,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier,
        deserialize_ignored_any,
    );

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.de.deserialize_unit_struct(name, visitor(v, self.ctx))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.de
            .deserialize_newtype_struct(name, visitor(v, self.ctx))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, D::Error> {
        self.de.deserialize_tuple(len, visitor(v, self.ctx))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.de
            .deserialize_tuple_struct(name, len, visitor(v, self.ctx))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.de
            .deserialize_struct(name, fields, visitor(v, self.ctx))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.de
            .deserialize_enum(name, variants, visitor(v, self.ctx))
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

/// A seed whose deserializer is made [`Lenient`].
struct LenientSeed<'de, 'm, T> {
    seed: T,
    ctx: Ctx<'m>,
    _out: PhantomData<fn(&'de ())>,
}

fn seed<'de, 'm, T>(seed: T, ctx: Ctx<'m>) -> LenientSeed<'de, 'm, T> {
    LenientSeed {
        seed,
        ctx,
        _out: PhantomData,
    }
}

impl<'s, 'de, T: DeserializeSeed<'de>> DeserializeSeed<'s> for LenientSeed<'de, '_, T> {
    type Value = T::Value;

    fn deserialize<D: Deserializer<'s>>(self, d: D) -> Result<T::Value, D::Error> {
        self.seed.deserialize(Lenient::new(d, self.ctx))
    }
}

impl<'s, 'de, A: SeqAccess<'s>> SeqAccess<'de> for Lenient<'s, '_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        s: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.de.next_element_seed(seed(s, self.ctx))
    }

    fn size_hint(&self) -> Option<usize> {
        self.de.size_hint()
    }
}

impl<'s, 'de, A: MapAccess<'s>> MapAccess<'de> for Lenient<'s, '_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        s: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.de.next_key_seed(seed(s, self.ctx))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, s: T) -> Result<T::Value, A::Error> {
        self.de.next_value_seed(seed(s, self.ctx))
    }

    fn size_hint(&self) -> Option<usize> {
        self.de.size_hint()
    }
}

impl<'s, 'de, 'm, A: EnumAccess<'s>> EnumAccess<'de> for Lenient<'s, 'm, A> {
    type Error = A::Error;
    type Variant = Lenient<'s, 'm, A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        s: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        let ctx = self.ctx;
        let (value, variant) = self.de.variant_seed(seed(s, ctx))?;
        Ok((value, Lenient::new(variant, ctx)))
    }
}

impl<'s, 'de, A: VariantAccess<'s>> VariantAccess<'de> for Lenient<'s, '_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.de.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, s: T) -> Result<T::Value, A::Error> {
        self.de.newtype_variant_seed(seed(s, self.ctx))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, A::Error> {
        self.de.tuple_variant(len, visitor(v, self.ctx))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, A::Error> {
        self.de.struct_variant(fields, visitor(v, self.ctx))
    }
}
