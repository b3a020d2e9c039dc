//! A fourth attack pass, from the side of real aiomas 2.0.1 clients
//! (tests/aiomas/driven.py, driven line by line) and of restarts: floods of
//! concurrent calls, clients that vanish with calls pending, calls during
//! shutdown, containers restarted under a connected client, a Python
//! container restarted under a Rust one's cached connection.

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use agentwire::channel::{Codec, Json, MsgPack};
use agentwire::rpc::Router;
use agentwire::{Container, ContainerOptions};
use tokio::sync::Notify;

use crate::support::aiomas::{self, free_port, Kill};

mod floods;
mod frames;
mod restarts;
mod shutdown;

/// A `driven.py` process: commands go to its stdin, one answer line each.
struct Driven {
    stdin: Option<ChildStdin>,
    lines: Option<mpsc::Receiver<String>>,
    child: Kill,
}

impl Driven {
    async fn start(codec: &str) -> Driven {
        aiomas::venv().await;
        let mut child = Command::new(aiomas::python())
            .current_dir(aiomas::fixtures_dir())
            .args(["driven.py", codec])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python starts");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Driven {
            stdin,
            lines: Some(rx),
            child: Kill(child),
        }
    }

    /// Sends `line` and returns the answer (a hang guard of 60 s).
    async fn cmd(&mut self, line: &str) -> String {
        self.send(line);
        self.answer(line).await
    }

    /// Sends `line`; [`answer`](Self::answer) waits for the answer.
    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("running");
        writeln!(stdin, "{line}").expect("write to python");
        stdin.flush().expect("flush");
    }

    /// The answer to the command `line` sent before (60 s hang guard).
    async fn answer(&mut self, line: &str) -> String {
        let rx = self.lines.take().expect("one command at a time");
        let (rx, answer) = tokio::task::spawn_blocking(move || {
            let answer = rx.recv_timeout(Duration::from_secs(60));
            (rx, answer)
        })
        .await
        .expect("reader");
        self.lines = Some(rx);
        answer.unwrap_or_else(|e| panic!("no answer to {line:?}: {e}"))
    }

    /// Ends the process at once (its sockets are closed by the kernel).
    fn exit(mut self) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = writeln!(stdin, "exit");
            let _ = stdin.flush();
        }
        let _ = self.child.0.wait();
    }
}

/// `host port` of a `tcp://host:port` container URL.
fn host_port(url: &str) -> String {
    let rest = url.strip_prefix("tcp://").expect("a tcp URL");
    let (host, port) = rest.rsplit_once(':').expect("host:port");
    format!("{host} {port}")
}

/// Counts handlers that are running: `started` goes up as each starts, and
/// `live` is the number not yet ended (dropped or finished).
#[derive(Default)]
struct Gauge {
    started: AtomicUsize,
    live: AtomicUsize,
    changed: Notify,
}

impl Gauge {
    fn enter(self: &Arc<Self>) -> Entered {
        self.started.fetch_add(1, Ordering::SeqCst);
        self.live.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
        Entered(Arc::clone(self))
    }

    /// Waits until `f(started, live)` holds (60 s hang guard).
    async fn until(&self, what: &str, f: impl Fn(usize, usize) -> bool) {
        let wait = async {
            loop {
                let notified = self.changed.notified();
                if f(
                    self.started.load(Ordering::SeqCst),
                    self.live.load(Ordering::SeqCst),
                ) {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), wait)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{what}: started {}, live {}",
                    self.started.load(Ordering::SeqCst),
                    self.live.load(Ordering::SeqCst)
                )
            });
    }
}

struct Entered(Arc<Gauge>);

impl Drop for Entered {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

/// `add(a, b)`, `slow(a, b)` (the same after a few trips through the
/// runtime, so it waits in the serving loop), `later(n)` (`n`, the same
/// way), `len(s)` and `hold(n)`, which never
/// returns (counted by `gauge`).
fn agent<C: Codec>(gauge: &Arc<Gauge>) -> Router<C> {
    let gauge = Arc::clone(gauge);
    Router::new()
        .method("add", |(a, b): (i64, i64)| async move {
            Ok::<_, Infallible>(a + b)
        })
        .method("slow", |(a, b): (i64, i64)| async move {
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            Ok::<_, Infallible>(a + b)
        })
        .method("len", |(s,): (String,)| async move {
            Ok::<_, Infallible>(s.len())
        })
        .method("later", |(n,): (i64,)| async move {
            tokio::task::yield_now().await;
            Ok::<_, Infallible>(n)
        })
        .method("hold", move |(_n,): (i64,)| {
            let entered = gauge.enter();
            async move {
                std::future::pending::<()>().await;
                drop(entered);
                Ok::<_, Infallible>(())
            }
        })
}

/// Limits small enough that 2,000 calls queue, hold back and pause reading.
fn tight<C: Codec>(options: ContainerOptions<C>) -> ContainerOptions<C> {
    let channel = options
        .get_channel_options()
        .clone()
        .max_concurrent_requests(8)
        .max_queued_requests(16);
    options.channel_options(channel)
}

/// A container with the `Stress` agent, on a free port below the
/// ephemeral range: after its shutdown, a connect to a port picked with
/// port 0 may reach another test's listener that the system gave the same
/// port (or, rarely, connect to itself), and `open` then succeeds where
/// the tests expect a refusal.
async fn container<C: Codec>(codec: C, gauge: &Arc<Gauge>) -> Container<C> {
    let c = Container::create_with(
        ("127.0.0.1", free_port()),
        tight(ContainerOptions::new().codec(codec)),
    )
    .await
    .expect("container");
    c.register("Stress", agent::<C>(gauge)).expect("register");
    c
}

/// Starts `codec_peer.py serve` on `port`; its agent's URL.
async fn python_container(codec: &str, port: u16) -> (Kill, String) {
    aiomas::venv().await;
    let mut child = aiomas::script(
        "codec_peer.py",
        &["serve", codec, "127.0.0.1", &port.to_string()],
    );
    let rx = aiomas::lines(&mut child);
    let url = aiomas::ready_url(rx, "codec_peer.py").await;
    (child, url)
}

/// A raw TCP peer speaking frames.
struct Raw(tokio::net::TcpStream);

impl Raw {
    async fn connect(url: &str) -> Raw {
        let addr = url.strip_prefix("tcp://").expect("a tcp URL");
        Raw(tokio::net::TcpStream::connect(addr)
            .await
            .expect("raw peer connects"))
    }

    async fn send(&mut self, payload: &[u8]) {
        use tokio::io::AsyncWriteExt;
        let mut frame = u32::try_from(payload.len())
            .expect("fits")
            .to_be_bytes()
            .to_vec();
        frame.extend_from_slice(payload);
        self.0.write_all(&frame).await.expect("raw write");
    }

    /// The next frame's payload, or `None` once the container closed the
    /// connection (a hang guard of 20 s).
    async fn recv(&mut self) -> Option<Vec<u8>> {
        use tokio::io::AsyncReadExt;
        let read = async {
            let mut header = [0u8; 4];
            self.0.read_exact(&mut header).await.ok()?;
            let mut payload = vec![0u8; u32::from_be_bytes(header) as usize];
            self.0.read_exact(&mut payload).await.ok()?;
            Some(payload)
        };
        tokio::time::timeout(Duration::from_secs(20), read)
            .await
            .expect("an answer or a close")
    }
}

/// MessagePack for `[0, id, [path-bytes as str, [1, 2], {}]]`, the path
/// written as a str of raw (maybe not UTF-8) bytes.
fn msgpack_request(id: u8, path: &[u8]) -> Vec<u8> {
    let mut out = vec![
        0x93,
        0x00,
        id,
        0x93,
        0xd9,
        u8::try_from(path.len()).expect("short"),
    ];
    out.extend_from_slice(path);
    out.extend_from_slice(&[0x92, 0x01, 0x02, 0x80]);
    out
}
