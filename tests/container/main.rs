//! Container tests: creation from every address type, agents, connect and
//! `validate_aid`, connection caching, shutdown — the same scenarios on
//! local queues, TCP, Unix sockets, (mutual) TLS and a backend defined in
//! the tests — containers on different backends, TLS specifics, and
//! interoperability with the real aiomas 2.0.1 over TCP (JSON; MsgPack and
//! NaN/Infinity in `codecs`), containers in two processes through an MQTT
//! broker, and real aiomas clients and restarts against containers
//! (`aiomas_hostile`); the real aiomas over TLS with its own SSL contexts
//! (`aiomas_tls`), dates at their edges both ways (`aiomas_dates`) and
//! proxies among three parties (`aiomas_three`); handlers that turn on
//! their own container (`reentrancy`), races on a multi-thread runtime
//! (`threads`), options and URLs at their extremes (`misuse`), many
//! interleavings of lifecycle steps drawn from seeds (`chaos`), and the
//! README's snippets (`readme`).

mod addresses;
mod aiomas;
mod aiomas_dates;
mod aiomas_hostile;
mod aiomas_three;
mod aiomas_tls;
mod chaos;
mod clock;
mod codecs;
mod misuse;
mod mixed;
mod mqtt;
mod races;
mod readme;
mod recursion;
mod reentrancy;
mod robust;
mod scenarios;
mod silent;
mod support;
mod threads;
mod tls;
mod url_props;

use support::Backend;

/// One scenario as a module with a test per backend.
macro_rules! scenario_on {
    ($name:ident: $($backend:ident => $make:expr),*) => {
        mod $name {
            use super::*;
            $(
                #[tokio::test]
                async fn $backend() {
                    support::run($name($make)).await;
                }
            )*
        }
    };
}

/// Scenarios on every backend.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {$(
        scenario_on!($name:
            local => Backend::local(),
            tcp => Backend::Tcp,
            unix => Backend::unix(),
            tls => Backend::Tls,
            wrapped => Backend::wrapped(),
            mqtt => Backend::mqtt());
    )*};
}

/// Scenarios on local queues, TCP and Unix sockets only (they talk to the
/// container through a raw transport of that backend).
macro_rules! on_local_and_sockets {
    ($($name:ident),* $(,)?) => {$(
        scenario_on!($name:
            local => Backend::local(),
            tcp => Backend::Tcp,
            unix => Backend::unix());
    )*};
}

/// Scenarios on local queues and TCP, each on a current-thread and on a
/// multi-thread runtime (four workers).
macro_rules! on_both_runtimes {
    ($($module:ident :: $name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[tokio::test(flavor = "current_thread")]
            async fn local() {
                support::run($module::$name(Backend::local())).await;
            }

            #[tokio::test(flavor = "current_thread")]
            async fn tcp() {
                support::run($module::$name(Backend::Tcp)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn local_threads() {
                support::run($module::$name(Backend::local())).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn tcp_threads() {
                support::run($module::$name(Backend::Tcp)).await;
            }
        }
    )*};
}

on_both_runtimes!(
    reentrancy::handler_shuts_down_its_own_container,
    reentrancy::handler_drops_the_last_container_handle,
    reentrancy::handlers_register_agents_while_called,
    reentrancy::recursion_deeper_than_the_limit,
    reentrancy::callback_shuts_down_the_caller,
    recursion::nested_deeper_and_wider_than_the_window,
    threads::shutdown_races_a_thousand_connects,
    threads::concurrent_first_connects_share_one_connection,
    threads::create_where_the_previous_container_shuts_down,
    threads::proxies_after_their_container_is_gone,
    threads::connects_given_up_at_any_point,
    threads::last_handle_dropped_during_calls,
);

/// The same on local queues only (a peer that never reads is slow to
/// close there with a few bytes), on both runtimes.
mod handler_shutdown_returns_despite_a_slow_peer {
    use super::*;
    use transport_local::LocalNetwork;

    #[tokio::test(flavor = "current_thread")]
    async fn local() {
        let scenario = reentrancy::handler_shutdown_returns_despite_a_slow_peer;
        support::run(scenario(LocalNetwork::new())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn local_threads() {
        let scenario = reentrancy::handler_shutdown_returns_despite_a_slow_peer;
        support::run(scenario(LocalNetwork::new())).await;
    }
}

mod a_shutdown_given_up_on_is_finished_by_the_next {
    use super::*;
    use transport_local::LocalNetwork;

    #[tokio::test(flavor = "current_thread")]
    async fn local() {
        let scenario = threads::a_shutdown_given_up_on_is_finished_by_the_next;
        support::run(scenario(LocalNetwork::new())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn local_threads() {
        let scenario = threads::a_shutdown_given_up_on_is_finished_by_the_next;
        support::run(scenario(LocalNetwork::new())).await;
    }
}

use recursion::{a_peer_cannot_pass_for_the_container_itself, nested_beyond_the_window_elsewhere};
use robust::*;
use scenarios::*;

scenario_on!(nested_beyond_the_window_elsewhere:
    unix => Backend::unix(),
    tls => Backend::Tls,
    wrapped => Backend::wrapped(),
    mqtt => Backend::mqtt());

on_local_and_sockets!(
    shutdown_with_a_peer_that_does_not_read,
    shutdown_ends_a_connect_that_retries,
);

on_every_backend!(
    shutdown_storm,
    a_second_shutdown_waits_for_the_first,
    connects_under_way_end_with_shut_down,
    connect_after_restarts,
    dropped_container_stops_serving,
    agents_calling_back_at_the_limit,
    agents_and_urls,
    connect_and_call,
    missing_agent,
    one_connection_per_container,
    agents_call_each_other,
    shutdown_fails_calls_in_flight,
    shutdown_of_the_caller,
    connect_retries_until_the_container_exists,
    a_peer_cannot_pass_for_the_container_itself,
);

#[test]
fn handles_are_send_and_sync() {
    fn is<T: Send + Sync + 'static>() {}
    is::<agentwire::Container>();
    is::<agentwire::ContainerError>();
    is::<agentwire::container::AgentInfo>();
}

/// The same storm on a multi-thread runtime, a few times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_storm_on_a_multi_thread_runtime() {
    for _ in 0..5 {
        support::run(shutdown_storm(Backend::local())).await;
        support::run(shutdown_storm(Backend::Tcp)).await;
    }
}
