//! [`Date`]: a date-time as aiomas's containers send one (their first
//! serializer, for `arrow` dates).

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use super::wire::{deserialize_typed, serialize_typed};
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

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // arrow's str(): ISO 8601 with the offset, `+00:00`.
        serialize_typed::<Date, _, _>(&self.0.to_rfc3339(), serializer)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text: String = deserialize_typed::<Date, _, _>(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|date| Date(date.with_timezone(&Utc)))
            .map_err(|e| de::Error::custom(format_args!("bad date {text:?}: {e}")))
    }
}
