//! [`ChannelError`]: everything that can go wrong on a channel.

use std::error::Error as StdError;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// A `Result` whose error is [`ChannelError`].
pub type Result<T, E = ChannelError> = std::result::Result<T, E>;

/// A boxed error cause, shareable between the many waiters that see it.
pub type BoxError = Arc<dyn StdError + Send + Sync + 'static>;

/// Everything that can go wrong on a [`Channel`](super::Channel).
///
/// Errors are cheap to clone (causes are behind `Arc`), because one
/// connection loss is reported to every request waiting on it. Each variant
/// maps to a chosen [`io::ErrorKind`] (see [`ChannelError::kind`] and the
/// `From<ChannelError> for io::Error` impl): a lost connection is
/// `ConnectionReset`, a malformed frame or payload is `InvalidData`.
///
/// Errors that break the wire protocol ([`FrameTooLarge`], [`TruncatedFrame`],
/// a payload that cannot be decoded, [`UnknownMessageType`],
/// [`UnknownRequestId`]) close the connection they happened on; the calls
/// waiting on it then fail with [`ConnectionLost`] whose `cause` is that
/// error. Nothing else is affected: other connections of the same server go
/// on.
///
/// [`FrameTooLarge`]: ChannelError::FrameTooLarge
/// [`TruncatedFrame`]: ChannelError::TruncatedFrame
/// [`UnknownMessageType`]: ChannelError::UnknownMessageType
/// [`UnknownRequestId`]: ChannelError::UnknownRequestId
/// [`ConnectionLost`]: ChannelError::ConnectionLost
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// A frame's length is above the maximum frame size. When received, the
    /// claimed size was never allocated and the connection is closed; when
    /// sending, nothing was sent and the connection goes on.
    #[error("frame of {size} bytes exceeds the maximum frame size of {max} bytes")]
    FrameTooLarge {
        /// The frame's payload length (claimed by the header, or of the
        /// message we tried to send).
        size: u64,
        /// The maximum frame size in force.
        max: usize,
    },
    /// The connection ended in the middle of a frame.
    #[error("connection closed in the middle of a frame: got {received} of {expected} bytes")]
    TruncatedFrame {
        /// Bytes the frame needed (header and payload).
        expected: u64,
        /// Bytes of it that arrived.
        received: u64,
    },
    /// A codec could not encode or decode a message or its content.
    #[error("{codec} codec: cannot {action}: {source}")]
    Codec {
        /// The codec's name (`"json"`, `"bincode"`, …).
        codec: &'static str,
        /// What it tried to do, e.g. `"decode a message"`.
        action: &'static str,
        /// The codec's error.
        #[source]
        source: BoxError,
    },
    /// A message had a type other than 0 (request), 1 (result) or
    /// 2 (exception).
    #[error("unknown message type {kind} (message id {id}); expected 0, 1 or 2")]
    UnknownMessageType {
        /// The type received.
        kind: u64,
        /// The message id received with it.
        id: u64,
    },
    /// A reply arrived for a request id this end never sent (or already got
    /// a reply for).
    #[error("reply for unknown request id {id}")]
    UnknownRequestId {
        /// The id of the reply.
        id: u64,
    },
    /// The peer answered the request with an exception (aiomas's
    /// `RemoteException`); the connection goes on.
    #[error("remote error from {origin}: {message}")]
    Remote {
        /// The peer's address, as a URL (`tcp://127.0.0.1:5555`, …).
        origin: String,
        /// The text the peer sent (for aiomas peers, a Python traceback).
        message: String,
    },
    /// [`recv`](super::Channel::recv) was called while another `recv` on the
    /// same channel was waiting. The waiting one is not affected.
    #[error("recv() called while another task is already waiting for an incoming request on this channel")]
    RecvBusy,
    /// The connection is gone: closed by either end, reset, or closed after a
    /// protocol error (`cause`). Every call waiting on the channel fails with
    /// this, and so does every later call.
    #[error("connection lost{}", match .cause { Some(c) => format!(": {c}"), None => String::new() })]
    ConnectionLost {
        /// Why, when known: a transport error, a protocol error,
        /// [`ChannelError::Closed`] when this end closed (or aborted) the
        /// channel, [`ChannelError::ClosedByPeer`] when the peer closed it.
        #[source]
        cause: Option<Arc<ChannelError>>,
    },
    /// This end closed the channel (the cause of a
    /// [`ConnectionLost`](ChannelError::ConnectionLost) after
    /// [`Channel::close`](super::Channel::close)).
    #[error("the channel was closed by this end")]
    Closed,
    /// The peer closed the connection (the cause of a
    /// [`ConnectionLost`](ChannelError::ConnectionLost) that neither a
    /// transport error nor this end caused). A peer that cannot decode what
    /// it receives (another codec, say) closes the connection too.
    #[error("the peer closed the connection")]
    ClosedByPeer,
    /// A transport error, e.g. a refused connection.
    #[error(transparent)]
    Transport(Arc<transport_api::Error>),
    /// Connecting did not succeed before the retry timeout ran out; `source`
    /// is the error of the last attempt.
    #[error("could not connect to {addr} within {timeout:?}: {source}")]
    ConnectTimeout {
        /// The address.
        addr: String,
        /// The retry timeout.
        timeout: Duration,
        /// The last attempt's error.
        #[source]
        source: Arc<transport_api::Error>,
    },
}

impl ChannelError {
    /// The [`io::ErrorKind`] this error maps to.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use agentwire::channel::ChannelError;
    /// let lost = ChannelError::ConnectionLost { cause: None };
    /// assert_eq!(lost.kind(), ErrorKind::ConnectionReset);
    /// let big = ChannelError::FrameTooLarge { size: 1 << 30, max: 1 << 24 };
    /// assert_eq!(big.kind(), ErrorKind::InvalidData);
    /// ```
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            ChannelError::FrameTooLarge { .. }
            | ChannelError::Codec { .. }
            | ChannelError::UnknownMessageType { .. }
            | ChannelError::UnknownRequestId { .. } => io::ErrorKind::InvalidData,
            ChannelError::TruncatedFrame { .. } => io::ErrorKind::UnexpectedEof,
            ChannelError::Remote { .. } | ChannelError::RecvBusy => io::ErrorKind::Other,
            ChannelError::ConnectionLost { .. } => io::ErrorKind::ConnectionReset,
            ChannelError::Closed => io::ErrorKind::BrokenPipe,
            ChannelError::ClosedByPeer => io::ErrorKind::ConnectionReset,
            ChannelError::Transport(e) => e.kind(),
            ChannelError::ConnectTimeout { source, .. } => source.kind(),
        }
    }

    /// Whether this is [`ChannelError::ConnectionLost`]: the channel is
    /// unusable and every later call fails the same way.
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, ChannelError::ConnectionLost { .. })
    }

    /// For [`ConnectionLost`](ChannelError::ConnectionLost): why the
    /// connection was lost, if known. `None` for other variants.
    pub fn lost_cause(&self) -> Option<&ChannelError> {
        match self {
            ChannelError::ConnectionLost { cause } => cause.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn lost(cause: Option<ChannelError>) -> Self {
        ChannelError::ConnectionLost {
            cause: cause.map(Arc::new),
        }
    }

    pub(crate) fn codec(
        codec: &'static str,
        action: &'static str,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        ChannelError::Codec {
            codec,
            action,
            source: Arc::new(source),
        }
    }
}

impl From<transport_api::Error> for ChannelError {
    fn from(err: transport_api::Error) -> Self {
        ChannelError::Transport(Arc::new(err))
    }
}

impl From<ChannelError> for io::Error {
    fn from(err: ChannelError) -> Self {
        io::Error::new(err.kind(), err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_names_its_cause() {
        let err = ChannelError::lost(Some(ChannelError::FrameTooLarge { size: 20, max: 10 }));
        let text = err.to_string();
        assert!(text.contains("20") && text.contains("10"), "{text}");
        assert!(err.source().is_some());
        assert!(matches!(
            err.lost_cause(),
            Some(ChannelError::FrameTooLarge { size: 20, max: 10 })
        ));
        let io: io::Error = err.into();
        assert_eq!(io.kind(), io::ErrorKind::ConnectionReset);
    }

    #[test]
    fn transport_errors_keep_their_kind() {
        let err = ChannelError::from(transport_api::Error::ConnectionRefused {
            addr: "local://x".into(),
            source: None,
        });
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        assert!(err.to_string().contains("local://x"));
    }
}
