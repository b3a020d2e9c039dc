//! Typed agents and the real aiomas 2.0.1 (`tests/aiomas/agents.py`), over
//! TCP: Python calls Rust agents by position and by keyword, agents pass
//! themselves both ways and are called back, custom types travel as
//! aiomas's `@serializable`; and the `calc_server` example serves aiomas.

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use agentwire::channel::{Codec, Json, MsgPack};
use agentwire::rpc::Date;
use agentwire::{agent, Container, ContainerOptions};
use serde_json::{json, Value};

use crate::refs::{Geometry, GeometryProxy, Hub, HubProxy, Pinger, Point};
use crate::support::aiomas::{self, free_port, lines, peer, script, Kill};
use calc_server::Number;

/// The Calc that Python calls: numbers as Python has them, any value,
/// errors, and optional parameters.
struct Calc;

#[agent]
impl Calc {
    #[expose]
    async fn add(&self, a: Number, b: Number) -> Result<Number, String> {
        Number::sum(a, b)
    }

    #[expose]
    async fn echo(&self, value: Value) -> Value {
        value
    }

    #[expose]
    async fn greet(&self, name: String, greeting: Option<String>) -> String {
        format!("{}, {name}!", greeting.as_deref().unwrap_or("Hello"))
    }

    #[expose]
    async fn fail(&self, message: String) -> Result<(), String> {
        Err(message)
    }
}

/// The `calc_server` example, for its `Number` (and to check it builds
/// into the tests).
#[allow(dead_code)]
#[path = "../../examples/calc_server.rs"]
mod calc_server;

fn options() -> ContainerOptions {
    // Type ids as in agents.py: 0 date, 1 Point, 2 agent references.
    ContainerOptions::new().serializer::<Point>()
}

/// Waits (off the runtime) for the process to end or `limit` lines, up to
/// 60 s; the lines it printed.
async fn output(mut child: Kill, limit: usize) -> Vec<String> {
    let rx = lines(&mut child);
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        while out.len() < limit {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => out.push(line),
                Err(_) => break,
            }
        }
        drop(child);
        out
    })
    .await
    .expect("reader")
}

/// The checks `agents.py call` printed, by name.
fn checks(lines: &[String]) -> serde_json::Map<String, Value> {
    lines
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            (v["check"].as_str().expect("check").to_owned(), v)
        })
        .collect()
}

/// Python calls a Rust container's typed agents (`agents.py call`), with
/// `codec`; with JSON it also passes its own agent to the Rust hub.
async fn python_calls_typed_rust_agents<C: Codec>(codec: C, name: &str) {
    aiomas::venv().await;
    let json = name == "json";
    let opts = options().codec(codec);
    let c = Container::create_with(("127.0.0.1", 0), opts)
        .await
        .unwrap();
    c.register_agent(Calc).unwrap();
    c.register_agent(Geometry).unwrap();
    // Its parameter is a `PingerProxy`, of the JSON codec.
    let hub = json.then(|| {
        let c: &dyn std::any::Any = &c;
        let c = c
            .downcast_ref::<Container<Json>>()
            .expect("a JSON container");
        c.register_agent_with(|ctx| Hub {
            ctx,
            members: Mutex::new(Vec::new()),
        })
        .unwrap()
    });
    let out = output(script("agents.py", &["call", c.url(), name]), usize::MAX).await;
    let checks = checks(&out);
    let ok = |name: &str| match checks.get(name) {
        Some(v) if v.get("ok").is_some() => (v["ok"].clone(), v["type"].clone()),
        other => panic!("{name}: {other:?} (all: {out:#?})"),
    };
    let error = |name: &str| match checks.get(name).and_then(|v| v.get("error")) {
        Some(Value::String(e)) => e.clone(),
        other => panic!("{name}: expected an error, got {other:?} (all: {out:#?})"),
    };
    assert_eq!(ok("add_int"), (json!(3), json!("int")));
    assert_eq!(ok("add_float"), (json!(2.75), json!("float")));
    assert_eq!(ok("add_kw"), (json!(42), json!("int")));
    assert_eq!(ok("echo_kw").0, json!({"a": [1, 2.5, "x", null, true]}));
    assert_eq!(ok("greet_omitted").0, json!("Hello, Ada!"));
    assert_eq!(ok("greet_kw").0, json!("Hi, Ada!"));
    let unknown = error("unknown_kw");
    assert!(
        unknown.contains("unexpected keyword argument \"salutation\""),
        "{unknown}"
    );
    let missing = error("missing");
    assert!(
        missing.contains("missing required argument \"name\""),
        "{missing}"
    );
    assert!(error("fail").contains("boom"));
    // aiomas's @serializable Point and its dates, both ways.
    assert_eq!(ok("mid"), (json!({"Point": [2.0, 3.0]}), json!("Point")));
    assert_eq!(
        ok("later"),
        (json!({"date": "2016-01-03T00:00:00+00:00"}), json!("Arrow"))
    );
    if let Some(hub) = hub {
        // Python passed its own agent; the Rust hub called it back.
        assert_eq!(ok("subscribe_python_agent").0, json!(42));
        assert_eq!(hub.members.lock().unwrap().len(), 1);
    }
    // NaN and the infinities, as Python writes them, both ways.
    assert_eq!(ok("add_nan"), (json!("nan"), json!("float")));
    assert_eq!(ok("add_inf"), (json!("inf"), json!("float")));
    assert_eq!(ok("add_ninf"), (json!("-inf"), json!("float")));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_calls_typed_rust_agents_with_json() {
    python_calls_typed_rust_agents(Json, "json").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_calls_typed_rust_agents_with_msgpack() {
    python_calls_typed_rust_agents(MsgPack, "msgpack").await;
}

/// Starts `agents.py serve` with `codec`; its base URL.
async fn python_container(codec: &str) -> (Kill, String) {
    aiomas::venv().await;
    let port = free_port().to_string();
    let mut child = script("agents.py", &["serve", "127.0.0.1", &port, codec]);
    let rx = lines(&mut child);
    let base = aiomas::ready_url(rx, "agents.py").await;
    (child, base)
}

/// Rust calls Python's `Geometry` with custom types and dates.
async fn rust_calls_python_with_custom_types<C: Codec>(c: &Container<C>, base: &str) {
    let geometry: GeometryProxy<C> = c.connect(&format!("{base}/0")).await.unwrap().into();
    let mid = geometry
        .mid(Point { x: 1.0, y: 1.0 }, Point { x: 3.0, y: 5.0 })
        .await
        .unwrap();
    assert_eq!(mid, Point { x: 2.0, y: 3.0 });
    let start = "2016-01-01T00:00:00Z".parse().unwrap();
    let later = geometry.later(Date(start), 3).await.unwrap();
    assert_eq!(later.to_string(), "2016-01-04T00:00:00+00:00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_agent_passes_itself_to_a_python_agent_which_calls_it_back() {
    let (child, base) = python_container("json").await;
    let c = Container::create_with(("127.0.0.1", 0), options())
        .await
        .unwrap();
    let pinger = c.register_agent(Pinger).unwrap();
    // A typed client of the Python hub, from the Rust `Hub`'s definition.
    let hub: HubProxy = c.connect(&format!("{base}/1")).await.unwrap().into();
    assert_eq!(hub.subscribe(pinger.reference()).await.unwrap(), 42);
    rust_calls_python_with_custom_types(&c, &base).await;
    c.shutdown().await;
    drop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_calls_python_with_custom_types_over_msgpack() {
    let (child, base) = python_container("msgpack").await;
    let opts = options().codec(MsgPack);
    let c = Container::create_with(("127.0.0.1", 0), opts)
        .await
        .unwrap();
    rust_calls_python_with_custom_types(&c, &base).await;
    c.shutdown().await;
    drop(child);
}

/// `cargo run --example calc_server`, called by aiomas's `peer.py`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_calc_server_example_serves_aiomas() {
    aiomas::venv().await;
    let exe = calc_server();
    let mut server = Kill(
        Command::new(&exe)
            .arg("tcp://127.0.0.1:0")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("calc_server starts"),
    );
    let rx = lines(&mut server);
    let url = aiomas::ready_url(rx, "calc_server").await;
    assert!(
        url.starts_with("tcp://127.0.0.1:") && url.ends_with("/0"),
        "{url}"
    );
    let out = output(peer(&["call", &url]), 2).await;
    assert_eq!(out, ["add 3", "echo {'a': [1, 2.5, 'x', None, True]}"]);
    drop(server);
}

/// The `calc_server` example's binary, built if `cargo test` did not build
/// it (a run of this test target alone).
fn calc_server() -> std::path::PathBuf {
    let deps = std::env::current_exe().expect("test exe");
    let dir = deps.parent().and_then(|d| d.parent()).expect("target dir");
    let exe = dir.join("examples").join("calc_server");
    if !exe.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", "calc_server"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build --example calc_server");
    }
    exe
}

/// A date that Python cannot hold (outside the years 1 to 9999) is
/// refused before it is sent, with an error naming it: sent, it made
/// aiomas drop the whole connection, and every call on it with it. What
/// goes wrong with dates in Python (a shift past its last year) comes back
/// as a remote error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dates_python_cannot_hold_are_refused_before_they_are_sent() {
    let (child, base) = python_container("json").await;
    let c = Container::create_with(("127.0.0.1", 0), options())
        .await
        .unwrap();
    let geometry: GeometryProxy = c.connect(&format!("{base}/0")).await.unwrap().into();
    let date = |s: &str| Date(s.parse().unwrap());
    let wait = Duration::from_secs(20);
    for bad in [
        "+20000-01-01T00:00:00Z",
        "-0005-01-01T00:00:00Z",
        "0000-06-01T00:00:00Z",
    ] {
        let err = tokio::time::timeout(wait, geometry.later(date(bad), 1))
            .await
            .expect("in time")
            .expect_err("Python cannot hold the date");
        assert!(matches!(err, agentwire::RpcError::Encode { .. }), "{err:?}");
        let mut text = err.to_string();
        let mut cause = std::error::Error::source(&err);
        while let Some(c) = cause {
            text.push_str(&format!(": {c}"));
            cause = c.source();
        }
        let shown = date(bad).to_string();
        assert!(text.contains(&shown[..shown.len() - 15]), "{text}");
        // The connection goes on.
        let next = tokio::time::timeout(wait, geometry.later(date("2016-01-01T00:00:00Z"), 1))
            .await
            .expect("in time")
            .expect("the connection goes on");
        assert_eq!(next.to_string(), "2016-01-02T00:00:00+00:00");
    }
    let err = tokio::time::timeout(wait, geometry.later(date("9999-12-31T00:00:00Z"), 1))
        .await
        .expect("in time")
        .expect_err("past Python's last date");
    let message = err.remote_message().expect("a remote error");
    assert!(message.contains("OverflowError"), "{message}");
    c.shutdown().await;
    drop(child);
}
