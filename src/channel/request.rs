//! [`Request`]: a request received on a channel, to be answered.

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Bincode, Channel, ChannelError, Codec, MessageKind, Result};
use crate::panics::Panicked;

/// What is left of an answer the transport could not take at once (see
/// [`Request::reply_now`]).
pub(crate) type Finishing = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The text sent when a request is dropped without an answer.
const DROPPED: &str = "the request was dropped without a reply";

/// A request from the peer, as [`Channel::recv`] returns it (aiomas's
/// `Request`). Answer it with [`reply`](Self::reply) or
/// [`fail`](Self::fail).
///
/// A request dropped without an answer is answered with an exception
/// ("the request was dropped without a reply"), so the peer never waits
/// forever. A request keeps its channel's connection open.
pub struct Request<C: Codec = Bincode> {
    channel: Channel<C>,
    id: u64,
    content: Bytes,
    answered: bool,
}

impl<C: Codec> Request<C> {
    pub(crate) fn new(channel: Channel<C>, id: u64, content: Bytes) -> Self {
        Request {
            channel,
            id,
            content,
            answered: false,
        }
    }

    /// The message id, unique among the peer's requests on this channel.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The content, decoded as `T`.
    ///
    /// # Errors
    ///
    /// [`ChannelError::Codec`] if it is not a valid `T` (the request can
    /// still be answered, e.g. with [`fail`](Self::fail)).
    pub fn content<T: DeserializeOwned>(&self) -> Result<T> {
        self.channel.codec().decode_content(&self.content)
    }

    /// The content, still encoded.
    pub fn raw_content(&self) -> &Bytes {
        &self.content
    }

    /// The channel the request came on.
    pub fn channel(&self) -> &Channel<C> {
        &self.channel
    }

    /// Answers with `value`.
    ///
    /// # Errors
    ///
    /// [`ChannelError::Codec`] or [`ChannelError::FrameTooLarge`] if `value`
    /// cannot be sent; the peer then gets an exception saying so (as aiomas
    /// does). [`ChannelError::ConnectionLost`] if the connection is gone.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped before the reply was written, the request is
    /// dropped with it and the peer gets the "dropped without a reply"
    /// exception.
    pub async fn reply<T: Serialize + ?Sized>(mut self, value: &T) -> Result<()> {
        let frame = match self.reply_frame(value) {
            Ok(frame) => frame,
            Err(err) => {
                let text = format!("the reply could not be sent: {err}");
                // The peer learns why; our caller gets the error itself.
                let _ = self.send_exception(&text).await;
                return Err(err);
            }
        };
        let result = self.channel.shared().send(frame).await;
        self.answered = true;
        result
    }

    /// The reply frame for `value`. (A `Serialize` impl may panic: that is
    /// an encoding error, so the peer still gets an answer.)
    fn reply_frame<T: Serialize + ?Sized>(&self, value: &T) -> Result<Bytes> {
        let shared = self.channel.shared();
        catch_unwind(AssertUnwindSafe(|| {
            shared.encode(MessageKind::Result, self.id, value)
        }))
        .unwrap_or_else(|panic| {
            Err(ChannelError::codec(
                shared.codec.name(),
                "encode the reply",
                Panicked(crate::panics::message(&*panic).to_owned()),
            ))
        })
    }

    /// Like [`reply`](Self::reply), for callers that need no result: the
    /// answer is written now if the transport takes it at once (the common
    /// case, with no future to keep); otherwise the returned future
    /// finishes it. The RPC layer's handlers answer this way, which keeps
    /// the future boxed per request small.
    pub(crate) fn reply_now<T: Serialize + ?Sized>(self, value: &T) -> Option<Finishing> {
        match self.reply_frame(value) {
            Ok(frame) => self.send_now_or_later(frame),
            Err(err) => self.fail_now(format_args!("the reply could not be sent: {err}")),
        }
    }

    /// Like [`fail`](Self::fail), as [`reply_now`](Self::reply_now).
    pub(crate) fn fail_now(self, error: impl fmt::Display) -> Option<Finishing> {
        let text = error.to_string();
        // Should even the exception not encode, dropping the request sends
        // the "dropped" one.
        let frame = self.exception_frame(&text).ok()?;
        self.send_now_or_later(frame)
    }

    fn send_now_or_later(mut self, frame: Bytes) -> Option<Finishing> {
        match self.channel.shared().try_send(frame) {
            Ok(Some(frame)) => Some(Box::pin(async move {
                let _ = self.channel.shared().send_waiting(frame).await;
                self.answered = true;
                drop(self);
            })),
            // Written, or the connection is gone: answered either way.
            Ok(None) | Err(_) => {
                self.answered = true;
                None
            }
        }
    }

    /// Answers with an exception whose text is `error` (the peer's request
    /// fails with [`ChannelError::Remote`]; an aiomas peer raises
    /// `RemoteException`).
    ///
    /// # Errors
    ///
    /// [`ChannelError::ConnectionLost`] if the connection is gone.
    ///
    /// # Cancel safety
    ///
    /// As for [`reply`](Self::reply).
    pub async fn fail(mut self, error: impl fmt::Display) -> Result<()> {
        let text = error.to_string();
        self.send_exception(&text).await
    }

    async fn send_exception(&mut self, text: &str) -> Result<()> {
        let frame = self.exception_frame(text)?;
        let result = self.channel.shared().send(frame).await;
        self.answered = true;
        result
    }

    /// An exception frame with `text`, shortened if the whole frame would be
    /// above the maximum frame size.
    fn exception_frame(&self, text: &str) -> Result<Bytes> {
        let shared = self.channel.shared();
        let mut cut = text.len();
        let mut first = true;
        loop {
            match shared.encode(MessageKind::Exception, self.id, &text[..cut]) {
                // Escapes can make the text longer on the wire than in
                // memory (`\u0001` for one byte): shorten until it fits.
                Err(ChannelError::FrameTooLarge { .. }) if cut > 0 => {
                    let room = shared.max_frame_size.saturating_sub(64);
                    cut = if std::mem::take(&mut first) && room < cut {
                        room
                    } else {
                        cut / 2
                    };
                    while !text.is_char_boundary(cut) {
                        cut -= 1;
                    }
                }
                other => return other,
            }
        }
    }
}

impl<C: Codec> Drop for Request<C> {
    fn drop(&mut self) {
        if !self.answered {
            if let Ok(frame) = self.exception_frame(DROPPED) {
                self.channel.shared().send_now(frame);
            }
        }
    }
}

impl<C: Codec> fmt::Debug for Request<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("id", &self.id)
            .field("content_len", &self.content.len())
            .field("answered", &self.answered)
            .finish()
    }
}
