//! Interoperability with the real aiomas 2.0.1 (tests/aiomas/peer.py) over
//! TCP with the JSON codec, both ways.

use std::time::Duration;

use agentwire::Container;

use crate::support::{self, aiomas};
use aiomas::{free_port, lines, peer};

/// A Rust container calls a Python aiomas agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_calls_aiomas() {
    let python = tokio::task::spawn_blocking(aiomas::python);
    python.await.expect("venv");
    let port = free_port().to_string();
    let mut child = peer(&["serve", "127.0.0.1", &port]);
    let rx = lines(&mut child);
    let url = aiomas::ready_url(rx, "peer.py").await;
    assert_eq!(url, format!("tcp://127.0.0.1:{port}/0"));

    support::run(async {
        let c = Container::create(("127.0.0.1", 0))
            .await
            .expect("container");
        let proxy = c.connect(&url).await.expect("connect to aiomas");
        assert_eq!(proxy.class_name(), Some("Calc"));
        assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
        let value = serde_json::json!({"a": [1, 2.5, "x", null, true], "b": {"c": []}});
        let echoed: serde_json::Value = proxy.call("echo", (&value,)).await.expect("echo");
        assert_eq!(echoed, value);
        let err = proxy
            .call::<_, ()>("fail", ("boom",))
            .await
            .expect_err("fail");
        let message = err.remote_message().expect("a remote error");
        assert!(
            message.contains("ValueError") && message.contains("boom"),
            "{message}"
        );
        // Still usable after the error.
        assert_eq!(
            proxy.call::<_, i64>("add", (20, 22)).await.expect("add"),
            42
        );
        let err = c
            .connect(&url.replace("/0", "/7"))
            .await
            .expect_err("no agent 7");
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        c.shutdown().await;
    })
    .await;
    drop(child);
}

/// A Python aiomas container calls a Rust agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiomas_calls_rust() {
    aiomas::venv().await;
    let c = Container::create(("127.0.0.1", 0))
        .await
        .expect("container");
    let agent = c.register("Calc", support::calc()).expect("register");
    let mut child = peer(&["call", agent.url()]);
    let rx = lines(&mut child);
    let out = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        while out.len() < 2 {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => out.push(line),
                Err(_) => break,
            }
        }
        out
    })
    .await
    .expect("reader");
    // Bounded: it has printed what it will (or timed out); stop it.
    let _ = child.0.kill();
    let status = child.0.wait().ok();
    let mut stderr = String::new();
    if let Some(mut e) = child.0.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    assert_eq!(
        out,
        ["add 3", "echo {'a': [1, 2.5, 'x', None, True]}"],
        "status {status:?}, stderr: {stderr}"
    );
    c.shutdown().await;
    drop(child);
}

/// Starts `peer.py serve` and returns it with its agent's URL.
async fn python_server() -> (aiomas::Kill, String) {
    aiomas::venv().await;
    let port = free_port().to_string();
    let mut child = peer(&["serve", "127.0.0.1", &port]);
    let rx = lines(&mut child);
    let url = aiomas::ready_url(rx, "peer.py").await;
    (child, url)
}

/// A Rust client gets values from a Python server that its types cannot
/// hold (each a decode error naming the path and the value, the
/// connection going on), odd exception texts, and a server that dies
/// mid-call (a connection error, not a wait).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_calls_aiomas_edge_cases() {
    let (mut child, url) = python_server().await;
    support::run(async {
        let c = Container::create(("127.0.0.1", 0))
            .await
            .expect("container");
        let proxy = c.connect(&url).await.expect("connect");
        let decode_error = |r: Result<String, agentwire::RpcError>| match r {
            Err(agentwire::RpcError::Decode { path, source }) => {
                assert_eq!(path, "agents/0/add");
                source.to_string()
                    + &std::error::Error::source(&source)
                        .map(|c| c.to_string())
                        .unwrap_or_default()
            }
            other => panic!("expected a decode error, got {other:?}"),
        };
        let big = 1u64 << 62;
        // 2^63: too big for an i64, fine for a u64.
        let text = decode_error(
            proxy
                .call::<_, i64>("add", (big, big))
                .await
                .map(|v| v.to_string()),
        );
        assert!(text.contains("9223372036854775808"), "{text}");
        assert_eq!(
            proxy.call::<_, u64>("add", (big, big)).await.expect("u64"),
            1 << 63
        );
        // 2^64 and beyond: no integer type holds it; a float does.
        let text = decode_error(
            proxy
                .call::<_, u64>("add", (u64::MAX, 1u64))
                .await
                .map(|v| v.to_string()),
        );
        assert!(text.contains("expected u64"), "{text}");
        let f: f64 = proxy.call("add", (u64::MAX, u64::MAX)).await.expect("f64");
        assert_eq!(f, 2.0 * u64::MAX as f64);
        // None where a value is expected, nested tuples.
        let none = proxy.call::<_, i64>("echo", ((),)).await.expect_err("None");
        assert!(
            matches!(none, agentwire::RpcError::Decode { .. }),
            "{none:?}"
        );
        assert_eq!(
            proxy
                .call::<_, Option<i64>>("echo", ((),))
                .await
                .expect("None"),
            None
        );
        let nested: ((i64, (i64, i64)), i64) = proxy
            .call("echo", (((1, (2, 3)), 4),))
            .await
            .expect("nested");
        assert_eq!(nested, ((1, (2, 3)), 4));
        // A lone surrogate (no Rust string holds one) coming back: a value
        // is a decode error; in an exception's text, the text is kept as
        // Python wrote it.
        let raw =
            serde_json::value::RawValue::from_string(r#""\ud800""#.to_owned()).expect("raw JSON");
        let err = proxy
            .call::<_, String>("echo", (&raw,))
            .await
            .expect_err("no str");
        assert!(matches!(err, agentwire::RpcError::Decode { .. }), "{err:?}");
        let err = proxy
            .call::<_, ()>("fail", (&raw,))
            .await
            .expect_err("raises");
        let message = err.remote_message().expect("a remote error");
        assert!(
            message.contains("ValueError") && message.contains("ud800"),
            "{message}"
        );
        let odd = "ünï \u{1F389} \0 \"x\"\n";
        let err = proxy
            .call::<_, ()>("fail", (odd,))
            .await
            .expect_err("raises");
        assert!(err.remote_message().expect("remote").contains(odd), "{err}");
        assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);

        // The server dies with a call in flight.
        let call = {
            let proxy = proxy.clone();
            tokio::spawn(async move {
                proxy
                    .call::<_, String>("echo", ("x".repeat(8 << 20),))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = child.0.kill();
        let _ = child.0.wait();
        let lost = tokio::time::timeout(Duration::from_secs(20), call)
            .await
            .expect("the call ends")
            .expect("task");
        // (The echo may have made it back before the kill.)
        if let Err(e) = lost {
            assert!(matches!(e, agentwire::RpcError::Connection { .. }), "{e:?}");
        }
        let after =
            tokio::time::timeout(Duration::from_secs(20), proxy.call::<_, i64>("add", (1, 2)))
                .await
                .expect("the next call ends");
        assert!(after.is_err(), "{after:?}");
        c.shutdown().await;
    })
    .await;
}
