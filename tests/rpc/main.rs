//! RPC tests: routing, errors, concurrency and calls both ways, on local
//! queues, TCP and Unix sockets; aiomas's wire format; handlers that end
//! their own connection and recursion over one connection (`reentrancy`);
//! seeded interleavings of all of these on one connection (`interleave`).

mod departed;
mod hostile;
mod interleave;
mod limits;
mod reentrancy;
mod scenarios;
mod support;
mod wire;

/// The scenarios of every backend, MQTT included (`$on`: `on_every_backend`
/// or `on_mqtt`).
macro_rules! everywhere {
    ($on:ident) => {
        $on!(
            scenarios::routing,
            scenarios::remote_errors_keep_the_connection,
            scenarios::keyword_arguments,
            scenarios::many_concurrent_calls,
            scenarios::calls_both_ways,
            scenarios::bincode_codec,
            limits::ten_thousand_concurrent_calls,
            limits::flood_without_reading,
            limits::dropped_calls_are_forgotten,
            limits::panicking_handlers,
            limits::callbacks_at_the_limit,
            limits::hanging_handlers_end_with_the_connection,
            limits::oversized_error_text_is_shortened,
            hostile::readable_bincode_errors,
            hostile::deep_nesting,
            hostile::deep_bincode_recursion,
            hostile::long_unknown_paths_are_not_echoed,
            reentrancy::server_handlers_end_their_own_connection,
            reentrancy::client_handlers_end_their_own_connection,
            reentrancy::recursion_over_one_connection,
            reentrancy::panicking_on_connection,
            reentrancy::dropping_the_last_handle_fails_the_peers_calls,
        );
    };
}

everywhere!(on_every_backend);
// Not through the broker: 3,000 nested round trips, each of which can wait
// for one of rumqttd's delayed ACKs.
on_every_backend!(reentrancy::recursion_deeper_than_the_default_window);

/// A flooder that aborts, where a peer that reads nothing can see an
/// abort: not on Unix sockets, whose abort is a close, and a close keeps
/// what was sent for when reading resumes (`tests/tcp/raw.rs`).
mod a_flooder_that_leaves_is_noticed {
    use super::*;

    #[tokio::test]
    async fn local() {
        support::run(departed::a_flooder_that_leaves_is_noticed(support::local())).await;
    }

    #[tokio::test]
    async fn tcp() {
        support::run(departed::a_flooder_that_leaves_is_noticed(support::tcp())).await;
    }

    #[tokio::test]
    async fn tls() {
        support::run(departed::a_flooder_that_leaves_is_noticed(support::tls())).await;
    }

    #[tokio::test]
    async fn mqtt() {
        support::run(departed::a_flooder_that_leaves_is_noticed(support::mqtt())).await;
    }

    /// On a Unix socket the flooder's abort is a close.
    #[tokio::test]
    async fn unix_closes() {
        let dir = support::TempDir::new();
        support::run(departed::a_flooder_that_closes_keeps_its_handlers_until_closed(dir.sock()))
            .await;
    }
}

/// The same through an MQTT broker (the embedded rumqttd): the connection's
/// bytes cross the broker as messages of their own.
mod mqtt {
    use super::*;

    everywhere!(on_mqtt);
}

/// A frame claiming 2^64 zero-sized elements, on a runtime of its own: a
/// decoder that loops over them freezes one worker, and the deadline fails
/// the test instead of hanging it (the runtime is left behind, not joined).
mod zero_sized_element_flood {
    use super::*;

    fn run_bounded<F: std::future::Future<Output = ()>>(scenario: F) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let done = rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(30), scenario).await
        });
        rt.shutdown_background();
        done.expect("scenario timed out");
    }

    #[test]
    fn local() {
        run_bounded(hostile::zero_sized_element_flood(support::local()));
    }

    #[test]
    fn tcp() {
        run_bounded(hostile::zero_sized_element_flood(support::tcp()));
    }

    #[test]
    fn unix() {
        let dir = support::TempDir::new();
        run_bounded(hostile::zero_sized_element_flood(dir.sock()));
    }
}

#[test]
fn handles_are_send_and_sync() {
    fn is<T: Send + Sync + 'static>() {}
    is::<agentwire::rpc::Connection>();
    is::<agentwire::rpc::Proxy>();
    is::<agentwire::rpc::Router>();
    is::<agentwire::rpc::RpcError>();
}

/// The bounds under true concurrency: the same scenarios on a multi-thread
/// runtime (callers, drivers and serving loops on different threads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_on_a_multi_thread_runtime() {
    support::run(limits::ten_thousand_concurrent_calls(support::local())).await;
    support::run(limits::ten_thousand_concurrent_calls(support::tcp())).await;
    support::run(limits::callbacks_at_the_limit(support::local())).await;
    support::run(limits::callbacks_at_the_limit(support::tcp())).await;
    support::run(limits::dropped_calls_are_forgotten(support::tcp())).await;
    support::run(limits::panicking_handlers(support::local())).await;
    support::run(limits::flood_without_reading(support::tcp())).await;
}

/// Handlers that end their own connection, with the handler and the
/// connection's driver on different threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reentrancy_on_a_multi_thread_runtime() {
    for _ in 0..5 {
        support::run(reentrancy::server_handlers_end_their_own_connection(
            support::local(),
        ))
        .await;
        support::run(reentrancy::server_handlers_end_their_own_connection(
            support::tcp(),
        ))
        .await;
        support::run(reentrancy::client_handlers_end_their_own_connection(
            support::local(),
        ))
        .await;
        support::run(reentrancy::client_handlers_end_their_own_connection(
            support::tcp(),
        ))
        .await;
    }
    support::run(reentrancy::recursion_over_one_connection(support::local())).await;
    support::run(reentrancy::recursion_over_one_connection(support::tcp())).await;
}

/// Seeded interleavings of calls both ways, dropped calls, failing and
/// hanging handlers and the connection's end (`interleave`), per backend;
/// `RPC_INTERLEAVE_SEEDS=a..b` runs other seeds.
mod seeded_interleavings {
    use super::*;

    #[tokio::test]
    async fn local() {
        interleave::run_seeds(support::local).await;
    }

    #[tokio::test]
    async fn tcp() {
        interleave::run_seeds(support::tcp).await;
    }

    #[tokio::test]
    async fn tls() {
        interleave::run_seeds(support::tls).await;
    }

    #[tokio::test]
    async fn unix() {
        let dir = support::TempDir::new();
        let mut n = 0;
        interleave::run_seeds(|| {
            n += 1;
            transport_tcp::UnixAddr::new(dir.path().join(format!("s{n}.sock")))
                .expect("valid unix address")
        })
        .await;
    }

    /// Callers, drivers and handlers on different threads.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tcp_multi_thread() {
        interleave::run_seeds(support::tcp).await;
    }
}
