//! The kit's attacks by name: the [`stress`](super::stress) and
//! [`hostile`](super::hostile) scenarios that want a multi-thread runtime
//! (several tasks on one transport, protocols that end, panic or block in
//! their callbacks), each under a deadline, so a backend gets all of them
//! from [`run_attacks`] or [`attack_tests!`](crate::attack_tests).

use std::time::Duration;

use super::hostile::{self, OnData, PanicIn};
use super::{boxed, run_each, stress, Backend, Failure, Outcome};

/// The names of all attacks, in the order [`run_attacks`] runs them.
pub const ATTACKS: &[&str] = &[
    "shared_transport_left_open",
    "shared_transport_closed",
    "shared_transport_aborted",
    "shared_transport_half_closed",
    "many_tasks_wait_writable",
    "close_from_data_received",
    "abort_from_data_received",
    "drop_transport_from_data_received",
    "write_64_mib_then_close_from_data_received",
    "panic_in_server_connection_made",
    "panic_in_server_connection_lost",
    "panic_in_factory",
    "panic_in_client_connection_made",
    "blocking_callback",
    "stream_abuse",
];

/// How long one attack may take before it counts as hung.
pub const ATTACK_DEADLINE: Duration = Duration::from_secs(60);

/// Eight tasks share one transport, ending it as `seed % 4` says; two
/// seeds each.
async fn shared<B: Backend>(backend: &B, seed: u64) -> Outcome {
    for seed in [seed, seed + 4] {
        stress::shared_transport(backend, seed)
            .await
            .map_err(|f| Failure::new(format!("seed {seed}: {}", f.message)))?;
    }
    Ok(())
}

/// Runs the attack called `name` (one of [`ATTACKS`]) under
/// [`ATTACK_DEADLINE`]. Needs a multi-thread runtime.
///
/// # Errors
///
/// The attack's [`Failure`], one for a hang, or one for an unknown name.
pub async fn run_attack<B: Backend>(backend: &B, name: &'static str) -> Outcome {
    let attack = async {
        match name {
            "shared_transport_left_open" => boxed(shared(backend, 0)).await,
            "shared_transport_closed" => boxed(shared(backend, 1)).await,
            "shared_transport_aborted" => boxed(shared(backend, 2)).await,
            "shared_transport_half_closed" => boxed(shared(backend, 3)).await,
            "many_tasks_wait_writable" => boxed(stress::many_tasks_wait_writable(backend)).await,
            "close_from_data_received" => {
                boxed(hostile::end_from_data_received(backend, OnData::Close)).await
            }
            "abort_from_data_received" => {
                boxed(hostile::end_from_data_received(backend, OnData::Abort)).await
            }
            "drop_transport_from_data_received" => {
                boxed(hostile::end_from_data_received(
                    backend,
                    OnData::DropTransport,
                ))
                .await
            }
            "write_64_mib_then_close_from_data_received" => {
                boxed(hostile::end_from_data_received(backend, OnData::Write64MiB)).await
            }
            "panic_in_server_connection_made" => {
                boxed(hostile::panicking_protocol(backend, PanicIn::ServerMade)).await
            }
            "panic_in_server_connection_lost" => {
                boxed(hostile::panicking_protocol(backend, PanicIn::ServerLost)).await
            }
            "panic_in_factory" => {
                boxed(hostile::panicking_protocol(backend, PanicIn::Factory)).await
            }
            "panic_in_client_connection_made" => {
                boxed(hostile::panicking_protocol(backend, PanicIn::ClientMade)).await
            }
            "blocking_callback" => boxed(hostile::blocking_callback(backend)).await,
            "stream_abuse" => boxed(hostile::stream_abuse(backend)).await,
            _ => Err(Failure::new(format!("no attack called {name:?}"))),
        }
    };
    let outcome = tokio::time::timeout(ATTACK_DEADLINE, attack)
        .await
        .unwrap_or_else(|_| Err(Failure::new(format!("hung for {ATTACK_DEADLINE:?}"))));
    outcome.map_err(|mut f| {
        f.scenario = name;
        f
    })
}

/// Runs every attack and returns all failures. Needs a multi-thread
/// runtime.
///
/// # Errors
///
/// The failures, one per failed attack.
pub async fn run_attacks<B: Backend>(backend: &B) -> Result<(), Vec<Failure>> {
    run_each(ATTACKS, |name| run_attack(backend, name)).await
}

/// Expands to one multi-thread `#[tokio::test]` (four workers) per attack
/// of [`ATTACKS`], each running it against the backend that `$backend`
/// evaluates to. Needs `tokio` (with `macros`, `rt-multi-thread` and
/// `time`) in the calling crate.
#[macro_export]
macro_rules! attack_tests {
    ($backend:expr) => {
        $crate::attack_tests!(@each $backend;
            shared_transport_left_open, shared_transport_closed, shared_transport_aborted,
            shared_transport_half_closed, many_tasks_wait_writable, close_from_data_received,
            abort_from_data_received, drop_transport_from_data_received,
            write_64_mib_then_close_from_data_received, panic_in_server_connection_made,
            panic_in_server_connection_lost, panic_in_factory, panic_in_client_connection_made,
            blocking_callback, stream_abuse);
    };
    (@each $backend:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let backend = $backend;
                if let Err(failure) =
                    $crate::conformance::run_attack(&backend, stringify!($name)).await
                {
                    panic!("{failure}");
                }
            }
        )*
    };
}
