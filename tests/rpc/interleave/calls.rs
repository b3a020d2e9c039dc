//! The handlers of an interleaving (each future counted by a drop guard),
//! the calls to them and what each call may come back with.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentwire::channel::Json;
use agentwire::rpc::{Connection, Router, RpcError};

/// splitmix64: small, deterministic per seed.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// How many handler futures one end made and dropped.
#[derive(Default)]
pub(super) struct Handlers {
    pub(super) made: AtomicUsize,
    pub(super) dropped: AtomicUsize,
}

pub(super) struct Guard(Arc<Handlers>);

impl Guard {
    pub(super) fn new(h: &Arc<Handlers>) -> Self {
        h.made.fetch_add(1, Ordering::SeqCst);
        Guard(Arc::clone(h))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// Where an end's handlers find their own connection (cleared to drop it).
pub(super) type Me = Arc<Mutex<Option<Connection>>>;

/// Text of `len` bytes that depends on `tag`.
pub(super) fn text(tag: u64, len: usize) -> String {
    let mut s = format!("{tag}:");
    let mut c = b'a' + (tag % 26) as u8;
    while s.len() < len {
        s.push(c as char);
        c = if c == b'z' { b'a' } else { c + 1 };
    }
    s
}

/// `echo(tag, data)`, `sleep(tag, ms)`, `hang()`, `panic(tag)`,
/// `fail(tag)`, `back(tag)` (calls the peer's `echo(tag + 1, …)`),
/// `quit(abort)` (closes or aborts its own end of the connection).
pub(super) fn router(me: &Me, handlers: &Arc<Handlers>) -> Router<Json> {
    let h = || Arc::clone(handlers);
    let (h1, h2, h3, h4, h5, h6, h7) = (h(), h(), h(), h(), h(), h(), h());
    let quitter = Arc::clone(me);
    let me = Arc::clone(me);
    Router::new()
        .method("quit", move |(abort,): (bool,)| {
            let g = Guard::new(&h7);
            let me = quitter.lock().expect("unpoisoned").clone();
            async move {
                let _g = g;
                if let Some(me) = me {
                    if abort {
                        me.abort().await;
                    } else {
                        me.close().await;
                    }
                }
                Ok::<_, Infallible>(0u64)
            }
        })
        .method("echo", move |(tag, data): (u64, String)| {
            let g = Guard::new(&h1);
            async move {
                let _g = g;
                Ok::<_, Infallible>((tag, data))
            }
        })
        .method("sleep", move |(tag, ms): (u64, u64)| {
            let g = Guard::new(&h2);
            async move {
                let _g = g;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok::<_, Infallible>(tag)
            }
        })
        .method("hang", move |(): ()| {
            let g = Guard::new(&h3);
            async move {
                let _g = g;
                std::future::pending::<Result<u64, Infallible>>().await
            }
        })
        .method("panic", move |(tag,): (u64,)| {
            let g = Guard::new(&h4);
            async move {
                let _g = g;
                tokio::task::yield_now().await;
                if tag != u64::MAX {
                    panic!("boom {tag}");
                }
                Ok::<_, Infallible>(tag)
            }
        })
        .method("fail", move |(tag,): (u64,)| {
            let g = Guard::new(&h5);
            async move {
                let _g = g;
                Err::<u64, _>(format!("failed {tag}"))
            }
        })
        .method("back", move |(tag,): (u64,)| {
            let g = Guard::new(&h6);
            let me = me.lock().expect("unpoisoned").clone();
            async move {
                let _g = g;
                let Some(me) = me else {
                    return Err("no connection".to_owned());
                };
                let (t, d) = me
                    .call::<_, (u64, String)>("echo", (tag + 1, text(tag + 1, 10)))
                    .await
                    .map_err(|e| format!("nested call failed: {e}"))?;
                if t != tag + 1 || d != text(tag + 1, 10) {
                    return Err(format!("nested call got {t} {d:?}"));
                }
                Ok(tag)
            }
        })
}

/// What a call expects.
#[derive(Clone, Copy, Debug)]
pub(super) enum Call {
    Echo(usize),
    Sleep(u64),
    Hang,
    Panic,
    Fail,
    Back,
}

/// One end's calls' outcomes: `Err(text)` is a defect.
pub(super) type Outcome = Result<(), String>;

pub(super) async fn make_call(
    conn: Connection,
    call: Call,
    tag: u64,
    ended: Arc<AtomicBool>,
) -> Outcome {
    let conn_err = |e: &RpcError| {
        if e.is_connection() && ended.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(format!("call {tag} {call:?}: unexpected error {e}"))
        }
    };
    match call {
        Call::Echo(len) => {
            let data = text(tag, len);
            match conn.call::<_, (u64, String)>("echo", (tag, &data)).await {
                Ok((t, d)) if t == tag && d == data => Ok(()),
                Ok((t, d)) => Err(format!(
                    "call {tag} {call:?}: got tag {t} and {} bytes",
                    d.len()
                )),
                Err(e) => conn_err(&e),
            }
        }
        Call::Sleep(ms) => match conn.call::<_, u64>("sleep", (tag, ms)).await {
            Ok(t) if t == tag => Ok(()),
            Ok(t) => Err(format!("call {tag} {call:?}: got {t}")),
            Err(e) => conn_err(&e),
        },
        Call::Hang => match conn.call::<_, u64>("hang", ()).await {
            Ok(t) => Err(format!("call {tag} {call:?}: answered {t}")),
            Err(e) => conn_err(&e),
        },
        Call::Panic | Call::Fail => {
            let path = if matches!(call, Call::Panic) {
                "panic"
            } else {
                "fail"
            };
            let says = if matches!(call, Call::Panic) {
                format!("boom {tag}")
            } else {
                format!("failed {tag}")
            };
            match conn.call::<_, u64>(path, (tag,)).await {
                Ok(t) => Err(format!("call {tag} {call:?}: answered {t}")),
                Err(e) => match e.remote_message() {
                    Some(m) if m.contains(&says) => Ok(()),
                    Some(m) => Err(format!("call {tag} {call:?}: wrong error {m:?}")),
                    None => conn_err(&e),
                },
            }
        }
        Call::Back => match conn.call::<_, u64>("back", (tag,)).await {
            Ok(t) if t == tag => Ok(()),
            Ok(t) => Err(format!("call {tag} {call:?}: got {t}")),
            Err(e) => match e.remote_message() {
                // The nested call may fail with the connection once it
                // ends, and an end that drops every handle leaves a
                // handler without its connection.
                Some(m)
                    if (m.contains("nested call failed") || m.contains("no connection"))
                        && ended.load(Ordering::SeqCst) =>
                {
                    Ok(())
                }
                _ => conn_err(&e),
            },
        },
    }
}
