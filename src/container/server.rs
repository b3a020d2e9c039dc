//! A container's server, whatever its backend.

use std::fmt;

use transport_api::Server;

use crate::rpc::BoxFuture;

/// The operations a container needs from its server, object-safe.
pub(crate) trait AnyServer: fmt::Debug + Send + Sync + 'static {
    fn close(&self);
    fn wait_closed(&self) -> BoxFuture<'_, ()>;
}

#[derive(Debug)]
pub(crate) struct Erased<S>(pub(crate) S);

impl<S: Server> AnyServer for Erased<S> {
    fn close(&self) {
        self.0.close();
    }

    fn wait_closed(&self) -> BoxFuture<'_, ()> {
        self.0.wait_closed()
    }
}
