//! Connecting with aiomas's retry semantics.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use transport_api::{Address, Protocol};

use super::shared::Shared;
use super::{ChannelError, ChannelOptions, Codec, Result};

/// Whether an attempt that failed with `err` may be retried: the server is
/// not up yet (refused) or its socket file does not exist yet.
fn retryable(err: &transport_api::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
    )
}

/// Connects a protocol made by `make` to `addr`, retrying refused attempts
/// until `options`' connect timeout runs out (0: one attempt; `None`:
/// forever), with pauses growing by 1.5x from the first retry interval up to
/// the longest. Returns the connected channel state.
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
    let timeout = options.get_connect_timeout();
    let start = Instant::now();
    let (mut interval, max_interval) = options.get_retry_interval();
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
            Err(err) if retryable(&err) => {
                let elapsed = start.elapsed();
                let pause = match timeout {
                    None => interval,
                    Some(t) if elapsed >= t => {
                        return Err(if t.is_zero() {
                            ChannelError::from(err)
                        } else {
                            ChannelError::ConnectTimeout {
                                addr: addr.to_string(),
                                timeout: t,
                                source: Arc::new(err),
                            }
                        });
                    }
                    // One last attempt right at the deadline.
                    Some(t) => interval.min(t - elapsed),
                };
                tokio::time::sleep(pause).await;
                interval = next_interval(interval, max_interval);
            }
            Err(err) => return Err(err.into()),
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
