//! Container tests: creation from every address type, agents, connect and
//! `validate_aid`, connection caching, shutdown — the same scenarios on
//! local queues, TCP, Unix sockets, (mutual) TLS and a backend defined in
//! the tests — containers on different backends, TLS specifics, and
//! interoperability with the real aiomas 2.0.1 over TCP.

mod addresses;
mod aiomas;
mod clock;
mod mixed;
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
                support::run(scenarios::$name(Backend::local())).await;
            }

            #[tokio::test]
            async fn tcp() {
                support::run(scenarios::$name(Backend::Tcp)).await;
            }

            #[tokio::test]
            async fn unix() {
                support::run(scenarios::$name(Backend::unix())).await;
            }

            #[tokio::test]
            async fn tls() {
                support::run(scenarios::$name(Backend::Tls)).await;
            }

            #[tokio::test]
            async fn wrapped() {
                support::run(scenarios::$name(Backend::wrapped())).await;
            }
        }
    )*};
}

on_every_backend!(
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
