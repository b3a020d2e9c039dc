//! The conformance kit: generic scenarios that any backend runs against
//! itself, to show that it keeps the semantics the traits document.
//!
//! Implement [`Backend`] for your address type (how to get a fresh address, a
//! refused one, and the address clients use to reach a server), then either
//! call [`run_all`] from one test or expand
//! [`conformance_tests!`](crate::conformance_tests) for one `#[tokio::test]`
//! per scenario:
//!
//! ```ignore
//! struct MyBackend;
//! impl transport_api::conformance::Backend for MyBackend { /* … */ }
//! transport_api::conformance_tests!(MyBackend);
//! ```
//!
//! The last scenario, `integrity`, runs seeded random interleavings of
//! writes, pauses, half-closes, closes, aborts and dropped handles on both
//! ends of one connection ([`integrity::interleaving`] runs any one seed).
//!
//! Every scenario bounds its waits (see [`recorder::WAIT`]), so a backend that
//! misbehaves fails with a message instead of hanging. The scenarios need a
//! tokio runtime with time enabled (`#[tokio::test]` has it).
//!
//! Beyond [`SCENARIOS`], two modules hold attacks for a multi-thread runtime
//! (`#[tokio::test(flavor = "multi_thread")]`): [`stress`] (one transport
//! shared by many tasks) and [`hostile`] (protocols that misbehave in their
//! callbacks, the stream adapter used roughly). [`ATTACKS`] names them all;
//! [`run_attacks`] or [`attack_tests!`](crate::attack_tests) runs them,
//! each under a deadline:
//!
//! ```ignore
//! transport_api::attack_tests!(MyBackend);
//! ```

mod attacks;
mod basic;
mod closing;
mod flow;
pub mod hostile;
pub mod integrity;
pub mod recorder;
pub mod stress;

use std::fmt;
use std::future::Future;

use crate::{Address, Server};

pub use attacks::{run_attack, run_attacks, ATTACKS, ATTACK_DEADLINE};
pub use recorder::{Accepted, Event, Log, Recorder};

/// What the kit needs to know about a backend.
pub trait Backend: Send + Sync + 'static {
    /// The backend's address type.
    type Addr: Address;

    /// A fresh address that nothing serves yet; every call gives a new one
    /// (e.g. `tcp://127.0.0.1:0`, a new socket path, a new queue).
    fn fresh_addr(&self) -> Self::Addr;

    /// The address clients use to reach `server` (for port 0: the real port).
    fn client_addr(&self, server: &<Self::Addr as Address>::Server) -> Self::Addr;

    /// An address where a connection is refused (`ConnectionRefused`).
    fn refused_addr(&self) -> Self::Addr;

    /// Whether the peer of an aborted connection can tell the abort from a
    /// close while it reads nothing (a TCP reset does; see
    /// [`Transport::abort`](crate::Transport::abort)). Unix sockets cannot:
    /// their abort is a close, and the scenarios expect a close's
    /// behaviour there (the peer gets what was handed off, then the end).
    const ABORT_IS_SIGNALLED: bool = true;
}

/// How long a scenario keeps a connection paused to show that nothing is
/// lost meanwhile: longer than a backend's periodic look at a paused peer
/// (transport-tcp looks every 250 ms).
pub(crate) const PAUSED_LONG: std::time::Duration = std::time::Duration::from_millis(600);

/// A scenario that did not go as the traits promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The scenario, once known.
    pub scenario: &'static str,
    /// What went wrong.
    pub message: String,
}

impl Failure {
    /// A failure with a message; the runner fills in the scenario.
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            scenario: "",
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conformance scenario `{}` failed: {}",
            self.scenario, self.message
        )
    }
}

impl std::error::Error for Failure {}

/// The result of one scenario.
pub type Outcome = Result<(), Failure>;

/// Fails the scenario with a formatted message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err($crate::conformance::Failure::new(format!($($msg)+)));
        }
    };
}
pub(crate) use ensure;

/// Turns a transport error into a failure that names the step.
pub(crate) fn step<T>(what: &str, r: crate::Result<T>) -> Result<T, Failure> {
    r.map_err(|e| Failure::new(format!("{what}: {e}")))
}

/// The names of all scenarios, in the order [`run_all`] runs them.
pub const SCENARIOS: &[&str] = &[
    "echo",
    "concurrent_connections",
    "large_payload",
    "peer_info",
    "refused_connection",
    "close_flushes_then_lost_once",
    "abort",
    "eof",
    "write_after_close",
    "server_close_and_wait_closed",
    "dropped_transport_ends_peer",
    "pause_resume_bounded",
    "write_if_ready",
    "blocked_writer_released",
    "stream_adapter",
    "panic_in_connection_made",
    "close_while_peer_paused",
    "abort_while_peer_paused",
    "integrity",
];

/// Runs the scenario called `name` (one of [`SCENARIOS`]).
///
/// # Errors
///
/// The scenario's [`Failure`], or one for an unknown name.
pub async fn run_scenario<B: Backend>(backend: &B, name: &'static str) -> Outcome {
    let outcome = match name {
        "echo" => boxed(basic::echo(backend)).await,
        "concurrent_connections" => boxed(basic::concurrent_connections(backend)).await,
        "large_payload" => boxed(basic::large_payload(backend)).await,
        "peer_info" => boxed(basic::peer_info(backend)).await,
        "refused_connection" => boxed(basic::refused_connection(backend)).await,
        "close_flushes_then_lost_once" => boxed(closing::close_flushes(backend)).await,
        "abort" => boxed(closing::abort(backend)).await,
        "eof" => boxed(closing::eof(backend)).await,
        "write_after_close" => boxed(closing::write_after_close(backend)).await,
        "server_close_and_wait_closed" => boxed(closing::server_close(backend)).await,
        "dropped_transport_ends_peer" => boxed(closing::dropped_transport(backend)).await,
        "pause_resume_bounded" => boxed(flow::pause_resume(backend)).await,
        "write_if_ready" => boxed(flow::write_if_ready(backend)).await,
        "blocked_writer_released" => boxed(flow::blocked_writer_released(backend)).await,
        "stream_adapter" => boxed(flow::stream_adapter(backend)).await,
        "panic_in_connection_made" => boxed(hostile::panic_in_connection_made(backend)).await,
        "close_while_peer_paused" => boxed(hostile::close_while_peer_never_reads(backend)).await,
        "abort_while_peer_paused" => boxed(closing::abort_while_peer_paused(backend)).await,
        "integrity" => boxed(integrity::interleavings(backend)).await,
        _ => Err(Failure::new(format!("no scenario called {name:?}"))),
    };
    outcome.map_err(|mut f| {
        f.scenario = name;
        f
    })
}

/// Boxes a scenario future, so the match above stays small on the stack.
pub(crate) fn boxed<'a>(
    f: impl Future<Output = Outcome> + Send + 'a,
) -> std::pin::Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
    Box::pin(f)
}

/// Runs every scenario and returns all failures.
///
/// # Errors
///
/// The failures, one per failed scenario.
pub async fn run_all<B: Backend>(backend: &B) -> Result<(), Vec<Failure>> {
    run_each(SCENARIOS, |name| run_scenario(backend, name)).await
}

/// Runs `run` for each of `names`, one after another, and returns all
/// failures.
pub(crate) async fn run_each<F, Fut>(
    names: &'static [&'static str],
    mut run: F,
) -> Result<(), Vec<Failure>>
where
    F: FnMut(&'static str) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let mut failures = Vec::new();
    for name in names {
        if let Err(f) = run(name).await {
            failures.push(f);
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures)
    }
}

/// Starts a server with `accepted`'s factory on a fresh address and returns
/// it with the address clients use.
pub(crate) async fn serve<B: Backend>(
    backend: &B,
    accepted: &Accepted,
) -> Result<(<B::Addr as Address>::Server, B::Addr), Failure> {
    let server = step(
        "create_server",
        backend.fresh_addr().create_server(accepted.factory()).await,
    )?;
    ensure!(server.is_serving(), "a new server is not serving");
    let addr = backend.client_addr(&server);
    Ok((server, addr))
}

/// Connects a [`Recorder`] to `addr` and returns the transport and its log.
///
/// # Errors
///
/// A [`Failure`] naming the address when the connection fails.
pub async fn connect<A: Address>(addr: &A) -> Result<(A::Transport, Log), Failure> {
    let log = Log::new();
    let (transport, _) = step(
        &format!("create_connection to {addr}"),
        addr.create_connection(Recorder::new(&log)).await,
    )?;
    Ok((transport, log))
}

/// Closes `server` and waits (bounded) until its connections have finished.
pub(crate) async fn shut<S: Server>(server: &S) -> Outcome {
    server.close();
    ensure!(
        !server.is_serving(),
        "a closed server still says it is serving"
    );
    tokio::time::timeout(recorder::WAIT, server.wait_closed())
        .await
        .map_err(|_| Failure::new("wait_closed did not return after every connection closed"))
}

/// Expands to one `#[tokio::test]` per conformance scenario, each running it
/// against the backend that `$backend` evaluates to. Needs `tokio` (with
/// `macros`, `rt` and `time`) in the calling crate.
#[macro_export]
macro_rules! conformance_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@each $backend;
            echo, concurrent_connections, large_payload, peer_info, refused_connection,
            close_flushes_then_lost_once, abort, eof, write_after_close,
            server_close_and_wait_closed, dropped_transport_ends_peer,
            pause_resume_bounded, write_if_ready, blocked_writer_released, stream_adapter,
            panic_in_connection_made, close_while_peer_paused, abort_while_peer_paused,
            integrity);
    };
    (@each $backend:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "current_thread")]
            async fn $name() {
                let backend = $backend;
                if let Err(failure) =
                    $crate::conformance::run_scenario(&backend, stringify!($name)).await
                {
                    panic!("{failure}");
                }
            }
        )*
    };
}
