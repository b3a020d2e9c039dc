//! [`Date`]: a date-time as aiomas's containers send one (their first
//! serializer, for `arrow` dates).

use std::fmt;

use serde::{de, ser, Deserialize, Deserializer, Serialize, Serializer};

use super::quoted::Quoted;
use super::wire::{deserialize_typed, serialize_typed};
use crate::clock::chrono::{Datelike, SecondsFormat, SubsecRound, Timelike};
use crate::clock::{DateTime, Utc};

/// A UTC date-time that travels as aiomas's containers send `arrow` dates:
/// `{"__type__": [0, "2016-01-01T00:00:00+00:00"]}` (type id 0 is the date
/// serializer every aiomas container adds first). Arrives in Python as an
/// `arrow.Arrow`; what [`Clock::utcnow`](crate::clock::Clock::utcnow)
/// returns, wrapped.
///
/// Only containers' connections know the date serializer: outside a call
/// between containers, encoding a `Date` is an error. So is encoding a
/// date outside the years 1 to 9999, which neither Python's `datetime` nor
/// RFC 3339 text holds, or a leap second (`23:59:60`), which Python's
/// `datetime` does not hold (aiomas, failing to decode either, drops the
/// whole connection); the error names the date. A date is sent to the
/// microsecond, as Python's `datetime` holds it: finer fractions are cut
/// off (arrow would round them, past year 9999 at its last instant).
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
        if !(1..=9999).contains(&self.0.year()) {
            return Err(ser::Error::custom(format_args!(
                "date {} is outside the years 1 to 9999 that Python's datetime \
                 (aiomas's dates) and RFC 3339 hold",
                self.0.to_rfc3339()
            )));
        }
        if self.0.nanosecond() >= 1_000_000_000 {
            return Err(ser::Error::custom(format_args!(
                "date {} is in a leap second, which Python's datetime (aiomas's \
                 dates) does not hold",
                self.0.to_rfc3339()
            )));
        }
        // arrow's str(): ISO 8601 with the offset, `+00:00`, to the
        // microsecond.
        let text = self
            .0
            .trunc_subsecs(6)
            .to_rfc3339_opts(SecondsFormat::AutoSi, false);
        serialize_typed::<Date, _, _>(&text, serializer)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text: String = deserialize_typed::<Date, _, _>(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|date| Date(date.with_timezone(&Utc)))
            .map_err(|e| de::Error::custom(format_args!("bad date {}: {e}", Quoted(&text))))
    }
}
