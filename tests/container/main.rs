//! Container tests: creation from every address type, agents, connect and
//! `validate_aid`, connection caching, shutdown — the same scenarios on
//! local queues, TCP, Unix sockets, (mutual) TLS and a backend defined in
//! the tests — containers on different backends, TLS specifics, and
//! interoperability with the real aiomas 2.0.1 over TCP.

mod addresses;
mod aiomas;
mod clock;
mod mixed;
mod robust;
mod scenarios;
mod support;
mod tls;

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

            #[tokio::test]
            async fn tls() {
                support::run($name(Backend::Tls)).await;
            }

            #[tokio::test]
            async fn wrapped() {
                support::run($name(Backend::wrapped())).await;
            }
        }
    )*};
}

use robust::*;
use scenarios::*;

/// A scenario on local queues, TCP and Unix sockets only (it talks to the
/// container through a raw transport of that backend).
macro_rules! on_local_and_sockets {
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

on_local_and_sockets!(shutdown_with_a_peer_that_does_not_read);

on_every_backend!(
    connect_after_restarts,
    agents_calling_back_at_the_limit,
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
