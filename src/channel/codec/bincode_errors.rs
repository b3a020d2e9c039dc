//! bincode's errors as sentences: bincode 2 prints its error enums in
//! their `Debug` form (`OtherString("…")`, `UnexpectedEnd { additional: 1 }`),
//! and these texts reach a remote caller's error message.

use std::error::Error as StdError;
use std::fmt;

use ::bincode::error::{AllowedEnumVariants, DecodeError, EncodeError};

/// A bincode decoding error, printed as a sentence naming what failed.
#[derive(Debug)]
pub(crate) struct Decode(pub(crate) DecodeError);

impl fmt::Display for Decode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ::bincode::serde::DecodeError as Serde;
        match &self.0 {
            DecodeError::UnexpectedEnd { additional } => write!(
                f,
                "the input ends inside a value (at least {additional} more bytes needed)"
            ),
            DecodeError::LimitExceeded => {
                f.write_str("a length claims more bytes than the frame holds")
            }
            DecodeError::InvalidIntegerType { expected, found } => write!(
                f,
                "expected an integer of type {expected:?}, found the encoding of a {found:?}"
            ),
            DecodeError::NonZeroTypeIsZero { non_zero_type } => {
                write!(f, "zero for a non-zero integer ({non_zero_type:?})")
            }
            DecodeError::UnexpectedVariant {
                type_name,
                allowed,
                found,
            } => {
                write!(f, "variant index {found} of {type_name}")?;
                match allowed {
                    AllowedEnumVariants::Range { min, max } => {
                        write!(f, " is not between {min} and {max}")
                    }
                    AllowedEnumVariants::Allowed(list) => write!(f, " is not one of {list:?}"),
                    _ => f.write_str(" is not allowed"),
                }
            }
            DecodeError::Utf8 { inner } => write!(f, "a string is not valid UTF-8: {inner}"),
            DecodeError::InvalidCharEncoding(bytes) => {
                write!(f, "invalid char encoding {bytes:02x?}")
            }
            DecodeError::InvalidBooleanValue(v) => {
                write!(f, "invalid bool value {v} (expected 0 or 1)")
            }
            DecodeError::ArrayLengthMismatch { required, found } => write!(
                f,
                "an array of {found} elements where {required} were expected"
            ),
            DecodeError::OutsideUsizeRange(v) => {
                write!(f, "the length {v} does not fit this platform's usize")
            }
            DecodeError::EmptyEnum { type_name } => {
                write!(
                    f,
                    "{type_name} has no variants, so no value of it can be decoded"
                )
            }
            DecodeError::InvalidDuration { secs, nanos } => {
                write!(f, "the duration {secs} s + {nanos} ns overflows a Duration")
            }
            DecodeError::InvalidSystemTime { duration } => write!(
                f,
                "the system time UNIX_EPOCH + {duration:?} is out of range"
            ),
            DecodeError::CStringNulError { position } => {
                write!(f, "a C string holds a nul byte at {position}")
            }
            DecodeError::Io { inner, .. } => write!(f, "reading failed: {inner}"),
            DecodeError::Other(text) => f.write_str(text),
            DecodeError::OtherString(text) => f.write_str(text),
            DecodeError::Serde(Serde::AnyNotSupported) => f.write_str(
                "bincode is not self-describing: a type that asks for any value \
                 (serde_json::Value, untagged enums, …) cannot be decoded",
            ),
            DecodeError::Serde(Serde::IdentifierNotSupported) => {
                f.write_str("bincode cannot decode serde identifiers")
            }
            DecodeError::Serde(Serde::IgnoredAnyNotSupported) => {
                f.write_str("bincode cannot skip a value of unknown type")
            }
            DecodeError::Serde(Serde::CannotBorrowOwnedData) => {
                f.write_str("a borrowed value cannot be decoded from owned data")
            }
            other => write!(f, "{other:?}"),
        }
    }
}

impl StdError for Decode {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.0 {
            DecodeError::Utf8 { inner } => Some(inner),
            DecodeError::Io { inner, .. } => Some(inner),
            _ => None,
        }
    }
}

/// A bincode encoding error, printed as a sentence naming what failed.
#[derive(Debug)]
pub(crate) struct Encode(pub(crate) EncodeError);

impl fmt::Display for Encode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ::bincode::serde::EncodeError as Serde;
        match &self.0 {
            EncodeError::UnexpectedEnd => f.write_str("the output is full"),
            EncodeError::RefCellAlreadyBorrowed { type_name, .. } => {
                write!(f, "a {type_name} is mutably borrowed")
            }
            EncodeError::Other(text) => f.write_str(text),
            EncodeError::OtherString(text) => f.write_str(text),
            EncodeError::InvalidPathCharacters => f.write_str("a path is not valid UTF-8"),
            EncodeError::Io { inner, .. } => write!(f, "writing failed: {inner}"),
            EncodeError::LockFailed { type_name } => {
                write!(f, "a {type_name} could not be locked (poisoned)")
            }
            EncodeError::InvalidSystemTime { time, .. } => {
                write!(f, "the system time {time:?} is before UNIX_EPOCH")
            }
            EncodeError::Serde(Serde::SequenceMustHaveLength) => f.write_str(
                "bincode needs the length of a sequence or map up front (an iterator \
                 of unknown length cannot be encoded)",
            ),
            other => write!(f, "{other:?}"),
        }
    }
}

impl StdError for Encode {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.0 {
            EncodeError::Io { inner, .. } => Some(inner),
            _ => None,
        }
    }
}
