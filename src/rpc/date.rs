//! [`Date`]: a date-time as aiomas's containers send one (their first
//! serializer, for `arrow` dates).

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use super::wire::{current_wire, no_wire, not_registered, read_typed, write_typed};
use crate::clock::{DateTime, Utc};

/// A UTC date-time that travels as aiomas's containers send `arrow` dates:
/// `{"__type__": [0, "2016-01-01T00:00:00+00:00"]}` (type id 0 is the date
/// serializer every aiomas container adds first). Arrives in Python as an
/// `arrow.Arrow`; what [`Clock::utcnow`](crate::clock::Clock::utcnow)
/// returns, wrapped.
///
/// Only containers' connections know the date serializer: outside a call
/// between containers, encoding a `Date` is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub DateTime<Utc>);

impl From<DateTime<Utc>> for Date {
    fn from(date: DateTime<Utc>) -> Self {
        Date(date)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339())
    }
}

/// The date serializer's type id on the current connection.
fn typeid<E>(error: impl FnOnce(String) -> E) -> Result<u64, E> {
    let name = "agentwire::rpc::Date";
    let found = match current_wire() {
        None => Err(no_wire(name)),
        Some(wire) => wire
            .serializers
            .typeid_of::<Date>()
            .ok_or_else(|| not_registered(name)),
    };
    found.map_err(error)
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let typeid = typeid(serde::ser::Error::custom)?;
        // arrow's str(): ISO 8601 with the offset, `+00:00`.
        write_typed(serializer, typeid, &self.0.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let expected = typeid(de::Error::custom)?;
        let text: String = read_typed(deserializer, "a date", |typeid| {
            if typeid == expected {
                Ok(())
            } else {
                Err(format!(
                    "type id {typeid} where a date (type id {expected}) was expected"
                ))
            }
        })?;
        DateTime::parse_from_rfc3339(&text)
            .map(|date| Date(date.with_timezone(&Utc)))
            .map_err(|e| de::Error::custom(format_args!("bad date {text:?}: {e}")))
    }
}
