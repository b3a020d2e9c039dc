//! The message envelope: `(msg_type, msg_id, content)`, as aiomas sends it.

use std::fmt;

use bytes::Bytes;

use super::{ChannelError, Result};

/// The type of a message: the first element of the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageKind {
    /// `0`: a request; its content is the request body.
    Request = 0,
    /// `1`: a successful reply; its content is the result value.
    Result = 1,
    /// `2`: a failed reply; its content is the error text.
    Exception = 2,
}

impl MessageKind {
    /// The number on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The kind for a number on the wire.
    ///
    /// # Errors
    ///
    /// [`ChannelError::UnknownMessageType`] for anything but 0, 1, 2 (`id` is
    /// only used in the error).
    pub fn from_code(code: u64, id: u64) -> Result<Self> {
        match code {
            0 => Ok(MessageKind::Request),
            1 => Ok(MessageKind::Result),
            2 => Ok(MessageKind::Exception),
            kind => Err(ChannelError::UnknownMessageType { kind, id }),
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MessageKind::Request => "request",
            MessageKind::Result => "result",
            MessageKind::Exception => "exception",
        })
    }
}

/// A decoded envelope whose content is still encoded: the codec decodes it
/// into the type the receiver asks for (see
/// [`Codec::decode_content`](super::Codec::decode_content)).
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// The message type.
    pub kind: MessageKind,
    /// The message id: a request's id, or the id of the request a reply
    /// answers.
    pub id: u64,
    /// The content, still in the codec's encoding (for JSON, the raw JSON
    /// text of the third element).
    pub content: Bytes,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("kind", &self.kind)
            .field("id", &self.id)
            .field("content_len", &self.content.len())
            .finish()
    }
}

/// Returns the part of `frame` that `sub` covers, without copying when `sub`
/// lies inside `frame` (as text borrowed from it does); a copy otherwise.
pub(crate) fn slice_of(frame: &Bytes, sub: &[u8]) -> Bytes {
    let start = (sub.as_ptr() as usize).wrapping_sub(frame.as_ptr() as usize);
    match start.checked_add(sub.len()) {
        Some(end) if start <= frame.len() && end <= frame.len() => frame.slice(start..end),
        _ => Bytes::copy_from_slice(sub),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for kind in [
            MessageKind::Request,
            MessageKind::Result,
            MessageKind::Exception,
        ] {
            assert_eq!(
                MessageKind::from_code(u64::from(kind.code()), 0).ok(),
                Some(kind)
            );
        }
        assert!(matches!(
            MessageKind::from_code(3, 9),
            Err(ChannelError::UnknownMessageType { kind: 3, id: 9 })
        ));
    }

    #[test]
    fn slices_without_copy() {
        let frame = Bytes::from_static(b"[0, 1, \"x\"]");
        let sub = &frame[7..10];
        let s = slice_of(&frame, sub);
        assert_eq!(&s[..], b"\"x\"");
        assert_eq!(s.as_ptr(), sub.as_ptr());
        let other = b"abc".to_vec();
        assert_eq!(&slice_of(&frame, &other)[..], b"abc");
    }
}
