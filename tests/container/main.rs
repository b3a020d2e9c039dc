//! Container tests: creation from every address type, agents, connect and
//! `validate_aid`, connection caching, shutdown — the same scenarios on
//! local queues, TCP and Unix sockets — and interoperability with the real
//! aiomas 2.0.1 over TCP.

mod addresses;
mod aiomas;
mod clock;
mod robust;
mod scenarios;
mod support;

use support::Backend;

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[tokio::test]
            async fn local() {
                support::run($name(Backend::local())).await;
            }

            #[tokio::test]
            async fn tcp() {
                support::run($name(Backend::Tcp)).await;
            }

            #[tokio::test]
            async fn unix() {
                support::run($name(Backend::unix())).await;
            }
        }
    )*};
}

use robust::*;
use scenarios::*;

on_every_backend!(
    shutdown_with_a_peer_that_does_not_read,
    connect_after_restarts,
    agents_and_urls,
    connect_and_call,
    missing_agent,
    one_connection_per_container,
    agents_call_each_other,
    shutdown_fails_calls_in_flight,
    shutdown_of_the_caller,
    connect_retries_until_the_container_exists,
);

#[test]
fn handles_are_send_and_sync() {
    fn is<T: Send + Sync + 'static>() {}
    is::<agentwire::Container>();
    is::<agentwire::ContainerError>();
    is::<agentwire::container::AgentInfo>();
}
