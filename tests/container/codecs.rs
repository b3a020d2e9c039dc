//! The codecs against the real aiomas 2.0.1 (tests/aiomas/codec_peer.py)
//! over TCP: MsgPack containers calling each other both ways with ints,
//! floats, strings, bytes and nested maps, and NaN/Infinity with JSON.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use agentwire::channel::{Codec, Json, MsgPack};
use agentwire::rpc::Router;
use agentwire::{Container, ContainerOptions};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::support::{self, aiomas};

/// Any value aiomas sends, keeping bytes apart from strings (which
/// `serde_json::Value` cannot).
#[derive(Debug, Clone, PartialEq)]
enum Any {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Any>),
    Map(BTreeMap<String, Any>),
}

impl Serialize for Any {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Any::Nil => s.serialize_unit(),
            Any::Bool(b) => s.serialize_bool(*b),
            Any::Int(i) => s.serialize_i64(*i),
            Any::Float(f) => s.serialize_f64(*f),
            Any::Str(t) => s.serialize_str(t),
            Any::Bytes(b) => s.serialize_bytes(b),
            Any::List(l) => s.collect_seq(l),
            Any::Map(m) => s.collect_map(m),
        }
    }
}

impl<'de> Deserialize<'de> for Any {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Any;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any aiomas value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Any, E> {
                Ok(Any::Nil)
            }
            fn visit_none<E: de::Error>(self) -> Result<Any, E> {
                Ok(Any::Nil)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Any, D::Error> {
                Any::deserialize(d)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Any, E> {
                Ok(Any::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Any, E> {
                Ok(Any::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Any, E> {
                i64::try_from(v)
                    .map(Any::Int)
                    .map_err(|_| E::custom("integer too large"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Any, E> {
                Ok(Any::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Any, E> {
                Ok(Any::Str(v.to_owned()))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Any, E> {
                Ok(Any::Bytes(v.to_vec()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Any, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(Any::List(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Any, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = map.next_entry()? {
                    out.insert(k, v);
                }
                Ok(Any::Map(out))
            }
        }
        d.deserialize_any(V)
    }
}

fn map<const N: usize>(entries: [(&str, Any); N]) -> Any {
    Any::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// The `Echo` agent of codec_peer.py, in Rust, plus `value` (a
/// `serde_json::Value` argument).
fn echo<C: Codec>() -> Router<C> {
    Router::new()
        .method("echo", |(v,): (Any,)| async move { Ok::<_, Infallible>(v) })
        .method("add", |(a, b): (Any, Any)| async move {
            match (a, b) {
                (Any::Int(a), Any::Int(b)) => Ok(Any::Int(a + b)),
                (Any::Int(a), Any::Float(b)) => Ok(Any::Float(a as f64 + b)),
                (Any::Float(a), Any::Int(b)) => Ok(Any::Float(a + b as f64)),
                (Any::Float(a), Any::Float(b)) => Ok(Any::Float(a + b)),
                (a, b) => Err(format!("TypeError: cannot add {a:?} and {b:?}")),
            }
        })
        .method("nan", |(a, b, c): (f64, f64, f64)| async move {
            Ok::<_, Infallible>((a, b, c))
        })
        .method("value", |(v,): (serde_json::Value,)| async move {
            Ok::<_, Infallible>(v)
        })
        .method("fail", |(msg,): (String,)| async move {
            Err::<(), _>(format!("ValueError: {msg}"))
        })
}

/// Kills the Python process when the test ends, however it ends.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts codec_peer.py with `args`; its stdout lines arrive on the
/// receiver.
fn peer(args: &[&str]) -> (Kill, mpsc::Receiver<String>) {
    let mut child = Command::new(aiomas::python())
        .current_dir(aiomas::fixtures_dir())
        .arg("codec_peer.py")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Kill(child), rx)
}

/// The lines up to "DONE" (bounded by a timeout per line).
async fn until_done(rx: mpsc::Receiver<String>) -> Vec<String> {
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
            if line == "DONE" {
                break;
            }
            out.push(line);
        }
        out
    })
    .await
    .expect("reader")
}

/// Python (`codec`) calls a Rust `Echo` agent in a container using `codec`;
/// returns what Python printed.
async fn aiomas_calls_rust<C: Codec>(codec: C, name: &str) -> Vec<String> {
    aiomas::venv().await;
    let c = Container::create_with(("127.0.0.1", 0), ContainerOptions::new().codec(codec))
        .await
        .expect("container");
    let agent = c.register("Echo", echo::<C>()).expect("register");
    let (child, rx) = peer(&["call", name, agent.url()]);
    let out = until_done(rx).await;
    drop(child);
    c.shutdown().await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msgpack_aiomas_calls_rust() {
    let out = aiomas_calls_rust(MsgPack, "MsgPack").await;
    assert_eq!(
        out,
        [
            "add int:3",
            "add float:2.75",
            "echo str:'héllo ✓'",
            "echo bytes:b'\\x00\\xffbytes'",
            "echo {'a': {'b': (int:1, float:-2.5, str:'x', bytes:b'y', NoneType:None, bool:True)}, 'n': {}}",
            "nan (float('nan'), float('inf'), float('-inf'))",
            "fail ERROR ValueError: boom ✓",
            "add int:42",
        ]
    );
}

/// Python's NaN and infinities reach a Rust `f64` and come back; into a
/// `serde_json::Value` they are an error for that call only, naming the
/// value, and the connection goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_aiomas_calls_rust_with_nan() {
    let out = aiomas_calls_rust(Json, "JSON").await;
    assert_eq!(out.len(), 8, "{out:#?}");
    assert_eq!(
        out[..5],
        [
            "add int:3",
            "add float:2.75",
            "echo str:'héllo ✓'",
            "echo {'a': {'b': (int:1, float:-2.5, str:'x', NoneType:None, bool:True)}, 'n': {}}",
            "nan (float('nan'), float('inf'), float('-inf'))",
        ]
    );
    assert!(
        out[5].starts_with("value ERROR") && out[5].contains("NaN"),
        "{}",
        out[5]
    );
    assert_eq!(out[6], "fail ERROR ValueError: boom ✓");
    assert_eq!(out[7], "add int:42", "the connection goes on");
}

/// A Rust container (`codec`) calls a Python aiomas `Echo` agent served
/// with `name`; `f` makes the calls.
async fn rust_calls_aiomas<C, F, Fut>(codec: C, name: &str, f: F)
where
    C: Codec,
    F: FnOnce(agentwire::rpc::Proxy<C>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    aiomas::venv().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
        .to_string();
    let (child, rx) = peer(&["serve", name, "127.0.0.1", &port]);
    let url = aiomas::ready_url(rx, "codec_peer.py").await;
    support::run(async {
        let c = Container::create_with(("127.0.0.1", 0), ContainerOptions::new().codec(codec))
            .await
            .expect("container");
        let proxy = c.connect(&url).await.expect("connect to aiomas");
        assert_eq!(proxy.class_name(), Some("Echo"));
        f(proxy).await;
        c.shutdown().await;
    })
    .await;
    drop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_calls_msgpack_aiomas() {
    rust_calls_aiomas(MsgPack, "MsgPack", |proxy| async move {
        let add = |a, b| proxy.call::<_, Any>("add", (a, b));
        assert_eq!(add(Any::Int(1), Any::Int(2)).await.expect("add"), Any::Int(3));
        assert_eq!(
            add(Any::Float(2.5), Any::Float(0.25)).await.expect("add"),
            Any::Float(2.75)
        );
        let nested = map([
            (
                "a",
                map([(
                    "b",
                    Any::List(vec![
                        Any::Int(-1),
                        Any::Float(2.5),
                        Any::Str("x ✓".into()),
                        Any::Bytes(vec![0, 255]),
                        Any::Nil,
                        Any::Bool(false),
                        Any::Int(i64::MIN),
                    ]),
                )]),
            ),
            ("n", map([])),
            ("k", map([("x", Any::Int(1)), ("y", Any::List(vec![]))])),
        ]);
        let back: Any = proxy.call("echo", (&nested,)).await.expect("echo");
        assert_eq!(back, nested);
        // Python sees bytes as bytes and strings as str.
        let seen: String = proxy.call("describe", (&nested,)).await.expect("describe");
        assert_eq!(
            seen,
            "{'a': {'b': (int:-1, float:2.5, str:'x ✓', bytes:b'\\x00\\xff', NoneType:None, bool:False, int:-9223372036854775808)}, \
             'k': {'x': int:1, 'y': ()}, 'n': {}}"
        );
        // Typed values: serde_bytes for bytes, tuples, structs as maps.
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Point {
            x: i32,
            y: f64,
        }
        let typed = (
            serde_bytes::ByteBuf::from(b"raw".to_vec()),
            Point { x: 3, y: -0.5 },
            u64::MAX,
            f64::NAN,
        );
        type Typed = (serde_bytes::ByteBuf, Point, u64, f64);
        let back: Typed = proxy.call("echo", (&typed,)).await.expect("typed echo");
        assert_eq!((&back.0, &back.1, back.2), (&typed.0, &typed.1, typed.2));
        assert!(back.3.is_nan());
        let seen: String = proxy.call("describe", (&typed,)).await.expect("describe");
        assert_eq!(
            seen,
            "(bytes:b'raw', {'x': int:3, 'y': float:-0.5}, int:18446744073709551615, float('nan'))"
        );
        // An exception comes back as a remote error; the connection goes on.
        let err = proxy
            .call::<_, ()>("fail", ("boom ✓",))
            .await
            .expect_err("fail");
        let message = err.remote_message().expect("a remote error");
        assert!(message.contains("ValueError: boom ✓"), "{message}");
        assert_eq!(add(Any::Int(20), Any::Int(22)).await.expect("add"), Any::Int(42));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_calls_json_aiomas_with_nan() {
    rust_calls_aiomas(Json, "JSON", |proxy| async move {
        let values = (f64::NAN, f64::INFINITY, [f64::NEG_INFINITY, 1.5]);
        let seen: String = proxy.call("describe", (&values,)).await.expect("describe");
        assert_eq!(
            seen,
            "(float('nan'), float('inf'), (float('-inf'), float:1.5))"
        );
        let back: (f64, f64, Vec<f64>) = proxy.call("echo", (&values,)).await.expect("echo");
        assert!(back.0.is_nan());
        assert_eq!(
            (back.1, back.2),
            (f64::INFINITY, vec![f64::NEG_INFINITY, 1.5])
        );
    })
    .await;
}
