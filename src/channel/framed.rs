//! [`FramedProtocol`]: length-prefixed framing as a transport
//! [`Protocol`], handing whole frames to a [`FrameHandler`].

use std::fmt;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use transport_api::{Protocol, SharedTransport, Transport};

use super::{ChannelError, FrameDecoder, Result};

/// The events of a framed connection: like [`Protocol`], but with whole
/// frames instead of byte chunks.
///
/// Called from the connection's driver task, one at a time, in the order
/// [`Protocol`] documents.
pub trait FrameHandler: Send + 'static {
    /// The connection is up.
    fn connection_made(&mut self, transport: SharedTransport);

    /// A whole frame arrived (its payload, without the header).
    ///
    /// # Errors
    ///
    /// An error is a protocol violation: the connection is closed, no more
    /// frames are delivered, and `connection_lost` gets the error.
    fn frame_received(&mut self, frame: Bytes) -> Result<()>;

    /// The connection is gone: `None` for a clean close, otherwise why
    /// (a protocol error such as [`ChannelError::FrameTooLarge`] or
    /// [`ChannelError::TruncatedFrame`], or a transport error). Called
    /// exactly once, last.
    fn connection_lost(&mut self, cause: Option<ChannelError>);

    /// Whether to deliver the next frame now. While this is false, frames
    /// already received stay buffered in the decoder (at most what the
    /// transport delivered before the handler paused its reading); delivery
    /// is retried after [`resume_writing`](Self::resume_writing). Default:
    /// always true.
    fn wants_frames(&self) -> bool {
        true
    }

    /// See [`Protocol::pause_writing`].
    fn pause_writing(&mut self) {}

    /// See [`Protocol::resume_writing`].
    fn resume_writing(&mut self) {}
}

/// A [`Protocol`] that decodes length-prefixed frames (a 4-byte big-endian
/// length, then the payload) for a [`FrameHandler`], whatever the chunking.
///
/// A header above the maximum frame size, or an error from
/// [`FrameHandler::frame_received`], closes the connection: what is already
/// written is still sent, nothing more is received, and the handler's
/// `connection_lost` gets that error. A clean close in the middle of a frame
/// is reported as [`ChannelError::TruncatedFrame`]. The protocol keeps only a
/// weak reference to the transport, so the connection still closes when the
/// handler drops its handles.
pub struct FramedProtocol<H> {
    handler: H,
    decoder: FrameDecoder,
    transport: Option<Weak<dyn Transport>>,
    error: Option<ChannelError>,
}

impl<H: FrameHandler> FramedProtocol<H> {
    /// Frames for `handler`, accepting payloads of up to `max_frame_size`
    /// bytes.
    pub fn new(handler: H, max_frame_size: usize) -> Self {
        FramedProtocol {
            handler,
            decoder: FrameDecoder::new(max_frame_size),
            transport: None,
            error: None,
        }
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The handler, mutably.
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// The decoder (to inspect its buffer).
    pub fn decoder(&self) -> &FrameDecoder {
        &self.decoder
    }

    /// Hands out the buffered frames while the handler wants them.
    fn deliver(&mut self) {
        while self.error.is_none() && self.handler.wants_frames() {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => {
                    if let Err(e) = self.handler.frame_received(frame) {
                        self.fail(e);
                    }
                }
                Ok(None) => return,
                Err(e) => self.fail(e),
            }
        }
    }

    fn fail(&mut self, error: ChannelError) {
        let transport = self.transport.as_ref().and_then(Weak::upgrade);
        // The peer only sees the connection close (and a server's user
        // nothing at all): say why where an operator looks.
        let peer = transport.as_ref().and_then(|t| t.peer_addr());
        tracing::warn!(
            peer = %peer.map(|p| p.to_string()).unwrap_or_default(),
            "closing a connection after a protocol error: {error}"
        );
        self.error = Some(error);
        if let Some(t) = transport {
            t.close();
        }
    }
}

impl<H: FrameHandler> Protocol for FramedProtocol<H> {
    fn connection_made(&mut self, transport: SharedTransport) {
        self.transport = Some(Arc::downgrade(&transport));
        self.handler.connection_made(transport);
    }

    fn data_received(&mut self, mut data: Bytes) {
        // Whole frames while nothing is buffered go straight to the
        // handler (the common case: a local queue delivers each frame as
        // one chunk); the rest goes through the decoder.
        let mut fast = false;
        while !data.is_empty() && self.error.is_none() && self.handler.wants_frames() {
            let Some(frame) = self.decoder.split_whole(&mut data) else {
                break;
            };
            fast = true;
            if let Err(e) = self.handler.frame_received(frame) {
                self.fail(e);
            }
        }
        // After the fast path the decoder is still empty: with nothing
        // left there is nothing to deliver.
        if self.error.is_some() || (fast && data.is_empty()) {
            return;
        }
        self.decoder.push(data);
        self.deliver();
    }

    fn eof_received(&mut self) -> bool {
        false
    }

    fn connection_lost(&mut self, error: Option<transport_api::Error>) {
        // Frames held back while the handler did not want them are still
        // delivered: replies among them complete their requests.
        while self.error.is_none() {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => {
                    if let Err(e) = self.handler.frame_received(frame) {
                        self.error = Some(e);
                    }
                }
                Ok(None) => break,
                Err(e) => self.error = Some(e),
            }
        }
        let cause = self
            .error
            .take()
            .or_else(|| error.map(ChannelError::from))
            .or_else(|| self.decoder.finish().err());
        self.transport = None;
        self.handler.connection_lost(cause);
    }

    fn pause_writing(&mut self) {
        self.handler.pause_writing();
    }

    fn resume_writing(&mut self) {
        self.handler.resume_writing();
        self.deliver();
    }
}

impl<H> fmt::Debug for FramedProtocol<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FramedProtocol")
            .field("handler", &std::any::type_name::<H>())
            .field("decoder", &self.decoder)
            .field("error", &self.error)
            .finish()
    }
}
