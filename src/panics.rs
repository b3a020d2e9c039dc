//! Panics caught at the edges where a peer's request meets user code
//! (a handler, a `Deserialize` of its arguments, a `Serialize` of its
//! result): their text, for the error reply that names them.

use std::any::Any;
use std::fmt;

/// The text of a panic's payload (a `&str` or `String` for `panic!` with a
/// message).
pub(crate) fn message(panic: &(dyn Any + Send)) -> &str {
    transport_api::error::panic_message(panic)
}

/// A caught panic as an error (the source of a codec error).
#[derive(Debug)]
pub(crate) struct Panicked(pub(crate) String);

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panicked: {}", self.0)
    }
}

impl std::error::Error for Panicked {}
