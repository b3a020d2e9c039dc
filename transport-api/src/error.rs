//! The error type shared by every transport backend.

use std::io;

/// A `Result` whose error is the transport [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a transport, a server or an address.
///
/// Each variant maps to a chosen [`io::ErrorKind`] (see [`Error::kind`] and the
/// `From<Error> for io::Error` impl), so code written against `std::io` sees the
/// kinds it expects: a refused connection is `ConnectionRefused`, writing after
/// close is `BrokenPipe`, a malformed address is `InvalidInput`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An address, URL or queue id could not be parsed or is not allowed.
    /// `input` is the rejected text, verbatim.
    #[error("invalid address {input:?}: {reason}")]
    InvalidAddress {
        /// The rejected input.
        input: String,
        /// Why it was rejected.
        reason: String,
    },
    /// An argument other than an address was out of range (e.g. water marks).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Nobody accepts connections at `addr`.
    #[error("connection refused: {addr}")]
    ConnectionRefused {
        /// The address that refused.
        addr: String,
        /// The OS error, for real sockets.
        #[source]
        source: Option<io::Error>,
    },
    /// The address does not exist (e.g. a missing Unix socket file).
    #[error("address not found: {addr}")]
    NotFound {
        /// The address that was not found.
        addr: String,
        /// The OS error, for real sockets.
        #[source]
        source: Option<io::Error>,
    },
    /// Another server is already bound to `addr`.
    #[error("address in use: {addr}")]
    AddrInUse {
        /// The address that is taken.
        addr: String,
        /// The OS error, for real sockets.
        #[source]
        source: Option<io::Error>,
    },
    /// The peer aborted the connection.
    #[error("connection reset by peer")]
    ConnectionReset,
    /// The transport is closing or closed; nothing more can be written.
    #[error("transport is closed")]
    Closed,
    /// The transport does not support this operation (e.g. `write_eof` on a
    /// local queue).
    #[error("operation not supported by this transport: {0}")]
    Unsupported(&'static str),
    /// There is no tokio runtime to drive the connection.
    #[error("no tokio runtime is running; call this from within a runtime")]
    NoRuntime,
    /// A TLS handshake or configuration error.
    #[error("TLS error: {message}")]
    Tls {
        /// What went wrong, in words.
        message: String,
        /// The underlying TLS error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A protocol callback panicked; the panic stays inside the connection
    /// (see [`ProtocolHandle::connection_made`](crate::ProtocolHandle::connection_made)).
    #[error("the protocol panicked in {callback}: {message}")]
    ProtocolPanicked {
        /// The callback that panicked, e.g. `"connection_made"`.
        callback: &'static str,
        /// The panic's message (or a note that it was not text).
        message: String,
    },
    /// Any other I/O error, kept as it is.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The text of a caught panic's payload (what
/// [`std::panic::catch_unwind`] returns): the message of a `panic!` with
/// one, else a note that the payload is not text.
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("boom {}", 7)).unwrap_err();
/// assert_eq!(transport_api::error::panic_message(payload.as_ref()), "boom 7");
/// ```
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(a panic payload that is not text)"
    }
}

impl Error {
    /// The [`io::ErrorKind`] this error maps to.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use transport_api::Error;
    /// assert_eq!(Error::Closed.kind(), ErrorKind::BrokenPipe);
    /// assert_eq!(Error::ConnectionReset.kind(), ErrorKind::ConnectionReset);
    /// ```
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Error::InvalidAddress { .. } | Error::InvalidArgument(_) => io::ErrorKind::InvalidInput,
            Error::ConnectionRefused { .. } => io::ErrorKind::ConnectionRefused,
            Error::NotFound { .. } => io::ErrorKind::NotFound,
            Error::AddrInUse { .. } => io::ErrorKind::AddrInUse,
            Error::ConnectionReset => io::ErrorKind::ConnectionReset,
            Error::Closed => io::ErrorKind::BrokenPipe,
            Error::Unsupported(_) => io::ErrorKind::Unsupported,
            Error::NoRuntime | Error::ProtocolPanicked { .. } => io::ErrorKind::Other,
            Error::Tls { .. } => io::ErrorKind::InvalidData,
            Error::Io(e) => e.kind(),
        }
    }

    /// Shorthand for [`Error::InvalidAddress`].
    pub fn invalid_address(input: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidAddress {
            input: input.into(),
            reason: reason.into(),
        }
    }

    /// A [`Error::ProtocolPanicked`] for `callback`, with the message of
    /// the panic `payload` (what [`std::panic::catch_unwind`] returns).
    pub fn protocol_panicked(callback: &'static str, payload: &(dyn std::any::Any + Send)) -> Self {
        Error::ProtocolPanicked {
            callback,
            message: panic_message(payload).to_owned(),
        }
    }

    /// Classifies an OS error from connecting to or binding `addr`: refused,
    /// not found and in-use errors get their own variants naming `addr`.
    pub fn from_io(err: io::Error, addr: impl std::fmt::Display) -> Self {
        let addr = addr.to_string();
        match err.kind() {
            io::ErrorKind::ConnectionRefused => Error::ConnectionRefused {
                addr,
                source: Some(err),
            },
            io::ErrorKind::NotFound => Error::NotFound {
                addr,
                source: Some(err),
            },
            io::ErrorKind::AddrInUse => Error::AddrInUse {
                addr,
                source: Some(err),
            },
            io::ErrorKind::ConnectionReset => Error::ConnectionReset,
            _ => Error::Io(err),
        }
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        match err {
            Error::Io(e) => e,
            other => io::Error::new(other.kind(), other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_round_trip_keeps_kind_and_message() {
        let err = Error::ConnectionRefused {
            addr: "local://q".into(),
            source: None,
        };
        let io: io::Error = err.into();
        assert_eq!(io.kind(), io::ErrorKind::ConnectionRefused);
        assert!(io.to_string().contains("local://q"));
    }

    #[test]
    fn a_caught_panic_names_its_message() {
        let payload = std::panic::catch_unwind(|| panic!("boom {}", 7)).expect_err("it panics");
        let e = Error::protocol_panicked("connection_made", payload.as_ref());
        assert_eq!(
            e.to_string(),
            "the protocol panicked in connection_made: boom 7"
        );
        let payload =
            std::panic::catch_unwind(|| std::panic::panic_any(7u8)).expect_err("it panics");
        let e = Error::protocol_panicked("connection_made", payload.as_ref());
        assert!(e.to_string().contains("not text"), "{e}");
    }

    #[test]
    fn from_io_classifies_kinds() {
        let e = Error::from_io(io::Error::from(io::ErrorKind::NotFound), "ipc://[/x]");
        assert!(matches!(e, Error::NotFound { ref addr, .. } if addr == "ipc://[/x]"));
        let e = Error::from_io(io::Error::from(io::ErrorKind::TimedOut), "tcp://a:1");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }
}
