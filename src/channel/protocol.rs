//! The [`FrameHandler`] behind every channel: decodes envelopes and hands
//! them to the shared state.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use transport_api::SharedTransport;

use super::shared::Shared;
use super::{Channel, ChannelError, Codec, FrameHandler, Result};

/// Called once with the server side's new channel.
pub(crate) type OnChannel<C> = Box<dyn FnOnce(Channel<C>) + Send>;

/// The channel's frame handler.
pub(crate) struct ChannelProtocol<C: Codec> {
    shared: Arc<Shared<C>>,
    on_channel: Option<OnChannel<C>>,
}

impl<C: Codec> ChannelProtocol<C> {
    /// A client's handler; the caller makes the [`Channel`] from `shared`.
    pub(crate) fn client(shared: Arc<Shared<C>>) -> Self {
        ChannelProtocol {
            shared,
            on_channel: None,
        }
    }

    /// A server's handler: `on_channel` gets the channel once connected.
    pub(crate) fn server(shared: Arc<Shared<C>>, on_channel: OnChannel<C>) -> Self {
        ChannelProtocol {
            shared,
            on_channel: Some(on_channel),
        }
    }
}

impl<C: Codec> FrameHandler for ChannelProtocol<C> {
    fn connection_made(&mut self, transport: SharedTransport) {
        self.shared.set_transport(transport);
        if let Some(on_channel) = self.on_channel.take() {
            on_channel(Channel::from_shared(Arc::clone(&self.shared)));
        }
    }

    fn frame_received(&mut self, frame: Bytes) -> Result<()> {
        let msg = self.shared.codec.decode_message(frame)?;
        self.shared.on_message(msg)
    }

    fn connection_lost(&mut self, cause: Option<ChannelError>) {
        self.shared.on_lost(cause);
    }

    fn wants_frames(&self) -> bool {
        !self.shared.paused_for_refusals()
    }

    fn resume_writing(&mut self) {
        self.shared.on_resume_writing();
    }
}

/// A handler dropped before `connection_lost` (its driver task was
/// dropped, with its runtime say) leaves a connection that nothing will
/// ever end: it is lost now, so that calls, `close` and `abort` waiting for
/// its end return. (After `connection_lost` this does nothing.)
impl<C: Codec> Drop for ChannelProtocol<C> {
    fn drop(&mut self) {
        if self.shared.lost_error().is_none() {
            let gone = std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "the connection's driver was dropped before the connection ended \
                 (was its runtime shut down?)",
            );
            let cause = ChannelError::Transport(Arc::new(transport_api::Error::Io(gone)));
            self.shared.on_lost(Some(cause));
        }
    }
}

impl<C: Codec> fmt::Debug for ChannelProtocol<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelProtocol")
            .field("shared", &self.shared)
            .finish()
    }
}
