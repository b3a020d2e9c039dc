//! Containers through an MQTT broker across processes: this test binary
//! starts itself again as a second process (the `mqtt_peer_process` helper
//! below), and agents in the two processes call each other through the
//! embedded broker, both ways.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use agentwire::container::ConnectOptions;
use agentwire::mqtt::MqttAddr;
use agentwire::{Container, ContainerOptions};

use crate::support::{brokers, calc, error_chain, mqtt_pki::Pki};

/// Set in the environment of the helper process: the container URL it
/// serves on, and the agent URL in the parent it calls.
const SERVE: &str = "AGENTWIRE_MQTT_PEER_SERVE";
const CALL: &str = "AGENTWIRE_MQTT_PEER_CALL";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_in_two_processes_call_each_other_through_the_broker() {
    let port = brokers::rumqttd();
    let base = format!("mqtt://127.0.0.1:{port}/processes/{}", std::process::id());
    let here = Container::create(format!("{base}/parent").as_str())
        .await
        .expect("parent container");
    let parent_agent = here.register("Calc", calc()).expect("register");

    let exe = std::env::current_exe().expect("this test binary");
    let mut child = Command::new(exe)
        .args([
            "mqtt::mqtt_peer_process",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(SERVE, format!("{base}/child"))
        .env(CALL, parent_agent.url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the helper process");
    let stdout = child.stdout.take().expect("piped");
    let (child_url, called_back) = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        let mut url = None;
        let mut called = None;
        for line in lines.by_ref() {
            if let Some(u) = line.strip_prefix("AGENT ") {
                url = Some(u.to_owned());
            }
            if let Some(r) = line.strip_prefix("CALLED ") {
                called = Some(r.to_owned());
                break;
            }
        }
        // Keep reading, so the helper's test harness can print its summary.
        std::thread::spawn(move || lines.for_each(drop));
        (url, called)
    })
    .await
    .expect("reader");
    let child_url = child_url.expect("the helper printed its agent's URL");
    assert!(child_url.starts_with("mqtt://127.0.0.1:"), "{child_url}");
    assert_eq!(
        called_back.as_deref(),
        Some("5"),
        "the helper's call to our agent"
    );

    let proxy = here
        .connect(&child_url)
        .await
        .expect("connect to the other process");
    assert_eq!(proxy.call::<_, i64>("add", (40, 2)).await.expect("add"), 42);
    let err = proxy
        .call::<_, ()>("fail", ("far away",))
        .await
        .expect_err("fails");
    assert!(err.remote_message().expect("remote").contains("far away"));

    // Closing its stdin tells the helper to shut down.
    drop(child.stdin.take());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("waiter")
        .expect("wait");
    assert!(status.success(), "helper process failed: {status}");
    here.shutdown().await;
}

/// The second process of the test above; does nothing unless started by
/// it (with its environment variables set).
#[test]
#[ignore = "a helper that the test above starts as a process of its own"]
fn mqtt_peer_process() {
    let (Ok(serve), Ok(call)) = (std::env::var(SERVE), std::env::var(CALL)) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let c = Container::create(serve.as_str())
            .await
            .expect("child container");
        let agent = c.register("Calc", calc()).expect("register");
        println!("AGENT {}", agent.url());
        let parent = c.connect(&call).await.expect("connect to the parent");
        let sum: i64 = parent.call("add", (2, 3)).await.expect("call the parent");
        println!("CALLED {sum}");
        std::io::stdout().flush().expect("flush");
        tokio::task::spawn_blocking(|| {
            let mut buf = String::new();
            while std::io::stdin()
                .read_line(&mut buf)
                .map(|n| n > 0)
                .unwrap_or(false)
            {}
        })
        .await
        .expect("stdin");
        c.shutdown().await;
    });
}

/// Containers on a TLS broker (`mqtts://`): the TLS client configuration
/// reaches the broker wherever it was given, as for `tls://` containers:
/// the container's options, the address it was created on, or one connect's
/// options.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_on_a_tls_broker() {
    let pki = Pki::new("containers");
    let Some(broker) = pki.broker(false) else {
        eprintln!("mqtts containers: NOT RUN, the mosquitto binary is not installed");
        return;
    };
    let base = format!(
        "mqtts://127.0.0.1:{}/tls-containers/{}",
        broker.port,
        std::process::id()
    );
    // Configured through its options.
    let a = Container::create_with(
        format!("{base}/a").as_str(),
        ContainerOptions::new().tls_client_config(pki.client(false)),
    )
    .await
    .expect("a container on mqtts");
    let a_agent = a.register("Calc", calc()).expect("register");
    // Configured through the address it serves on.
    let b_addr = format!("{base}/b")
        .parse::<MqttAddr>()
        .expect("a URL")
        .with_tls_config(pki.client(false));
    let b = Container::create(b_addr)
        .await
        .expect("b container on mqtts");
    let b_agent = b.register("Calc", calc()).expect("register");

    let sum: i64 = a
        .connect(b_agent.url())
        .await
        .expect("a connects to b")
        .call("add", (1, 2))
        .await
        .expect("a calls b");
    assert_eq!(sum, 3);
    let sum: i64 = b
        .connect(a_agent.url())
        .await
        .expect("b connects to a with its own address's configuration")
        .call("add", (3, 4))
        .await
        .expect("b calls a");
    assert_eq!(sum, 7);

    // A container with no TLS configuration: one connect's options give it.
    let plain = Container::create_with(
        "local://plain",
        ContainerOptions::new().local_network(agentwire::local::LocalNetwork::new()),
    )
    .await
    .expect("a local container");
    let err = plain
        .connect(a_agent.url())
        .await
        .expect_err("no TLS client configuration");
    let text = error_chain(&err);
    assert!(
        text.contains(a_agent.url()) || text.contains(&base),
        "{text}"
    );
    assert!(text.contains("TLS client configuration"), "{text}");
    let sum: i64 = plain
        .connect_with(
            a_agent.url(),
            &ConnectOptions::new().tls_client_config(pki.client(false)),
        )
        .await
        .expect("the connect's own configuration")
        .call("add", (5, 6))
        .await
        .expect("calls a");
    assert_eq!(sum, 11);
    for c in [&a, &b, &plain] {
        c.shutdown().await;
    }
}
