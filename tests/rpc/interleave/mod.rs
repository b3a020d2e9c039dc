//! A tenth attack pass: seeded interleavings on one RPC connection whose
//! both ends serve a router and call each other. Each seed picks options
//! (sometimes small limits) and a sequence of operations (calls of random
//! sizes to handlers that answer at once, after a sleep, never, with a
//! panic, with an error or by calling the other side back; calls dropped
//! at once or after a yield) and one end (close or abort from either side,
//! or dropping every client handle). Checks: every awaited call resolves
//! once, with its own value or a fitting error (a connection error only
//! once the end began); nothing hangs; after the end no handler runs, no
//! request is pending and every handler future was dropped.
//!
//! `RPC_INTERLEAVE_SEEDS=a..b` runs more seeds; a failure names its seed
//! and the operations, and the seed reproduces them.

mod calls;

use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agentwire::channel::{ChannelOptions, Json};
use agentwire::rpc::{self, Connection};
use futures_util::FutureExt;
use transport_api::{Address, Server};

use calls::{make_call, router, Call, Handlers, Me, Outcome, Rng};

/// The seeds from `RPC_INTERLEAVE_SEEDS` (`a..b`), else a handful.
fn seeds() -> std::ops::Range<u64> {
    let from_env = std::env::var("RPC_INTERLEAVE_SEEDS").ok().and_then(|s| {
        let (a, b) = s.split_once("..")?;
        Some(a.trim().parse().ok()?..b.trim().parse().ok()?)
    });
    from_env.unwrap_or(0..16)
}

/// Runs every seed on fresh addresses from `addr`.
pub async fn run_seeds<A, F>(mut addr: F)
where
    A: Address,
    A::Server: Server<Addr = A>,
    F: FnMut() -> A,
{
    for seed in seeds() {
        interleaving(addr(), seed).await;
    }
}

/// Awaits `fut` for at most 20 s, else fails naming the seed and the log.
async fn within<F: Future>(what: &str, seed: u64, log: &str, fut: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(20), fut).await {
        Ok(out) => out,
        Err(_) => panic!("seed {seed}: {what} hangs; operations:\n{log}"),
    }
}

/// Waits until `cond` holds (yielding and sleeping a little in between).
async fn until(what: &str, seed: u64, log: &str, cond: impl Fn() -> bool) {
    within(what, seed, log, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
}

/// One seed's interleaving.
#[allow(clippy::too_many_lines)]
async fn interleaving<A>(addr: A, seed: u64)
where
    A: Address,
    A::Server: Server<Addr = A>,
{
    let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xA77A_C410);
    let mut log = String::new();
    let small = rng.chance(40);
    let (concurrent, queued, pending) = if small {
        (
            1 + rng.below(4) as usize,
            1 + rng.below(8) as usize,
            1 + rng.below(8) as usize,
        )
    } else {
        (256, 1024, 1024)
    };
    let _ = writeln!(
        log,
        "options: concurrent {concurrent} queued {queued} pending {pending}"
    );
    let options = move || {
        ChannelOptions::new()
            .codec(Json)
            .max_concurrent_requests(concurrent)
            .max_queued_requests(queued)
            .max_pending_requests(pending)
    };

    let (server_me, client_me): (Me, Me) = Default::default();
    let (server_handlers, client_handlers) =
        (Arc::new(Handlers::default()), Arc::new(Handlers::default()));
    let on_conn = {
        let server_me = Arc::clone(&server_me);
        move |conn: Connection| {
            *server_me.lock().expect("unpoisoned") = Some(conn);
        }
    };
    let server = rpc::start_server(
        &addr,
        Arc::new(router(&server_me, &server_handlers)),
        options(),
        on_conn,
    )
    .await
    .expect("server starts");
    let conn = Connection::open(
        &server.addr(),
        Arc::new(router(&client_me, &client_handlers)),
        options(),
    )
    .await
    .expect("connects");
    *client_me.lock().expect("unpoisoned") = Some(conn.clone());
    let server_conn = within("the server's end", seed, &log, async {
        loop {
            if let Some(c) = server_me.lock().expect("unpoisoned").clone() {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;

    let ended = Arc::new(AtomicBool::new(false));
    let mut calls: Vec<(bool, tokio::task::JoinHandle<Outcome>)> = Vec::new();
    let mut may_stall = false;
    // Calls aborted after a yield: awaited (their futures dropped) before
    // counting pending requests.
    let mut aborted = Vec::new();
    let ops = 10 + rng.below(40);
    for tag in 0..ops {
        let tag = tag * 10;
        let from_server = rng.chance(50);
        let c = if from_server { &server_conn } else { &conn };
        let side = if from_server { "server" } else { "client" };
        let call = match rng.below(100) {
            0..=34 => {
                let len = if rng.chance(15) {
                    1 + rng.below(200_000) as usize
                } else {
                    1 + rng.below(100) as usize
                };
                Call::Echo(len)
            }
            35..=49 => Call::Sleep(rng.below(20)),
            50..=54 => Call::Hang,
            55..=62 => Call::Panic,
            63..=72 => Call::Fail,
            73..=84 => Call::Back,
            85..=92 => {
                // Dropped at once, after one poll.
                let _ = writeln!(log, "{side}: call {tag} dropped after one poll");
                let _ = c.call::<_, u64>("sleep", (tag, 5u64)).now_or_never();
                continue;
            }
            _ => {
                let _ = writeln!(log, "{side}: call {tag} aborted after a yield");
                let task = tokio::spawn(make_call(
                    c.clone(),
                    Call::Sleep(5),
                    tag,
                    Arc::clone(&ended),
                ));
                tokio::task::yield_now().await;
                task.abort();
                aborted.push(task);
                continue;
            }
        };
        if matches!(call, Call::Hang) || (small && matches!(call, Call::Back)) {
            // A hanging handler can hold the peer's only slot; nested
            // calls with a small window can fill it (documented).
            may_stall = true;
        }
        let _ = writeln!(log, "{side}: call {tag} {call:?}");
        calls.push((
            from_server,
            tokio::spawn(make_call(c.clone(), call, tag, Arc::clone(&ended))),
        ));
        if rng.chance(30) {
            tokio::task::yield_now().await;
        }
        if rng.chance(5) {
            tokio::time::sleep(Duration::from_millis(rng.below(5))).await;
        }
    }

    if !may_stall && rng.chance(50) {
        let _ = writeln!(log, "quiesce: every call answered before the end");
        for (_, call) in &mut calls {
            let out = within("a call before the end", seed, &log, call)
                .await
                .expect("call task");
            if let Err(e) = out {
                panic!("seed {seed}: {e}; operations:\n{log}");
            }
        }
        calls.clear();
        for task in aborted.drain(..) {
            let _ = within("an aborted call", seed, &log, task).await;
        }
        assert_eq!(conn.channel().pending_requests(), 0, "seed {seed}\n{log}");
        assert_eq!(
            server_conn.channel().pending_requests(),
            0,
            "seed {seed}\n{log}"
        );
    }

    let mut end = rng.below(7);
    if end >= 4 && may_stall {
        // With the peer stalled (its handler slots held by hanging
        // handlers, or its window by nested calls), a call to `quit` is
        // never taken; and a `back` handler holds a handle of its own end
        // while its nested call waits, which would keep the connection
        // open after every other handle is dropped (a cycle of the
        // handler's making: a handle cannot be weak). End from outside.
        end %= 4;
    }
    ended.store(true, Ordering::SeqCst);
    match end {
        0 => {
            let _ = writeln!(log, "end: client closes");
            within("client close", seed, &log, conn.close()).await;
        }
        1 => {
            let _ = writeln!(log, "end: server closes");
            within("server close", seed, &log, server_conn.close()).await;
        }
        2 => {
            let _ = writeln!(log, "end: client aborts");
            within("client abort", seed, &log, conn.abort()).await;
        }
        3 => {
            let _ = writeln!(log, "end: server aborts");
            within("server abort", seed, &log, server_conn.abort()).await;
        }
        5 | 6 => {
            // A handler ends its own end (the server's, or the client's
            // with an abort); its caller is answered or gets a
            // connection error.
            let abort = end == 6;
            let (caller, side) = if abort {
                (&server_conn, "client")
            } else {
                (&conn, "server")
            };
            let how = if abort { "aborts" } else { "closes" };
            let _ = writeln!(log, "end: a {side} handler {how} its end");
            let out = within(
                "a handler ending its connection",
                seed,
                &log,
                caller.call::<_, u64>("quit", (abort,)),
            )
            .await;
            match out {
                Ok(0) => {}
                Err(e) if e.is_connection() => {}
                other => panic!("seed {seed}: quit gave {other:?}; operations:\n{log}"),
            }
        }
        _ => {
            let _ = writeln!(log, "end: every client handle dropped");
            // The client's calls hold handles: they are dropped too.
            for (from_server, call) in &calls {
                if !*from_server {
                    call.abort();
                }
            }
            client_me.lock().expect("unpoisoned").take();
            drop(conn);
            within(
                "the server seeing the client go",
                seed,
                &log,
                server_conn.channel().closed(),
            )
            .await;
            for (from_server, call) in calls.drain(..) {
                let out = within("a call after the end", seed, &log, call).await;
                match out {
                    Ok(Err(e)) => panic!("seed {seed}: {e}; operations:\n{log}"),
                    Ok(Ok(())) => {}
                    Err(j) if j.is_cancelled() && !from_server => {}
                    Err(j) => panic!("seed {seed}: call task {j}; operations:\n{log}"),
                }
            }
            for task in aborted.drain(..) {
                let _ = within("an aborted call", seed, &log, task).await;
            }
            server_me.lock().expect("unpoisoned").take();
            until("the server's handlers end", seed, &log, || {
                server_conn.running_handlers() == 0
            })
            .await;
            assert_eq!(
                server_conn.channel().pending_requests(),
                0,
                "seed {seed}\n{log}"
            );
            until("every handler future dropped", seed, &log, || {
                [&server_handlers, &client_handlers]
                    .iter()
                    .all(|h| h.made.load(Ordering::SeqCst) == h.dropped.load(Ordering::SeqCst))
            })
            .await;
            drop(server_conn);
            server.close();
            return;
        }
    }
    for (_, call) in calls.drain(..) {
        let out = within("a call after the end", seed, &log, call)
            .await
            .expect("call task");
        if let Err(e) = out {
            panic!("seed {seed}: {e}; operations:\n{log}");
        }
    }
    for task in aborted.drain(..) {
        let _ = within("an aborted call", seed, &log, task).await;
    }
    // Calls after the end fail with a connection error at once.
    for c in [&conn, &server_conn] {
        let e = within(
            "a call after the end",
            seed,
            &log,
            c.call::<_, u64>("sleep", (1u64, 0u64)),
        )
        .await
        .expect_err("the connection ended");
        assert!(e.is_connection(), "seed {seed}: {e}\n{log}");
    }
    within(
        "the server's end closing",
        seed,
        &log,
        server_conn.channel().closed(),
    )
    .await;
    within(
        "the client's end closing",
        seed,
        &log,
        conn.channel().closed(),
    )
    .await;
    until("handlers end", seed, &log, || {
        conn.running_handlers() == 0 && server_conn.running_handlers() == 0
    })
    .await;
    assert_eq!(conn.channel().pending_requests(), 0, "seed {seed}\n{log}");
    assert_eq!(
        server_conn.channel().pending_requests(),
        0,
        "seed {seed}\n{log}"
    );
    server_me.lock().expect("unpoisoned").take();
    client_me.lock().expect("unpoisoned").take();
    until("every handler future dropped", seed, &log, || {
        [&server_handlers, &client_handlers]
            .iter()
            .all(|h| h.made.load(Ordering::SeqCst) == h.dropped.load(Ordering::SeqCst))
    })
    .await;
    server.close();
}
