//! `#[agent]` on local queues: exposed methods, typed clients, parameters
//! by position and by name, contexts, sub-services.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use agentwire::channel::Bincode;
use agentwire::local::LocalNetwork;
use agentwire::{agent, AgentContext, Container, ContainerError, ContainerOptions, RpcError};
use serde_json::json;

struct Calc;

#[agent]
impl Calc {
    #[expose]
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

/// Exercises what `#[agent]` accepts: results, optional parameters,
/// renaming, sync methods, unexposed helpers, state.
#[derive(Default)]
struct Store {
    total: AtomicI64,
}

#[agent(name = "Shop")]
impl Store {
    /// Adds `amount` (times `times`, once by default) to the total.
    #[expose]
    async fn deposit(&self, amount: i64, times: Option<i64>) -> i64 {
        let added = amount * times.unwrap_or(1);
        self.total.fetch_add(added, Ordering::SeqCst) + added
    }

    #[expose(name = "take")]
    async fn withdraw(&self, amount: i64) -> Result<i64, String> {
        let total = self.total.load(Ordering::SeqCst);
        if amount > total {
            return Err(format!("only {total} left"));
        }
        Ok(self.total.fetch_sub(amount, Ordering::SeqCst) - amount)
    }

    #[expose]
    fn total(&self) -> i64 {
        self.helper()
    }

    #[expose]
    async fn greet(&self, name: String, greeting: Option<String>, punct: Option<String>) -> String {
        format!(
            "{}, {name}{}",
            greeting.as_deref().unwrap_or("Hello"),
            punct.as_deref().unwrap_or("!")
        )
    }

    #[expose]
    async fn nothing(&self) {}

    fn helper(&self) -> i64 {
        self.total.load(Ordering::SeqCst)
    }
}

fn options() -> ContainerOptions {
    ContainerOptions::new().local_network(LocalNetwork::new())
}

#[tokio::test]
async fn a_typed_client_calls_the_exposed_methods() {
    let container = Container::create_with("local://typed", options())
        .await
        .unwrap();
    let calc = container.register_agent(Calc).unwrap();
    let store = container.register_agent(Store::default()).unwrap();
    assert_eq!((calc.id(), store.id()), ("0", "1"));
    assert_eq!(store.url(), "local://typed/1");

    let client: CalcProxy = container.connect(calc.url()).await.unwrap().into();
    assert_eq!(client.proxy().class_name(), Some("Calc"));
    assert_eq!(client.add(40, 2).await.unwrap(), 42);

    let shop: StoreProxy = container.connect(store.url()).await.unwrap().into();
    assert_eq!(shop.proxy().class_name(), Some("Shop"));
    assert_eq!(shop.deposit(5, None).await.unwrap(), 5);
    assert_eq!(shop.deposit(5, Some(3)).await.unwrap(), 20);
    assert_eq!(shop.withdraw(8).await.unwrap(), 12);
    match shop.withdraw(100).await {
        Err(RpcError::Remote { message, .. }) => assert_eq!(message, "only 12 left"),
        other => panic!("expected a remote error, got {other:?}"),
    }
    assert_eq!(shop.total().await.unwrap(), 12);
    assert_eq!(
        store.total.load(Ordering::SeqCst),
        12,
        "the handle derefs to the agent"
    );
    shop.nothing().await.unwrap();
    assert_eq!(
        shop.greet("Ada".into(), None, Some("?".into()))
            .await
            .unwrap(),
        "Hello, Ada?"
    );
    // The wire name of `withdraw` is `take`.
    let raw = shop.proxy();
    assert_eq!(raw.call::<_, i64>("take", (2,)).await.unwrap(), 10);
    assert!(raw.call::<_, i64>("withdraw", (2,)).await.is_err());
    container.shutdown().await;
}

#[tokio::test]
async fn parameters_by_position_and_by_name_as_python_passes_them() {
    let container = Container::create_with("local://kw", options())
        .await
        .unwrap();
    let store = container.register_agent(Store::default()).unwrap();
    let proxy = container.connect(store.url()).await.unwrap();
    let greet = |args: serde_json::Value, kwargs: serde_json::Value| {
        let proxy = proxy.clone();
        async move {
            let args: Vec<serde_json::Value> = serde_json::from_value(args).unwrap();
            match args.len() {
                0 => {
                    proxy
                        .call_with_kwargs::<_, _, String>("greet", (), &kwargs)
                        .await
                }
                1 => {
                    proxy
                        .call_with_kwargs::<_, _, String>("greet", (args[0].clone(),), &kwargs)
                        .await
                }
                _ => {
                    proxy
                        .call_with_kwargs::<_, _, String>(
                            "greet",
                            (args[0].clone(), args[1].clone(), args.get(2).cloned()),
                            &kwargs,
                        )
                        .await
                }
            }
        }
    };
    assert_eq!(
        greet(json!(["Ada"]), json!({})).await.unwrap(),
        "Hello, Ada!"
    );
    assert_eq!(
        greet(json!([]), json!({"name": "Ada"})).await.unwrap(),
        "Hello, Ada!"
    );
    assert_eq!(
        greet(json!(["Ada"]), json!({"punct": ".", "greeting": "Hi"}))
            .await
            .unwrap(),
        "Hi, Ada."
    );
    assert_eq!(
        greet(json!(["Ada", "Hey"]), json!({})).await.unwrap(),
        "Hey, Ada!"
    );
    // A null for an optional parameter is None, as Python's default.
    assert_eq!(
        greet(json!(["Ada", null, null]), json!({})).await.unwrap(),
        "Hello, Ada!"
    );

    let remote = |r: Result<String, RpcError>| match r {
        Err(RpcError::Remote { message, .. }) => message,
        other => panic!("expected a remote error, got {other:?}"),
    };
    let unknown = remote(greet(json!(["Ada"]), json!({"salutation": "Yo"})).await);
    assert!(
        unknown.contains("unexpected keyword argument \"salutation\""),
        "{unknown}"
    );
    assert!(unknown.contains("name, greeting, punct"), "{unknown}");
    // A peer's long keyword is named by its start and length only.
    let long = "k".repeat(100_000);
    let named = remote(greet(json!(["Ada"]), json!({ long.as_str(): "Yo" })).await);
    assert!(named.len() < 2_000, "{} bytes of error", named.len());
    assert!(named.contains("… (100000 bytes)"), "{}", &named[..300]);
    let missing = remote(greet(json!([]), json!({"greeting": "Yo"})).await);
    assert!(
        missing.contains("missing required argument \"name\""),
        "{missing}"
    );
    let twice = remote(greet(json!(["Ada"]), json!({"name": "Bob"})).await);
    assert!(
        twice.contains("multiple values for argument \"name\""),
        "{twice}"
    );
    let wrong = remote(greet(json!([1]), json!({})).await);
    assert!(wrong.contains("argument \"name\""), "{wrong}");
    let too_many = proxy
        .call::<_, i64>("deposit", (1, 2, 3))
        .await
        .expect_err("three arguments for two parameters");
    assert!(
        too_many
            .to_string()
            .contains("takes 2 positional arguments"),
        "{too_many}"
    );
    // The connection goes on.
    assert_eq!(
        greet(json!(["Ada"]), json!({})).await.unwrap(),
        "Hello, Ada!"
    );
    container.shutdown().await;
}

#[tokio::test]
async fn typed_agents_work_with_bincode_too() {
    let options = options().codec(Bincode);
    let container = Container::create_with("local://bin", options)
        .await
        .unwrap();
    let store = container.register_agent(Store::default()).unwrap();
    let shop: StoreProxy<Bincode> = container.connect(store.url()).await.unwrap().into();
    assert_eq!(shop.deposit(2, Some(2)).await.unwrap(), 4);
    assert_eq!(shop.deposit(1, None).await.unwrap(), 5);
    assert_eq!(
        shop.greet("Bo".into(), Some("Hi".into()), None)
            .await
            .unwrap(),
        "Hi, Bo!"
    );
    container.shutdown().await;
}

/// An agent that keeps its context: it knows its URL and calls others.
struct Relay {
    ctx: AgentContext,
    calls: AtomicI64,
}

#[agent]
impl Relay {
    #[expose]
    async fn whoami(&self) -> String {
        self.ctx.url().to_owned()
    }

    /// Adds on the `Calc` at `url`, from this agent's container.
    #[expose]
    async fn add_via(&self, url: String, a: i64, b: i64) -> Result<i64, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let calc: CalcProxy = self
            .ctx
            .connect(&url)
            .await
            .map_err(|e| e.to_string())?
            .into();
        calc.add(a, b).await.map_err(|e| e.to_string())
    }

    #[expose]
    async fn now(&self) -> f64 {
        self.ctx.clock().time().as_secs_f64()
    }
}

#[tokio::test]
async fn an_agent_knows_its_url_container_and_clock() {
    let net = LocalNetwork::new();
    let clock = Arc::new(agentwire::clock::ExternalClock::new());
    let opts = ContainerOptions::new()
        .local_network(net.clone())
        .clock(clock.clone());
    let a = Container::create_with("local://ctx-a", opts.clone())
        .await
        .unwrap();
    let b = Container::create_with("local://ctx-b", opts).await.unwrap();
    let calc = b.register_agent(Calc).unwrap();
    let relay = a
        .register_agent_with(|ctx| Relay {
            ctx,
            calls: AtomicI64::new(0),
        })
        .unwrap();
    assert_eq!(relay.context().url(), "local://ctx-a/0");
    assert!(relay.context().container().is_some());

    let client: RelayProxy = b.connect(relay.url()).await.unwrap().into();
    assert_eq!(client.whoami().await.unwrap(), "local://ctx-a/0");
    assert_eq!(
        client.add_via(calc.url().to_owned(), 2, 3).await.unwrap(),
        5
    );
    assert_eq!(relay.calls.load(Ordering::SeqCst), 1);
    clock.set_time(std::time::Duration::from_secs(7)).unwrap();
    assert_eq!(client.now().await.unwrap(), 7.0);
    a.shutdown().await;
    b.shutdown().await;
}

/// An agent whose `make` panics leaves no agent behind: its id answers
/// as an id never given (not as an agent that serves nothing), it is not
/// given again, and the container goes on registering and serving.
#[tokio::test]
async fn an_agent_whose_make_panics_is_not_registered() {
    let container = Container::create_with("local://make-panics", options())
        .await
        .unwrap();
    let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        container.register_agent_with(|_| -> Calc { panic!("no calculator today") })
    }));
    assert!(made.is_err(), "the panic reaches the caller");
    assert_eq!(container.agent_count(), 0);

    let calc = container.register_agent(Calc).unwrap();
    assert_eq!(
        calc.url(),
        "local://make-panics/1",
        "id 0 is not given again"
    );
    assert_eq!(container.agent_count(), 1);
    match container.connect("local://make-panics/0").await {
        Err(ContainerError::AgentNotFound { aid, .. }) => assert_eq!(aid, "0"),
        other => panic!(
            "expected AgentNotFound for id 0, got {:?}",
            other.map(|_| ())
        ),
    }
    let proxy: CalcProxy = container.connect(calc.url()).await.unwrap().into();
    assert_eq!(proxy.add(2, 3).await.unwrap(), 5);
    container.shutdown().await;
}

struct Tools;

#[agent]
impl Tools {
    #[expose]
    async fn double(&self, x: i64) -> i64 {
        2 * x
    }
}

struct Workshop {
    tools: Arc<Tools>,
}

#[agent]
impl Workshop {
    #[expose]
    async fn name(&self) -> String {
        "workshop".into()
    }

    #[service]
    fn tools(&self) -> Arc<Tools> {
        Arc::clone(&self.tools)
    }
}

#[tokio::test]
async fn a_sub_service_answers_at_its_sub_path() {
    let container = Container::create_with("local://sub", options())
        .await
        .unwrap();
    let shop = container
        .register_agent(Workshop {
            tools: Arc::new(Tools),
        })
        .unwrap();
    let client: WorkshopProxy = container.connect(shop.url()).await.unwrap().into();
    assert_eq!(client.name().await.unwrap(), "workshop");
    assert_eq!(client.tools().double(21).await.unwrap(), 42);
    assert_eq!(client.tools().proxy().prefix(), "agents/0/tools");
    let raw = client.proxy();
    assert_eq!(raw.call::<_, i64>("tools/double", (4,)).await.unwrap(), 8);
    container.shutdown().await;
}

/// An agent whose method panics, and one that takes bytes.
struct Fragile;

#[agent]
impl Fragile {
    #[expose]
    async fn boom(&self, why: String) -> i64 {
        panic!("{why}")
    }

    #[expose]
    fn len(&self, data: serde_bytes::ByteBuf) -> usize {
        data.len()
    }
}

/// A peer calls typed agents wrongly, on every codec: wrong arity, wrong
/// types, unknown keywords and methods, a large payload, a method that
/// panics. Each is a remote error naming what was wrong (bincode, which
/// is not self-describing, cannot always tell a wrong type); the
/// connection goes on.
async fn malformed_calls_on<C: agentwire::channel::Codec + Default>(name: &str) {
    let options = options().codec(C::default());
    let container = Container::create_with(format!("local://malformed-{name}"), options)
        .await
        .unwrap();
    let store = container.register_agent(Store::default()).unwrap();
    let fragile = container.register_agent(Fragile).unwrap();
    let proxy = container.connect(store.url()).await.unwrap();
    let fragile = container.connect(fragile.url()).await.unwrap();
    let remote = |what: &str, r: Result<i64, RpcError>| match r {
        Err(RpcError::Remote { message, .. }) => message,
        other => panic!("{name} {what}: expected a remote error, got {other:?}"),
    };
    let self_describing = name != "bincode";
    let too_many = remote("too many", proxy.call("deposit", (1, 2, 3)).await);
    assert!(
        !self_describing || too_many.contains("takes 2 positional arguments"),
        "{too_many}"
    );
    let too_few = remote("too few", proxy.call("deposit", ()).await);
    // (bincode's errors print as their Debug form, quotes escaped.)
    assert!(
        too_few.contains("missing required argument") && too_few.contains("amount"),
        "{too_few}"
    );
    let wrong = remote("wrong type", proxy.call("deposit", ("abc",)).await);
    assert!(
        !self_describing || wrong.contains("argument \"amount\""),
        "{wrong}"
    );
    let kwargs = std::collections::BTreeMap::from([("bogus", 1)]);
    let extra = remote(
        "extra keyword",
        proxy.call_with_kwargs("deposit", (1,), &kwargs).await,
    );
    assert!(
        extra.contains("unexpected keyword argument") && extra.contains("bogus"),
        "{extra}"
    );
    let unknown = remote("unknown", proxy.call("nope", ()).await);
    assert!(unknown.contains("no such method"), "{unknown}");
    let boom = remote("boom", fragile.call("boom", ("bad",)).await);
    assert!(boom.contains("panicked: bad"), "{boom}");
    let data = serde_bytes::ByteBuf::from(vec![7u8; 1 << 20]);
    assert_eq!(
        fragile.call::<_, usize>("len", (data,)).await.unwrap(),
        1 << 20
    );
    assert_eq!(proxy.call::<_, i64>("deposit", (1,)).await.unwrap(), 1);
    container.shutdown().await;
}

#[tokio::test]
async fn malformed_calls_to_typed_agents() {
    malformed_calls_on::<agentwire::channel::Json>("json").await;
    malformed_calls_on::<Bincode>("bincode").await;
    malformed_calls_on::<agentwire::channel::MsgPack>("msgpack").await;
}
