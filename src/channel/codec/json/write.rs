//! Writing JSON as Python's `json.dumps` does: [`PythonFormatter`] for the
//! separators and escapes, [`PyValue`] for `NaN`, `Infinity` and
//! `-Infinity`.
//!
//! serde_json writes a non-finite float as `null` (calling the formatter's
//! `write_null`, without the value). [`PyValue`] wraps the value being
//! serialized: before passing a non-finite `f32`/`f64` on, it leaves the
//! token in a [`Cell`] that the formatter's `write_null` reads. As a map key
//! (where serde_json refuses non-finite floats) it writes the token as a
//! string, as Python does (`{"NaN": 1}`). Everything else passes straight
//! through, so finite values cost what they cost before.

use std::cell::Cell;
use std::fmt::Display;
use std::io;

use serde::ser::{
    SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant, SerializeTuple,
    SerializeTupleStruct, SerializeTupleVariant,
};
use serde::{Serialize, Serializer};
use serde_json::ser::Formatter;

/// A non-finite float's spelling in Python's JSON.
pub(super) fn token(value: f64) -> &'static str {
    if value.is_nan() {
        "NaN"
    } else if value > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// Where [`PyValue`] leaves the token for the formatter's next `null`.
pub(super) type Pending = Cell<Option<&'static str>>;

/// Formats JSON as Python's `json.dumps` does with its defaults
/// (`separators=(", ", ": ")`, `ensure_ascii=True`, `allow_nan=True`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PythonFormatter<'c> {
    pub(super) pending: &'c Pending,
}

impl Formatter for PythonFormatter<'_> {
    fn write_null<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        match self.pending.take() {
            Some(token) => w.write_all(token.as_bytes()),
            None => w.write_all(b"null"),
        }
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // Python escapes everything outside ' '..='~'; serde_json already
        // escaped quotes, backslashes and control characters.
        let mut rest = fragment;
        while let Some(pos) = rest.find(|c: char| c > '~') {
            w.write_all(&rest.as_bytes()[..pos])?;
            let mut tail = rest[pos..].chars();
            if let Some(c) = tail.next() {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(w, "\\u{unit:04x}")?;
                }
            }
            rest = tail.as_str();
        }
        w.write_all(rest.as_bytes())
    }
}

/// A value to serialize with Python's non-finite floats (see the module
/// docs); `key` when it is a map key.
pub(super) struct PyValue<'a, 'c, T: ?Sized> {
    pub(super) value: &'a T,
    pub(super) pending: &'c Pending,
    pub(super) key: bool,
}

impl<T: Serialize + ?Sized> Serialize for PyValue<'_, '_, T> {
    #[inline]
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(PySer {
            inner: serializer,
            pending: self.pending,
            key: self.key,
        })
    }
}

/// A serializer (or compound) passing everything to `inner`, with
/// [`PyValue`]s around nested values.
struct PySer<'c, S> {
    inner: S,
    pending: &'c Pending,
    key: bool,
}

impl<'c, S> PySer<'c, S> {
    #[inline]
    fn value<'a, T: ?Sized>(&self, value: &'a T) -> PyValue<'a, 'c, T> {
        PyValue {
            value,
            pending: self.pending,
            key: false,
        }
    }

    #[inline]
    fn key<'a, T: ?Sized>(&self, value: &'a T) -> PyValue<'a, 'c, T> {
        PyValue {
            value,
            pending: self.pending,
            key: true,
        }
    }
}

impl<S: Serializer> PySer<'_, S> {
    fn non_finite(self, value: f64) -> Result<S::Ok, S::Error> {
        let token = token(value);
        if self.key {
            return self.inner.serialize_str(token);
        }
        self.pending.set(Some(token));
        let written = self.inner.serialize_unit();
        // Not left for a later null if `inner` did not write one.
        self.pending.set(None);
        written
    }
}

macro_rules! forward {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        #[inline]
        fn $method(self, v: $ty) -> Result<S::Ok, S::Error> {
            self.inner.$method(v)
        }
    )*};
}

impl<'c, S: Serializer> Serializer for PySer<'c, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = PySer<'c, S::SerializeSeq>;
    type SerializeTuple = PySer<'c, S::SerializeTuple>;
    type SerializeTupleStruct = PySer<'c, S::SerializeTupleStruct>;
    type SerializeTupleVariant = PySer<'c, S::SerializeTupleVariant>;
    type SerializeMap = PySer<'c, S::SerializeMap>;
    type SerializeStruct = PySer<'c, S::SerializeStruct>;
    type SerializeStructVariant = PySer<'c, S::SerializeStructVariant>;

    forward!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
    );

    #[inline]
    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            self.inner.serialize_f32(v)
        } else {
            self.non_finite(f64::from(v))
        }
    }

    #[inline]
    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            self.inner.serialize_f64(v)
        } else {
            self.non_finite(v)
        }
    }

    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_none()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        let value = PyValue {
            value,
            pending: self.pending,
            key: self.key,
        };
        self.inner.serialize_some(&value)
    }

    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit()
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_struct(name)
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_variant(name, index, variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let value = PyValue {
            value,
            pending: self.pending,
            key: self.key,
        };
        self.inner.serialize_newtype_struct(name, &value)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let value = self.value(value);
        self.inner
            .serialize_newtype_variant(name, index, variant, &value)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        let inner = self.inner.serialize_seq(len)?;
        Ok(PySer {
            inner,
            pending: self.pending,
            key: false,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        let pending = self.pending;
        Ok(PySer {
            inner: self.inner.serialize_tuple(len)?,
            pending,
            key: false,
        })
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        let pending = self.pending;
        Ok(PySer {
            inner: self.inner.serialize_tuple_struct(name, len)?,
            pending,
            key: false,
        })
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        let pending = self.pending;
        Ok(PySer {
            inner: self
                .inner
                .serialize_tuple_variant(name, index, variant, len)?,
            pending,
            key: false,
        })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let pending = self.pending;
        Ok(PySer {
            inner: self.inner.serialize_map(len)?,
            pending,
            key: false,
        })
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        let pending = self.pending;
        Ok(PySer {
            inner: self.inner.serialize_struct(name, len)?,
            pending,
            key: false,
        })
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        let pending = self.pending;
        Ok(PySer {
            inner: self
                .inner
                .serialize_struct_variant(name, index, variant, len)?,
            pending,
            key: false,
        })
    }

    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.collect_str(value)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! compound {
    ($trait:ident, $method:ident $(, $name:ident: $ty:ty)?) => {
        impl<S: $trait> $trait for PySer<'_, S> {
            type Ok = S::Ok;
            type Error = S::Error;

            #[inline]
            fn $method<T: Serialize + ?Sized>(
                &mut self,
                $($name: $ty,)?
                value: &T,
            ) -> Result<(), S::Error> {
                let value = self.value(value);
                self.inner.$method($($name,)? &value)
            }

            #[inline]
            fn end(self) -> Result<S::Ok, S::Error> {
                self.inner.end()
            }
        }
    };
}

compound!(SerializeSeq, serialize_element);
compound!(SerializeTuple, serialize_element);
compound!(SerializeTupleStruct, serialize_field);
compound!(SerializeTupleVariant, serialize_field);
compound!(SerializeStruct, serialize_field, name: &'static str);
compound!(SerializeStructVariant, serialize_field, name: &'static str);

impl<S: SerializeMap> SerializeMap for PySer<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), S::Error> {
        let key = self.key(key);
        self.inner.serialize_key(&key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        let value = self.value(value);
        self.inner.serialize_value(&value)
    }

    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), S::Error> {
        let (key, value) = (self.key(key), self.value(value));
        self.inner.serialize_entry(&key, &value)
    }

    fn end(self) -> Result<S::Ok, S::Error> {
        self.inner.end()
    }
}
