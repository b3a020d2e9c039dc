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
    let ready = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
        .await
        .expect("reader");
    let line = ready.expect("peer.py prints READY");
    let url = line
        .strip_prefix("READY ")
        .expect("READY url")
        .trim()
        .to_owned();
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
    tokio::task::spawn_blocking(aiomas::python)
        .await
        .expect("venv");
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
