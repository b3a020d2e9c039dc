//! The chaos agents (a typed `Worker` that answers at once, naps, panics or
//! relays a call to another container, one per codec, and an untyped
//! `Calc`), a count of their running handlers, and a panic hook that tells
//! planned panics from the others.

use std::cell::RefCell;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::time::Duration;

use agentwire::channel::{Bincode, Codec, Json, MsgPack};
use agentwire::rpc::Router;
use agentwire::{agent, Agent, AgentContext, Proxy};

/// The text of every planned panic; the hook keeps quiet about these.
pub const PLANNED: &str = "chaos: a planned panic";

/// Counts a handler while it runs (also when its future is dropped
/// half-way, as when its connection ends).
pub struct Alive(Arc<AtomicUsize>);

impl Alive {
    pub fn enter(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Alive(Arc::clone(count))
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A codec the chaos world runs with: its `Worker` (an `#[agent]` type
/// is not generic, and `call_back` takes a proxy of the connection's
/// codec, so there is one `Worker` type per codec, all the same code).
pub trait Wire: Codec {
    /// The codec's value.
    const CODEC: Self;
    /// The `Worker` of containers of this codec.
    type Worker: Agent;

    /// A `Worker` in the agent of `ctx`, counting its handlers in `alive`.
    fn worker(ctx: AgentContext<Self>, alive: Arc<AtomicUsize>) -> Self::Worker;
}

/// The `Worker` for containers of one codec: a typed agent whose `add`
/// answers at once, `nap` after a sleep, `boom` panics, `relay` calls
/// another container's agent from its own, `call_back` calls back the
/// agent it is given (and keeps a few of those), `quit` shuts its own
/// container down.
macro_rules! worker {
    ($name:ident, $codec:ident) => {
        #[doc = concat!("The chaos `Worker` of ", stringify!($codec), " containers.")]
        pub struct $name {
            ctx: AgentContext<$codec>,
            alive: Arc<AtomicUsize>,
            /// The last few proxies `call_back` was given.
            kept: Mutex<Vec<Proxy<$codec>>>,
        }

        impl Wire for $codec {
            const CODEC: Self = $codec;
            type Worker = $name;

            fn worker(ctx: AgentContext<$codec>, alive: Arc<AtomicUsize>) -> $name {
                $name {
                    ctx,
                    alive,
                    kept: Mutex::new(Vec::new()),
                }
            }
        }

        #[agent(name = "Worker")]
        impl $name {
            #[expose]
            async fn add(&self, a: i64, b: i64) -> i64 {
                let _alive = Alive::enter(&self.alive);
                a + b
            }

            #[expose]
            async fn nap(&self, ms: u64) -> u64 {
                let _alive = Alive::enter(&self.alive);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                ms
            }

            #[expose]
            async fn boom(&self) -> i64 {
                let _alive = Alive::enter(&self.alive);
                panic!("{PLANNED}");
            }

            /// Connects from this agent's container to `url` and calls
            /// `nap(ms)` there: a call to a third container, to itself, or
            /// back to the caller.
            #[expose]
            async fn relay(&self, url: String, ms: u64) -> Result<u64, String> {
                let _alive = Alive::enter(&self.alive);
                let proxy = self.ctx.connect(&url).await.map_err(|e| e.to_string())?;
                proxy
                    .call::<_, u64>("nap", (ms,))
                    .await
                    .map_err(|e| e.to_string())
            }

            /// Calls `caller` (a reference to the caller's agent, arriving
            /// as a proxy over this connection) back, and keeps it.
            #[expose]
            async fn call_back(&self, caller: Proxy<$codec>, ms: u64) -> Result<u64, String> {
                let _alive = Alive::enter(&self.alive);
                {
                    let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
                    if kept.len() >= 4 {
                        kept.remove(0);
                    }
                    kept.push(caller.clone());
                }
                caller
                    .call::<_, u64>("nap", (ms,))
                    .await
                    .map_err(|e| e.to_string())
            }

            /// Shuts its own container down from this handler; answers
            /// whether there was a container to shut down.
            #[expose]
            async fn quit(&self) -> bool {
                let _alive = Alive::enter(&self.alive);
                let Some(home) = self.ctx.container() else {
                    return false;
                };
                home.shutdown().await;
                true
            }
        }
    };
}

worker!(JsonWorker, Json);
worker!(BincodeWorker, Bincode);
worker!(MsgPackWorker, MsgPack);

/// The untyped `Calc` of support.rs for any codec: `add`, `echo` and
/// `fail`, with `echo` taking the integer the plans send (bincode cannot
/// decode a `serde_json::Value`, which support.rs's `echo` takes).
pub fn calc<C: Codec>() -> Router<C> {
    Router::new()
        .method("add", |(a, b): (i64, i64)| async move {
            Ok::<_, Infallible>(a + b)
        })
        .method("echo", |(v,): (i64,)| async move { Ok::<_, Infallible>(v) })
        .method("fail", |(msg,): (String,)| async move {
            Err::<(), _>(format!("ValueError: {msg}"))
        })
}

/// Where the panics of a chaos runtime's threads go.
pub type PanicSink = Arc<Mutex<Vec<String>>>;

thread_local! {
    /// Set on the threads of a chaos runtime (and on the test's own thread
    /// while it runs one): their unplanned panics are noted there.
    static SINK: RefCell<Option<PanicSink>> = const { RefCell::new(None) };
}

/// Notes this thread's unplanned panics in `sink` (`None`: no more).
pub fn watch_panics(sink: Option<PanicSink>) {
    install_hook();
    SINK.with(|s| *s.borrow_mut() = sink);
}

/// Chains a hook before the current one, once per process: planned panics
/// are not printed; other panics on a watched thread are noted (and
/// printed, by the hook before).
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("(not a string)");
            if text.contains(PLANNED) {
                return;
            }
            let _ = SINK.try_with(|s| {
                if let Some(sink) = &*s.borrow() {
                    let thread = std::thread::current();
                    let at = info.location().map(ToString::to_string);
                    sink.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(format!(
                            "thread {:?} panicked at {}: {text}",
                            thread.name().unwrap_or("?"),
                            at.as_deref().unwrap_or("?")
                        ));
                }
            });
            previous(info);
        }));
    });
}
