//! The README's Rust snippets, compiled (and run where they need no fixed
//! port or broker): each README block is a region of this file (or of
//! `agentwire-debug/tests/debug/readme.rs` for the debugging toolkit's)
//! between `// README begin` and `// README end`, and
//! [`every_readme_snippet_is_compiled_here`] checks that the README shows
//! exactly those regions, so a snippet cannot drift from the API.

use std::error::Error;
use std::sync::{Arc, Mutex};

use transport_local::LocalNetwork;

type Result<T = ()> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// The regions of `source` between the markers, each without the marker's
/// indentation.
fn regions(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current: Option<(usize, Vec<&str>)> = None;
    for line in source.lines() {
        let trimmed = line.trim_start();
        if trimmed == "// README begin" {
            current = Some((line.len() - trimmed.len(), Vec::new()));
        } else if trimmed == "// README end" {
            if let Some((_, lines)) = current.take() {
                found.push(lines.join("\n"));
            }
        } else if let Some((indent, lines)) = &mut current {
            lines.push(line.get(*indent..).unwrap_or("").trim_end());
        }
    }
    found
}

/// The README's Rust code blocks.
fn readme_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in readme.lines() {
        match &mut current {
            None if line.starts_with("```rust") => current = Some(Vec::new()),
            Some(lines) if line == "```" => {
                blocks.push(lines.join("\n"));
                current = None;
            }
            Some(lines) => lines.push(line),
            None => {}
        }
    }
    blocks
}

#[test]
fn every_readme_snippet_is_compiled_here() {
    let readme = include_str!("../../README.md");
    let mut compiled = regions(include_str!("readme.rs"));
    compiled.extend(regions(include_str!(
        "../../agentwire-debug/tests/debug/readme.rs"
    )));
    let blocks = readme_blocks(readme);
    assert!(blocks.len() >= 10, "found {} README blocks", blocks.len());
    for block in &blocks {
        assert!(
            compiled.contains(block),
            "a README snippet that no test compiles:\n{block}"
        );
    }
    for region in &compiled {
        assert!(
            blocks.contains(region),
            "a compiled snippet the README no longer shows:\n{region}"
        );
    }
}

/// The client of "The model in one screen": it keeps what it receives.
#[derive(Default)]
struct MyClient(Arc<Mutex<Vec<u8>>>);

impl transport_api::Protocol for MyClient {
    fn connection_made(&mut self, _: transport_api::SharedTransport) {}

    fn data_received(&mut self, data: bytes::Bytes) {
        self.0
            .lock()
            .expect("not poisoned")
            .extend_from_slice(&data);
    }
}

/// "The model in one screen": an echo server and a client on local queues.
#[tokio::test(flavor = "current_thread")]
#[allow(unused_variables)]
#[rustfmt::skip]
async fn the_model_in_one_screen() -> Result {
    // README begin
    use bytes::Bytes;
    use transport_api::{create_connection, create_server, Protocol, SharedTransport, Transport};

    struct Echo(Option<SharedTransport>);

    impl Protocol for Echo {
        fn connection_made(&mut self, t: SharedTransport) { self.0 = Some(t); }
        fn data_received(&mut self, data: Bytes) {
            if let Some(t) = &self.0 { let _ = t.write(data); }
        }
    }

    let lq = transport_local::LocalNetwork::new().get_queue("echo")?;   // or a TcpAddr, …
    let server = create_server(|| Echo(None), &lq).await?;
    let (transport, protocol) = create_connection(MyClient::default, &lq).await?;
    transport.write(Bytes::from_static(b"hello"))?;
    // README end

    let received = Arc::clone(&protocol.lock().0);
    for _ in 0..1_000 {
        if received.lock().expect("not poisoned").len() >= 5 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(&*received.lock().expect("not poisoned"), b"hello");
    Ok(())
}

/// "Local queues and determinism": a doubling channel server.
#[tokio::test(flavor = "current_thread")]
#[rustfmt::skip]
async fn a_channel() -> Result {
    let addr = LocalNetwork::new().get_queue("doubler")?;
    // README begin
    use agentwire::channel::{Channel, ChannelOptions, Json};

    let options = ChannelOptions::new().codec(Json);      // Bincode is the default
    let server = Channel::start_server(&addr, |channel: Channel<Json>| async move {
        while let Ok(request) = channel.recv().await {
            let n: i64 = request.content().unwrap_or(0);
            let _ = request.reply(&(n * 2)).await;
        }
    }, options.clone()).await?;
    let channel = Channel::open_connection(&addr, options).await?;
    let doubled: i64 = channel.request(&21).await?;
    // README end
    assert_eq!(doubled, 42);
    drop(server);
    Ok(())
}

/// "Agents and containers": the typed agent, and the MQTT one of "Many
/// hosts" (compiled only: they need port 5555 and a broker).
#[rustfmt::skip]
mod typed {
    use agentwire::Container;

    use super::Result;

    // README begin
    use agentwire::agent;

    struct Calc;

    #[agent]
    impl Calc {
        #[expose]
        async fn add(&self, a: i64, b: i64) -> i64 {
            a + b
        }
    }
    // README end

    #[allow(dead_code, unused_variables)]
    async fn on_tcp(other: Container) -> Result {
        // README begin
        let c = Container::create("tcp://127.0.0.1:5555").await?;
        let calc = c.register_agent(Calc)?;       // tcp://127.0.0.1:5555/0

        // from another container: a typed client
        let calc: CalcProxy = other.connect("tcp://127.0.0.1:5555/0").await?.into();
        let three = calc.add(1, 2).await?;        // checked by the compiler
        // README end
        Ok(())
    }

    #[allow(dead_code, unused_variables)]
    async fn on_mqtt() -> Result {
        // README begin
        let here = Container::create("mqtt://broker.example:1883/site-a").await?;
        here.register_agent(Calc)?;                         // mqtt://broker.example:1883/site-a/0
        let far: CalcProxy = here.connect("mqtt://broker.example:1883/site-b/0").await?.into();
        let sum = far.add(1, 2).await?;                     // the same code over tcp:// or tls://
        // README end
        Ok(())
    }

    /// The same code on local queues, run.
    #[tokio::test(flavor = "current_thread")]
    async fn the_typed_client_calls() -> Result {
        let c = Container::create("local://readme-calc").await?;
        let calc = c.register_agent(Calc)?;
        let other = Container::create("local://readme-other").await?;
        let calc: CalcProxy = other.connect(calc.url()).await?.into();
        assert_eq!(calc.add(1, 2).await?, 3);
        other.shutdown().await;
        c.shutdown().await;
        Ok(())
    }
}

/// "Agents and containers", untyped: two TCP containers on free ports.
#[tokio::test(flavor = "current_thread")]
#[rustfmt::skip]
async fn an_untyped_agent() -> Result {
    let a = agentwire::Container::create(("127.0.0.1", 0)).await?;
    // README begin
    use std::convert::Infallible;
    use agentwire::{Container, Router};

    let b = Container::create(("127.0.0.1", 0)).await?;            // JSON codec, as aiomas
    let calc = b.register("Calc", Router::new()
        .method("add", |(x, y): (i64, i64)| async move { Ok::<_, Infallible>(x + y) }))?;
    let proxy = a.connect(calc.url()).await?;                       // checks validate_aid
    let sum: i64 = proxy.call("add", (1, 2)).await?;
    // README end
    assert_eq!(sum, 3);
    a.shutdown().await;
    b.shutdown().await;
    Ok(())
}

/// "Clocks": an external clock stepped by a co-simulation.
#[tokio::test(flavor = "current_thread")]
#[allow(unused_variables)]
#[rustfmt::skip]
async fn an_external_clock() -> Result {
    use std::time::Duration;

    use agentwire::clock::{Clock, ExternalClock};
    // README begin
    let clock = ExternalClock::from_date("2016-01-01T00:00:00Z".parse()?);
    let agent_wakes = clock.sleep(Duration::from_secs(10));   // an agent waits
    let timer = clock.call_in(Duration::from_secs(5), Box::new(|| println!("5 s")))?;
    clock.set_time(Duration::from_secs(10))?;                 // the simulation steps: "5 s"
    agent_wakes.await;
    assert_eq!(clock.utcnow().to_rfc3339(), "2016-01-01T00:00:10+00:00");
    // README end
    Ok(())
}
