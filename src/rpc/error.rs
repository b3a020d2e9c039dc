//! [`RpcError`]: why a call failed, mapped to `io::ErrorKind`.

use std::io;

use crate::channel::ChannelError;

/// Why an RPC call failed.
///
/// Three kinds of failure are told apart: the peer answered with an error
/// ([`Remote`](Self::Remote): the connection goes on), the connection is
/// gone or could not be made ([`Connection`](Self::Connection)), or a value
/// could not be encoded or decoded ([`Encode`](Self::Encode),
/// [`Decode`](Self::Decode): the connection goes on).
///
/// ```
/// use std::io::ErrorKind;
/// use agentwire::rpc::RpcError;
/// let err = RpcError::Remote {
///     origin: "tcp://127.0.0.1:5555".into(),
///     path: "agents/0/fail".into(),
///     message: "ValueError: boom".into(),
/// };
/// assert!(err.to_string().contains("boom"));
/// assert_eq!(err.kind(), ErrorKind::Other);
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// The peer answered with an error (aiomas's `RemoteException`): an
    /// unknown path, bad arguments, or the handler's error. For an aiomas
    /// peer, `message` is the Python traceback.
    #[error("remote error from {origin} calling {path:?}: {message}")]
    Remote {
        /// The peer's address, as a URL.
        origin: String,
        /// The path called.
        path: String,
        /// The text the peer sent.
        message: String,
    },
    /// The connection could not be made, or is (or got) lost while the call
    /// was waiting. The source's kind says which (`ConnectionRefused`,
    /// `ConnectionReset`, …).
    #[error("connection error: {source}")]
    Connection {
        /// The channel's error.
        #[source]
        source: ChannelError,
    },
    /// The arguments could not be encoded, or the request would exceed the
    /// maximum frame size; nothing was sent.
    #[error("cannot send a call to {path:?}: {source}")]
    Encode {
        /// The path called.
        path: String,
        /// The codec's (or frame size) error.
        #[source]
        source: ChannelError,
    },
    /// The result could not be decoded into the type asked for.
    #[error("cannot decode the result of {path:?}: {source}")]
    Decode {
        /// The path called.
        path: String,
        /// The codec's error.
        #[source]
        source: ChannelError,
    },
}

impl RpcError {
    /// The [`io::ErrorKind`] this error maps to: `Other` for a remote error,
    /// the channel's kind for a connection error (`ConnectionReset` for a lost
    /// connection, `ConnectionRefused`, …), `InvalidInput` for encoding and
    /// `InvalidData` for decoding.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            RpcError::Remote { .. } => io::ErrorKind::Other,
            RpcError::Connection { source } => source.kind(),
            RpcError::Encode { .. } => io::ErrorKind::InvalidInput,
            RpcError::Decode { .. } => io::ErrorKind::InvalidData,
        }
    }

    /// Whether the peer answered with an error.
    pub fn is_remote(&self) -> bool {
        matches!(self, RpcError::Remote { .. })
    }

    /// Whether the connection failed or is lost.
    pub fn is_connection(&self) -> bool {
        matches!(self, RpcError::Connection { .. })
    }

    /// For a [`Remote`](Self::Remote) error, the text the peer sent.
    pub fn remote_message(&self) -> Option<&str> {
        match self {
            RpcError::Remote { message, .. } => Some(message),
            _ => None,
        }
    }

    /// Sorts a channel error from sending a call to `path` and waiting for
    /// its reply (not decoding it).
    pub(crate) fn from_call(path: &str, err: ChannelError) -> Self {
        match err {
            ChannelError::Remote { origin, message } => RpcError::Remote {
                origin,
                path: path.to_owned(),
                message,
            },
            // Before the reply, codec errors are about encoding the call.
            e @ (ChannelError::Codec { .. } | ChannelError::FrameTooLarge { .. }) => {
                RpcError::Encode {
                    path: path.to_owned(),
                    source: e,
                }
            }
            source => RpcError::Connection { source },
        }
    }
}

impl From<RpcError> for io::Error {
    fn from(err: RpcError) -> Self {
        io::Error::new(err.kind(), err)
    }
}
