//! [`ContainerError`]: why creating, registering or connecting failed.

use std::io;
use std::time::Duration;

use crate::rpc::RpcError;

/// Why a [`Container`](super::Container) operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    /// An address or agent URL could not be understood; `input` is what was
    /// given.
    #[error("invalid address {input:?}: {reason}")]
    InvalidAddress {
        /// The rejected input.
        input: String,
        /// Why.
        reason: String,
    },
    /// The container's server could not be started at `addr` (e.g. the
    /// address is in use).
    #[error("cannot start a container at {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The error.
        #[source]
        source: RpcError,
    },
    /// Connecting to an agent failed: the remote container could not be
    /// reached, or its `validate_aid` call failed.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The agent URL.
        url: String,
        /// The error.
        #[source]
        source: RpcError,
    },
    /// The remote container has no agent with that id (its `validate_aid`
    /// returned null).
    #[error("no agent {aid:?} at {url}")]
    AgentNotFound {
        /// The agent URL.
        url: String,
        /// The agent id.
        aid: String,
    },
    /// The remote container accepted the connection but did not answer
    /// `validate_aid` within the
    /// [`handshake_timeout`](super::ContainerOptions::handshake_timeout).
    #[error("no answer from {url} within {waited:?} (to validate_aid)")]
    NoAnswer {
        /// The agent URL.
        url: String,
        /// How long `connect` waited.
        waited: Duration,
    },
    /// The container was shut down.
    #[error("the container is shut down")]
    ShutDown,
}

impl ContainerError {
    /// The [`io::ErrorKind`] this error maps to: `InvalidInput` for a bad
    /// address, `NotFound` for a missing agent, `TimedOut` for no answer,
    /// `BrokenPipe` after shutdown,
    /// and the underlying error's kind otherwise (`AddrInUse`,
    /// `ConnectionRefused`, …).
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            ContainerError::InvalidAddress { .. } => io::ErrorKind::InvalidInput,
            ContainerError::Bind { source, .. } | ContainerError::Connect { source, .. } => {
                source.kind()
            }
            ContainerError::AgentNotFound { .. } => io::ErrorKind::NotFound,
            ContainerError::NoAnswer { .. } => io::ErrorKind::TimedOut,
            ContainerError::ShutDown => io::ErrorKind::BrokenPipe,
        }
    }

    pub(crate) fn invalid(input: &str, reason: impl Into<String>) -> Self {
        ContainerError::InvalidAddress {
            input: input.to_owned(),
            reason: reason.into(),
        }
    }
}

impl From<transport_api::Error> for ContainerError {
    /// Address errors keep their input and reason; anything else is taken as
    /// a bad address too (it only comes from parsing here).
    fn from(err: transport_api::Error) -> Self {
        match err {
            transport_api::Error::InvalidAddress { input, reason } => {
                ContainerError::InvalidAddress { input, reason }
            }
            other => ContainerError::InvalidAddress {
                input: String::new(),
                reason: other.to_string(),
            },
        }
    }
}

impl From<ContainerError> for io::Error {
    fn from(err: ContainerError) -> Self {
        io::Error::new(err.kind(), err)
    }
}
