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

/// A `driven.py` process: commands go to its stdin, one answer line each.
struct Driven {
    stdin: Option<ChildStdin>,
    lines: Option<mpsc::Receiver<String>>,
    child: Kill,
}

impl Driven {
    async fn start(codec: &str) -> Driven {
        tokio::task::spawn_blocking(aiomas::python)
            .await
            .expect("venv");
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

async fn container<C: Codec>(codec: C, gauge: &Arc<Gauge>) -> Container<C> {
    let c = Container::create_with(
        ("127.0.0.1", 0),
        tight(ContainerOptions::new().codec(codec)),
    )
    .await
    .expect("container");
    c.register("Stress", agent::<C>(gauge)).expect("register");
    c
}

/// 2,000 calls at once from one aiomas client (`asyncio.gather`), to a
/// method that answers at once and to one that waits, at a limit of 8
/// handlers and 16 queued requests: every call is answered.
async fn python_gathers_2000_calls<C: Codec>(codec: C, name: &str) {
    let gauge = Arc::new(Gauge::default());
    let c = container(codec, &gauge).await;
    let mut py = Driven::start(name).await;
    assert_eq!(
        py.cmd(&format!("open {}", host_port(c.url()))).await,
        "ok open"
    );
    // sum(i + 1 for i in range(2000))
    for path in ["agents/0/add", "agents/0/slow"] {
        assert_eq!(
            py.cmd(&format!("gather {path} 2000")).await,
            "ok gather 2000 2001000",
            "{path}"
        );
    }
    // And through aiomas's Container (validate_aid first).
    assert_eq!(
        py.cmd(&format!("connect {}/0", c.url())).await,
        "ok connect"
    );
    assert_eq!(py.cmd("gather slow 2000").await, "ok gather 2000 2001000");
    py.exit();
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_gathers_2000_calls_json() {
    python_gathers_2000_calls(Json, "JSON").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_gathers_2000_calls_msgpack() {
    python_gathers_2000_calls(MsgPack, "MsgPack").await;
}

/// An aiomas client with `calls` calls pending (the container's default
/// limits: 256 handlers run, 1,024 requests wait in its queue, the rest
/// are held back) vanishes: every handler ends, no queued call starts, and
/// the container serves the next client.
///
/// With 3,000 calls, reading from the client used to pause as soon as the
/// queue was full, before its end of the connection was read: the
/// container never noticed that the client was gone, and its 256 handlers
/// (waiting for something that never comes) lived on until shutdown.
async fn python_vanishes_with_pending_calls<C: Codec>(codec: C, name: &str) {
    let gauge = Arc::new(Gauge::default());
    let c = Container::create_with(("127.0.0.1", 0), ContainerOptions::new().codec(codec))
        .await
        .expect("container");
    c.register("Stress", agent::<C>(&gauge)).expect("register");
    for (round, calls) in [100, 600, 3000].into_iter().enumerate() {
        let running = calls.min(256);
        let before = gauge.started.load(Ordering::SeqCst);
        let mut py = Driven::start(name).await;
        assert_eq!(
            py.cmd(&format!("open {}", host_port(c.url()))).await,
            "ok open"
        );
        assert_eq!(
            py.cmd(&format!("fire agents/0/hold {calls}")).await,
            format!("ok fire {calls}")
        );
        gauge
            .until("the handlers run", |started, _| started == before + running)
            .await;
        py.exit();
        gauge.until("every handler ends", |_, live| live == 0).await;
        assert_eq!(
            gauge.started.load(Ordering::SeqCst),
            before + running,
            "round {round}: no queued call starts after the client left"
        );
    }

    let mut next = Driven::start(name).await;
    assert_eq!(
        next.cmd(&format!("open {}", host_port(c.url()))).await,
        "ok open"
    );
    assert_eq!(
        next.cmd("gather agents/0/slow 100").await,
        "ok gather 100 5050"
    );
    next.exit();
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_vanishes_with_pending_calls_json() {
    python_vanishes_with_pending_calls(Json, "JSON").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_vanishes_with_pending_calls_msgpack() {
    python_vanishes_with_pending_calls(MsgPack, "MsgPack").await;
}

/// The container shuts down while an aiomas client has 100 calls pending:
/// `shutdown` returns, every pending call fails in Python with a
/// connection error, Python sees the connection lost, and a new connection
/// is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_calls_while_the_container_shuts_down() {
    let gauge = Arc::new(Gauge::default());
    let c = container(Json, &gauge).await;
    let mut py = Driven::start("JSON").await;
    let addr = host_port(c.url());
    assert_eq!(py.cmd(&format!("open {addr}")).await, "ok open");
    assert_eq!(py.cmd("fire agents/0/hold 100").await, "ok fire 100");
    gauge
        .until("8 handlers run", |started, _| started == 8)
        .await;
    tokio::time::timeout(Duration::from_secs(15), c.shutdown())
        .await
        .expect("shutdown returns");
    gauge.until("every handler ends", |_, live| live == 0).await;
    assert_eq!(py.cmd("settle").await, "settled ConnectionResetError=100");
    assert_eq!(py.cmd("closed").await, "closed ConnectionResetError");
    assert_eq!(
        py.cmd(&format!("open {addr}")).await,
        "err open ConnectionRefusedError"
    );
    py.exit();
}

/// A Rust container restarted on the same TCP address while an aiomas
/// client holds a connection to it: Python sees the connection lost, its
/// next call fails, and a new connection reaches the new container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_container_restarted_under_a_python_client() {
    let gauge = Arc::new(Gauge::default());
    let mut c = container(Json, &gauge).await;
    let url = c.url().to_owned();
    let addr = host_port(&url);
    let mut py = Driven::start("JSON").await;
    assert_eq!(py.cmd(&format!("open {addr}")).await, "ok open");
    for round in 0..3 {
        assert_eq!(
            py.cmd("call agents/0/add [1, 2]").await,
            "ok call 3",
            "round {round}"
        );
        c.shutdown().await;
        assert_eq!(py.cmd("closed").await, "closed ConnectionResetError");
        assert_eq!(
            py.cmd("call agents/0/add [1, 2]").await,
            "err call ConnectionResetError"
        );
        c = Container::create_with(url.as_str(), tight(ContainerOptions::new()))
            .await
            .expect("restarts on the same address");
        c.register("Stress", agent::<Json>(&gauge))
            .expect("register");
        assert_eq!(py.cmd(&format!("open {addr}")).await, "ok open");
    }
    py.exit();
    c.shutdown().await;
}

/// Starts `codec_peer.py serve` on `port`; its agent's URL.
async fn python_container(codec: &str, port: u16) -> (Kill, String) {
    tokio::task::spawn_blocking(aiomas::python)
        .await
        .expect("venv");
    let mut child = aiomas::script(
        "codec_peer.py",
        &["serve", codec, "127.0.0.1", &port.to_string()],
    );
    let rx = aiomas::lines(&mut child);
    let line = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
        .await
        .expect("reader")
        .expect("codec_peer.py prints READY");
    let url = line
        .strip_prefix("READY ")
        .expect("READY url")
        .trim()
        .to_owned();
    (child, url)
}

/// A Python aiomas container restarted on the same port, three times,
/// while a Rust container has a cached connection to it: the next
/// `connect` succeeds at once (no retries, no sleeps) and its calls reach
/// the new Python container.
async fn python_container_restarted_under_a_rust_one<C: Codec>(codec: C, name: &str) {
    let port = free_port();
    let (mut py, url) = python_container(name, port).await;
    let options = ContainerOptions::new()
        .codec(codec)
        .connect_timeout(Some(Duration::ZERO));
    let c = Container::create_with(("127.0.0.1", 0), options)
        .await
        .expect("container");
    let proxy = c.connect(&url).await.expect("connect");
    assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
    for round in 0..3i64 {
        drop(py);
        let (again, same) = python_container(name, port).await;
        assert_eq!(same, url);
        py = again;
        let proxy = c
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("connect after restart {round}: {e}"));
        assert_eq!(
            proxy.call::<_, i64>("add", (round, 1)).await.expect("add"),
            round + 1
        );
    }
    c.shutdown().await;
    drop(py);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_container_restarted_under_a_rust_one_json() {
    python_container_restarted_under_a_rust_one(Json, "JSON").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_container_restarted_under_a_rust_one_msgpack() {
    python_container_restarted_under_a_rust_one(MsgPack, "MsgPack").await;
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

/// Request frames an aiomas-speaking peer could send that are not what
/// aiomas sends, to a MsgPack container: a path that is not UTF-8, a path
/// sent as bytes, odd paths, two requests with one id outstanding at once,
/// and `nil` keyword arguments. Each is answered (an error naming the
/// input, or both answers with that id); the connection goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_msgpack_requests_are_answered() {
    let gauge = Arc::new(Gauge::default());
    let c = container(MsgPack, &gauge).await;
    let mut raw = Raw::connect(c.url()).await;
    let exception = |reply: &[u8], id: u8| -> String {
        assert_eq!(&reply[..3], &[0x93, 0x02, id], "an exception for {id}");
        MsgPack.decode_content::<String>(&reply[3..]).expect("text")
    };
    raw.send(&msgpack_request(1, b"agents/0/\xffadd")).await;
    let reply = raw.recv().await.expect("an answer");
    let text = exception(&reply, 1);
    assert!(text.contains("malformed RPC request"), "{text}");
    // The path as bin (Python bytes).
    let mut bin = msgpack_request(2, b"agents/0/add");
    bin[4] = 0xc4;
    raw.send(&bin).await;
    let reply = raw.recv().await.expect("an answer");
    let text = exception(&reply, 2);
    assert!(text.contains("malformed RPC request"), "{text}");
    for (id, path) in [
        (3u8, &b""[..]),
        (4, b"/"),
        (5, b"agents//add"),
        (6, b"agents/0/"),
        (7, b"agents/0//add"),
        (8, b"agents/00/add"),
        (9, b"agents/18446744073709551616/add"),
        (10, b"agents/-1/add"),
        (11, b"validate_aid/x"),
    ] {
        raw.send(&msgpack_request(id, path)).await;
        let reply = raw.recv().await.expect("an answer");
        let text = exception(&reply, id);
        assert!(text.contains("no such method"), "{path:?}: {text}");
    }
    // Two requests with the same id at once: both are answered.
    raw.send(&msgpack_request(12, b"agents/0/slow")).await;
    raw.send(&msgpack_request(12, b"agents/0/slow")).await;
    for _ in 0..2 {
        assert_eq!(raw.recv().await.expect("an answer"), [0x93, 0x01, 12, 3]);
    }
    // nil keyword arguments.
    let mut nil = msgpack_request(13, b"agents/0/add");
    *nil.last_mut().expect("kwargs") = 0xc0;
    raw.send(&nil).await;
    let reply = raw.recv().await.expect("an answer");
    assert!(reply[1] == 0x01 || reply[1] == 0x02, "{reply:?}");
    // Still served.
    raw.send(&msgpack_request(14, b"agents/0/add")).await;
    assert_eq!(raw.recv().await.expect("an answer"), [0x93, 0x01, 14, 3]);
    c.shutdown().await;
}

/// Frames that end the connection (with JSON): a negative, fractional or
/// too large id, a kind out of range, an empty frame, a length of 2^32-1,
/// a reply to an id never asked. Each closes that connection only, at once;
/// a peer connected before goes on being served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_that_close_a_json_connection() {
    let gauge = Arc::new(Gauge::default());
    let c = container(Json, &gauge).await;
    let mut good = Raw::connect(c.url()).await;
    for bad in [
        &br#"[0, -1, ["agents/0/add", [1, 2], {}]]"#[..],
        br#"[0, 1.5, ["agents/0/add", [1, 2], {}]]"#,
        br#"[0, 18446744073709551616, ["agents/0/add", [1, 2], {}]]"#,
        br#"[3, 1, ["agents/0/add", [1, 2], {}]]"#,
        br#"[-1, 1, ["agents/0/add", [1, 2], {}]]"#,
        br#"[0, 1]"#,
        br#"[0, 1, [], 4]"#,
        b"",
        br#"[1, 0, 3]"#,
        br#"[2, 7, "no such request"]"#,
    ] {
        let mut raw = Raw::connect(c.url()).await;
        raw.send(bad).await;
        assert_eq!(
            raw.recv().await,
            None,
            "closed after {}",
            String::from_utf8_lossy(bad)
        );
        good.send(br#"[0, 1, ["agents/0/add", [1, 2], {}]]"#).await;
        assert_eq!(good.recv().await.expect("served"), b"[1, 1, 3]");
    }
    // The largest id there is is answered.
    good.send(br#"[0, 18446744073709551615, ["agents/0/add", [1, 2], {}]]"#)
        .await;
    assert_eq!(
        good.recv().await.expect("served"),
        b"[1, 18446744073709551615, 3]"
    );
    let mut raw = Raw::connect(c.url()).await;
    {
        use tokio::io::AsyncWriteExt;
        raw.0.write_all(&[0xff; 4]).await.expect("write");
    }
    assert_eq!(raw.recv().await, None, "closed after a 4 GiB header");
    c.shutdown().await;
}

/// A Rust container calls a Python aiomas container (`driven.py serve`):
/// 2,000 calls at once (beyond the 1,024 that may wait for replies), all
/// answered; then 100 calls that Python never answers, and Python dies:
/// every one of them fails at once with a connection error, and the next
/// `connect` to a Python container started again on that port works.
async fn rust_floods_and_loses_a_python_container<C: Codec>(codec: C, name: &str) {
    tokio::task::spawn_blocking(aiomas::python)
        .await
        .expect("venv");
    let port = free_port().to_string();
    let start = || {
        let mut child = Kill(
            Command::new(aiomas::python())
                .current_dir(aiomas::fixtures_dir())
                .args(["driven.py", name, "serve", "127.0.0.1", &port])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("python starts"),
        );
        let rx = aiomas::lines(&mut child);
        (child, rx)
    };
    let (py, rx) = start();
    let url = tokio::task::spawn_blocking(move || {
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("READY");
        (line, rx)
    })
    .await
    .expect("reader");
    let (line, rx) = url;
    let url = line.strip_prefix("READY ").expect("READY url").to_owned();

    let c = Container::create_with(
        ("127.0.0.1", 0),
        ContainerOptions::new()
            .codec(codec)
            .connect_timeout(Some(Duration::ZERO)),
    )
    .await
    .expect("container");
    let proxy = c.connect(&url).await.expect("connect");
    let calls = (0..2000i64).map(|i| {
        let p = proxy.clone();
        async move { p.call::<_, i64>("add", (i, 1)).await }
    });
    let sums = futures_util::future::join_all(calls).await;
    let total: i64 = sums.into_iter().map(|r| r.expect("answered")).sum();
    assert_eq!(total, 2_001_000);

    let held: Vec<_> = (0..100i64)
        .map(|i| {
            let p = proxy.clone();
            tokio::spawn(async move { p.call::<_, ()>("hold", (i,)).await })
        })
        .collect();
    tokio::task::spawn_blocking(move || loop {
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("HELD");
        if line == "HELD 100" {
            break;
        }
    })
    .await
    .expect("reader");
    drop(py);
    for call in held {
        let err = tokio::time::timeout(Duration::from_secs(20), call)
            .await
            .expect("fails at once")
            .expect("task")
            .expect_err("never answered");
        assert!(err.is_connection(), "{err:?}");
    }
    let (py, rx) = start();
    tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
        .await
        .expect("reader")
        .expect("READY again");
    let proxy = c.connect(&url).await.expect("connect again");
    assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
    c.shutdown().await;
    drop(py);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_floods_and_loses_a_python_container_json() {
    rust_floods_and_loses_a_python_container(Json, "JSON").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_floods_and_loses_a_python_container_msgpack() {
    rust_floods_and_loses_a_python_container(MsgPack, "MsgPack").await;
}

/// The container shuts down while an aiomas client floods it with 2,000
/// calls (at a limit of 8 handlers and 16 queued: most are held back, with
/// reading paused): `shutdown` returns, every call ends in Python (answered
/// or failed with a connection error), and Python sees the connection lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_floods_while_the_container_shuts_down() {
    let gauge = Arc::new(Gauge::default());
    let c = container(Json, &gauge).await;
    let mut py = Driven::start("JSON").await;
    assert_eq!(
        py.cmd(&format!("open {}", host_port(c.url()))).await,
        "ok open"
    );
    assert_eq!(py.cmd("fire agents/0/later 2000").await, "ok fire 2000");
    tokio::time::timeout(Duration::from_secs(15), c.shutdown())
        .await
        .expect("shutdown returns");
    let settled = py.cmd("settle").await;
    let mut total = 0;
    for word in settled.split(' ').skip(1) {
        let (what, n) = word.split_once('=').expect("TYPE=COUNT");
        assert!(
            what == "result" || what == "ConnectionResetError",
            "{settled}"
        );
        total += n.parse::<usize>().expect("a count");
    }
    assert_eq!(total, 2000, "{settled}");
    assert_eq!(py.cmd("closed").await, "closed ConnectionResetError");
    py.exit();
}

/// A Unix-socket container restarted on the same path while an aiomas
/// client holds a connection to it: Python sees the connection lost, and a
/// new connection to the path reaches the new container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_container_restarted_under_a_python_client() {
    let dir = crate::support::TempDir::new();
    let path = dir.path().join("c.sock");
    let url = format!("ipc://[{}]", path.display());
    let gauge = Arc::new(Gauge::default());
    let start = || async {
        let c = Container::create_with(url.as_str(), ContainerOptions::new())
            .await
            .expect("container");
        c.register("Stress", agent::<Json>(&gauge))
            .expect("register");
        c
    };
    let mut c = start().await;
    let mut py = Driven::start("JSON").await;
    let open = format!("openunix {}", path.display());
    assert_eq!(py.cmd(&open).await, "ok open");
    for round in 0..3 {
        assert_eq!(
            py.cmd("call agents/0/add [1, 2]").await,
            "ok call 3",
            "round {round}"
        );
        c.shutdown().await;
        assert_eq!(py.cmd("closed").await, "closed ConnectionResetError");
        c = start().await;
        assert_eq!(py.cmd(&open).await, "ok open");
    }
    py.exit();
    c.shutdown().await;
}

/// 100 aiomas clients connect at once, make 20 calls each at once and
/// leave, three times: all answered, and the container keeps serving (the
/// connections it keeps for shutdown are forgotten as they close).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_python_clients_come_and_go() {
    let gauge = Arc::new(Gauge::default());
    let c = container(Json, &gauge).await;
    let mut py = Driven::start("JSON").await;
    // sum(i + 1 for i in range(20)) * 100
    for round in 0..3 {
        assert_eq!(
            py.cmd(&format!("many {} 100 20", host_port(c.url()))).await,
            "ok many 21000",
            "round {round}"
        );
    }
    py.exit();
    tokio::time::timeout(Duration::from_secs(15), c.shutdown())
        .await
        .expect("shutdown returns");
}

/// A peer that writes requests without end and never reads a reply (its
/// replies fill the socket buffers, the container stops reading): the
/// container's `shutdown` returns within its grace, and the peer's writes
/// then fail (once the socket's linger after the close, which reads and
/// discards until the peer's end for up to 5 s, is over).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_while_a_peer_floods_without_reading() {
    use tokio::io::AsyncWriteExt;
    let gauge = Arc::new(Gauge::default());
    let c = container(Json, &gauge).await;
    let raw = Raw::connect(c.url()).await;
    let (_read_half, mut write_half) = raw.0.into_split();
    let (written_tx, mut written) = tokio::sync::watch::channel(0usize);
    let flood = tokio::spawn(async move {
        let mut frame = Vec::new();
        for id in 0..64u64 {
            let payload = format!(r#"[0, {id}, ["agents/0/later", [{id}], {{}}]]"#);
            frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            frame.extend_from_slice(payload.as_bytes());
        }
        let mut total = 0usize;
        loop {
            if let Err(e) = write_half.write_all(&frame).await {
                return e;
            }
            total += frame.len();
            written_tx.send_replace(total);
        }
    });
    // More than the container holds back (its reading then pauses).
    tokio::time::timeout(Duration::from_secs(60), written.wait_for(|n| *n > 4 << 20))
        .await
        .expect("the flood goes on")
        .expect("flooding");
    tokio::time::timeout(Duration::from_secs(15), c.shutdown())
        .await
        .expect("shutdown returns within its grace");
    let err = tokio::time::timeout(Duration::from_secs(30), flood)
        .await
        .expect("the flood's writes fail once the container is gone")
        .expect("task");
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        ),
        "{err:?}"
    );
}

/// 200 aiomas clients connect and call (50 calls each) while the container
/// shuts down: `shutdown` returns, and every client's calls end in Python,
/// answered or failed (no call is left waiting).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_clients_arrive_during_shutdown() {
    let gauge = Arc::new(Gauge::default());
    let c = container(Json, &gauge).await;
    let mut py = Driven::start("JSON").await;
    let mut first = Driven::start("JSON").await;
    assert_eq!(
        first.cmd(&format!("open {}", host_port(c.url()))).await,
        "ok open"
    );
    assert_eq!(
        py.cmd(&format!("open {}", host_port(c.url()))).await,
        "ok open"
    );
    let line = format!("many {} 200 50", host_port(c.url()));
    py.send(&line);
    // Some of them are under way (a round trip of another client).
    assert_eq!(first.cmd("call agents/0/add [1, 2]").await, "ok call 3");
    tokio::time::timeout(Duration::from_secs(15), c.shutdown())
        .await
        .expect("shutdown returns");
    let answer = py.answer(&line).await;
    assert!(
        answer == "ok many 255000"
            || answer == "err many ConnectionResetError"
            || answer == "err many ConnectionRefusedError",
        "{answer}"
    );
    assert_eq!(first.cmd("closed").await, "closed ConnectionResetError");
    py.exit();
    first.exit();
}

/// A Python aiomas container on a Unix socket, killed (its socket file
/// stays behind) and started again on the same path, three times, while a
/// Rust container has a cached connection to it: the next `connect`
/// succeeds at once and reaches the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_unix_container_restarted_under_a_rust_one() {
    tokio::task::spawn_blocking(aiomas::python)
        .await
        .expect("venv");
    let dir = crate::support::TempDir::new();
    let path = dir.path().join("py.sock").display().to_string();
    let start = || async {
        let mut child = Kill(
            Command::new(aiomas::python())
                .current_dir(aiomas::fixtures_dir())
                .args(["driven.py", "JSON", "serve", "unix", &path])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("python starts"),
        );
        let rx = aiomas::lines(&mut child);
        let line = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
            .await
            .expect("reader")
            .expect("READY");
        let url = line.strip_prefix("READY ").expect("READY url").to_owned();
        (child, url)
    };
    let (mut py, url) = start().await;
    assert_eq!(url, format!("ipc://[{path}]/0"));
    let c = Container::create_with(
        ("127.0.0.1", 0),
        ContainerOptions::new().connect_timeout(Some(Duration::ZERO)),
    )
    .await
    .expect("container");
    let proxy = c.connect(&url).await.expect("connect");
    assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
    for round in 0..3i64 {
        drop(py);
        assert!(std::path::Path::new(&path).exists(), "a stale socket file");
        let (again, same) = start().await;
        assert_eq!(same, url);
        py = again;
        let proxy = c
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("connect after restart {round}: {e}"));
        assert_eq!(
            proxy.call::<_, i64>("add", (round, 1)).await.expect("add"),
            round + 1
        );
    }
    c.shutdown().await;
    drop(py);
}

/// The same as `python_vanishes_with_pending_calls` without Python, on
/// every backend a raw peer can reach: a peer sends 3,000 calls to
/// handlers that wait (more than the 256 that run and the 1,024 that
/// queue) and closes its end; every handler ends.
async fn peer_leaves_with_a_burst_pending<A: transport_api::Address>(addr: A, c: Container) {
    use crate::support::raw_peer::{request_frame, Deaf};
    use transport_api::Transport;
    let gauge = Arc::new(Gauge::default());
    c.register("Stress", agent::<Json>(&gauge))
        .expect("register");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (transport, _) = addr.create_connection(Deaf(tx)).await.expect("connects");
    let _shared = rx.recv().await.expect("connected");
    for id in 0..3000u64 {
        transport
            .write(request_frame(id, "agents/0/hold", &serde_json::json!([id])))
            .expect("writes");
    }
    gauge
        .until("256 handlers run", |started, _| started == 256)
        .await;
    transport.close();
    gauge.until("every handler ends", |_, live| live == 0).await;
    assert_eq!(gauge.started.load(Ordering::SeqCst), 256);
    tokio::time::timeout(Duration::from_secs(15), c.shutdown())
        .await
        .expect("shutdown returns");
}

#[tokio::test]
async fn peer_leaves_with_a_burst_pending_local() {
    let net = transport_local::LocalNetwork::new();
    let c = Container::create_with(
        "local://burst",
        ContainerOptions::new().local_network(net.clone()),
    )
    .await
    .expect("container");
    peer_leaves_with_a_burst_pending(net.get_queue("burst").expect("queue"), c).await;
}

#[tokio::test]
async fn peer_leaves_with_a_burst_pending_tcp() {
    let c = Container::create(("127.0.0.1", 0))
        .await
        .expect("container");
    let addr: transport_tcp::TcpAddr = c.url().parse().expect("tcp url");
    peer_leaves_with_a_burst_pending(addr, c).await;
}

#[tokio::test]
async fn peer_leaves_with_a_burst_pending_unix() {
    let dir = crate::support::TempDir::new();
    let addr = dir.sock();
    let c = Container::create(addr.clone()).await.expect("container");
    peer_leaves_with_a_burst_pending(addr, c).await;
}

/// JSON that Python's `json` reads as the same request, written otherwise
/// than aiomas writes it (no spaces, newlines and tabs, escaped slashes and
/// letters in the path, a duplicate keyword): each is answered like the
/// plain request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_requests_in_other_spellings_are_answered() {
    let gauge = Arc::new(Gauge::default());
    let c = container(Json, &gauge).await;
    let mut raw = Raw::connect(c.url()).await;
    for (id, request) in [
        (1, r#"[0,1,["agents/0/add",[1,2],{}]]"#),
        (
            2,
            "\n\t[ 0 ,\r\n 2 , [ \"agents/0/add\" , [ 1 , 2 ] , { } ] ]\n ",
        ),
        (3, r#"[0, 3, ["agents\/0\/add", [1, 2], {}]]"#),
        (4, r#"[0, 4, ["agents/0/\u0061dd", [1, 2], {}]]"#),
    ] {
        raw.send(request.as_bytes()).await;
        let reply = raw.recv().await.expect("an answer");
        let reply: serde_json::Value = serde_json::from_slice(&reply).expect("JSON");
        assert_eq!(reply[0], 1, "{request}: {reply}");
        assert_eq!(reply[1], id);
        assert_eq!(reply[2], 3);
    }
    c.shutdown().await;
}

/// A container dropped (no `shutdown`) and at once created again on the
/// same address, 50 times, on TCP, Unix sockets and local queues: each
/// creation succeeds (the dropped one's listener is gone by then).
async fn recreated_at_once_after_a_drop(url: String, options: ContainerOptions) {
    let mut c = Container::create_with(url.as_str(), options.clone())
        .await
        .expect("container");
    let url = c.url().to_owned();
    for round in 0..50 {
        drop(c);
        c = Container::create_with(url.as_str(), options.clone())
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreated_at_once_after_a_drop_tcp() {
    let probe = Container::create(("127.0.0.1", 0)).await.expect("probe");
    let url = probe.url().to_owned();
    probe.shutdown().await;
    recreated_at_once_after_a_drop(url, ContainerOptions::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreated_at_once_after_a_drop_unix() {
    let dir = crate::support::TempDir::new();
    let url = format!("ipc://[{}]", dir.path().join("c.sock").display());
    recreated_at_once_after_a_drop(url, ContainerOptions::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreated_at_once_after_a_drop_local() {
    let options = ContainerOptions::new().local_network(transport_local::LocalNetwork::new());
    recreated_at_once_after_a_drop("local://again".to_owned(), options).await;
}

/// 2,000 calls at once from an aiomas container, at a limit of 8 handlers
/// and 16 queued requests, each of whose handlers calls the caller's own
/// agent back over the same connection (passed as an argument): all are
/// answered, as a handler waiting for its callback frees its slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_calls_that_call_python_back_at_the_limit() {
    let c = Container::create_with(("127.0.0.1", 0), tight(ContainerOptions::new()))
        .await
        .expect("container");
    let agent = Router::new().method(
        "callback",
        |(who, n): (agentwire::rpc::Proxy, i64)| async move {
            who.call::<_, i64>("ping", (n,))
                .await
                .map_err(|e| e.to_string())
        },
    );
    let info = c.register("Caller", agent).expect("register");
    let mut py = Driven::start("JSON").await;
    assert_eq!(
        py.cmd(&format!("connect {}", info.url())).await,
        "ok connect"
    );
    assert_eq!(py.cmd("callbacks 2000").await, "ok callbacks 2000 2001000");
    py.exit();
    c.shutdown().await;
}

/// An aiomas client (which has no frame limit) sends a 15 MB argument,
/// then one above the container's 16 MiB frame limit: the first is
/// answered, the second closes that connection (Python sees it reset), and
/// the container serves a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sends_frames_around_the_limit() {
    let gauge = Arc::new(Gauge::default());
    let c = container(Json, &gauge).await;
    let mut py = Driven::start("JSON").await;
    let open = format!("open {}", host_port(c.url()));
    assert_eq!(py.cmd(&open).await, "ok open");
    assert_eq!(py.cmd("big agents/0/len 15000000").await, "ok big 15000000");
    assert_eq!(
        py.cmd("big agents/0/len 17000000").await,
        "err big ConnectionResetError"
    );
    assert_eq!(py.cmd(&open).await, "ok open");
    assert_eq!(py.cmd("call agents/0/add [1, 2]").await, "ok call 3");
    py.exit();
    c.shutdown().await;
}
