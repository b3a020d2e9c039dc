//! Connecting with aiomas's retry semantics.

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use transport_api::{Address, Protocol};

use super::shared::Shared;
use super::{ChannelError, ChannelOptions, Codec, Result};

/// Whether an attempt that failed with `err` may be retried: the server is
/// not up yet (refused) or its socket file does not exist yet.
pub(crate) fn retryable(err: &transport_api::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
    )
}

/// The retry schedule of one connect: refused attempts are retried until
/// the connect timeout runs out (0: one attempt; `None`: forever), with
/// pauses growing by 1.5x from the first retry interval up to the longest,
/// and one last attempt right at the deadline.
///
/// The attempts themselves are the caller's, so that a caller can make
/// each one under a lock and pause outside it (the container's connect
/// cache does).
pub(crate) struct Retry {
    start: Instant,
    timeout: Option<Duration>,
    interval: Duration,
    max_interval: Duration,
}

impl Retry {
    /// The schedule of a connect beginning now, retrying for `timeout`
    /// with `options`' retry intervals (`connect_timeout` is not read: a
    /// caller may give its own).
    pub(crate) fn new<C: Codec>(timeout: Option<Duration>, options: &ChannelOptions<C>) -> Self {
        let (interval, max_interval) = options.get_retry_interval();
        Retry {
            start: Instant::now(),
            timeout,
            interval,
            max_interval,
        }
    }

    /// After an attempt to connect to `addr` failed with `err`: how long to
    /// pause before the next one, or the error to give up with (`err` if it
    /// is not worth retrying or no retry was asked for, else
    /// [`ChannelError::ConnectTimeout`] once the timeout ran out).
    pub(crate) fn pause(
        &mut self,
        addr: &dyn Display,
        err: Arc<transport_api::Error>,
    ) -> Result<Duration> {
        if !retryable(&err) {
            return Err(ChannelError::Transport(err));
        }
        let elapsed = self.start.elapsed();
        let pause = match self.timeout {
            None => self.interval,
            Some(t) if t.is_zero() => return Err(ChannelError::Transport(err)),
            Some(t) if elapsed >= t => {
                return Err(ChannelError::ConnectTimeout {
                    addr: addr.to_string(),
                    timeout: t,
                    source: err,
                })
            }
            Some(t) => self.interval.min(t - elapsed),
        };
        self.interval = next_interval(self.interval, self.max_interval);
        Ok(pause)
    }
}

/// Connects a protocol made by `make` to `addr`, retrying as `options`
/// say (see [`Retry`]). Returns the connected channel state.
pub(crate) async fn connect_with_retry<A, C, P>(
    addr: &A,
    options: &ChannelOptions<C>,
    make: impl Fn(Arc<Shared<C>>) -> P,
) -> Result<Arc<Shared<C>>>
where
    A: Address,
    C: Codec,
    P: Protocol,
{
    let mut retry = Retry::new(options.get_connect_timeout(), options);
    loop {
        let shared = Arc::new(Shared::new(options));
        match addr.create_connection(make(Arc::clone(&shared))).await {
            Ok((transport, _protocol)) => {
                // Backends call `connection_made` before returning; if one
                // did not, use the transport it returned.
                if !shared.has_transport() {
                    shared.set_transport(Arc::new(transport));
                }
                return Ok(shared);
            }
            Err(err) => {
                let pause = retry.pause(addr, Arc::new(err))?;
                tokio::time::sleep(pause).await;
            }
        }
    }
}

fn next_interval(interval: Duration, max: Duration) -> Duration {
    // 1.5 times, saturating (`mul_f64` panics past `Duration::MAX`).
    interval
        .saturating_add(interval / 2)
        .min(max)
        .max(Duration::from_millis(1))
}
