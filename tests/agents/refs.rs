//! Values that travel as aiomas's `{"__type__": [typeid, data]}` between
//! Rust containers: agent references (arriving as proxies that call back)
//! and `#[serializable]` types.

use std::sync::Mutex;

use agentwire::channel::{Bincode, Codec, Json};
use agentwire::clock::chrono;
use agentwire::local::LocalNetwork;
use agentwire::rpc::{Date, Proxy};
use agentwire::{agent, serializable, AgentContext, Container, ContainerOptions, RpcError};

pub(crate) struct Pinger;

#[agent]
impl Pinger {
    #[expose]
    async fn ping(&self, n: i64) -> i64 {
        n + 1
    }
}

/// Keeps the proxies it is given and calls them back.
pub(crate) struct Hub {
    pub(crate) ctx: AgentContext,
    pub(crate) members: Mutex<Vec<PingerProxy>>,
}

#[agent]
impl Hub {
    /// Calls `who` back at once, and keeps it.
    #[expose]
    async fn subscribe(&self, who: PingerProxy) -> Result<i64, String> {
        let answer = who.ping(41).await.map_err(|e| e.to_string())?;
        self.members.lock().unwrap().push(who);
        Ok(answer)
    }

    /// The hub itself, as a result.
    #[expose]
    async fn myself(&self) -> agentwire::AgentRef {
        self.ctx.me()
    }

    #[expose]
    async fn count(&self) -> usize {
        self.members.lock().unwrap().len()
    }

    /// Tries to send back a proxy it was given (which aiomas cannot).
    #[expose]
    async fn echo_member(&self) -> Result<PingerProxy, String> {
        self.members
            .lock()
            .unwrap()
            .first()
            .cloned()
            .ok_or("none".into())
    }
}

fn options(net: &LocalNetwork) -> ContainerOptions {
    ContainerOptions::new().local_network(net.clone())
}

#[tokio::test]
async fn an_agent_passed_as_an_argument_is_called_back() {
    let net = LocalNetwork::new();
    let a = Container::create_with("local://ref-a", options(&net))
        .await
        .unwrap();
    let b = Container::create_with("local://ref-b", options(&net))
        .await
        .unwrap();
    let pinger = a.register_agent(Pinger).unwrap();
    let hub = b
        .register_agent_with(|ctx| Hub {
            ctx,
            members: Mutex::new(Vec::new()),
        })
        .unwrap();

    let remote: HubProxy = a.connect(hub.url()).await.unwrap().into();
    assert_eq!(remote.subscribe(pinger.reference()).await.unwrap(), 42);
    // The reference is kept and still calls back over the same connection.
    let member = hub.members.lock().unwrap()[0].clone();
    assert_eq!(member.ping(1).await.unwrap(), 2);
    assert_eq!(member.proxy().prefix(), "agents/0");

    // An agent reference as a result arrives as a proxy too.
    let again: HubProxy = remote.myself().await.unwrap().into();
    assert_eq!(again.count().await.unwrap(), 1);
    assert!(again
        .proxy()
        .connection()
        .ptr_eq(remote.proxy().connection()));

    // A proxy cannot be sent back: the error names it, the connection goes on.
    let err = remote
        .echo_member()
        .await
        .expect_err("a proxy is not sendable");
    assert!(err.to_string().contains("cannot be sent"), "{err}");
    assert_eq!(remote.count().await.unwrap(), 1);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn only_a_containers_own_agents_can_be_sent_over_its_connections() {
    let net = LocalNetwork::new();
    let a = Container::create_with("local://own-a", options(&net))
        .await
        .unwrap();
    let b = Container::create_with("local://own-b", options(&net))
        .await
        .unwrap();
    let c = Container::create_with("local://own-c", options(&net))
        .await
        .unwrap();
    let hub = b
        .register_agent_with(|ctx| Hub {
            ctx,
            members: Mutex::new(Vec::new()),
        })
        .unwrap();
    // An agent of `c`, sent over `a`'s connection to `b`.
    let stranger = c.register_agent(Pinger).unwrap();
    let remote = a.connect(hub.url()).await.unwrap();
    let err = remote
        .call::<_, i64>("subscribe", (&stranger,))
        .await
        .expect_err("c's agent is not served on a's connection");
    assert!(err.to_string().contains("local://own-c/0"), "{err}");
    assert!(
        err.to_string().contains("not served on this connection"),
        "{err}"
    );
    // Outside a call, a reference cannot be encoded at all.
    let err = serde_json::to_string(&stranger).expect_err("no connection");
    assert!(err.to_string().contains("local://own-c/0"), "{err}");
    // The connection goes on.
    let _: Proxy = a.connect(hub.url()).await.unwrap();
    for c in [a, b, c] {
        c.shutdown().await;
    }
}

#[serializable]
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Point {
    pub(crate) x: f64,
    pub(crate) y: f64,
}

#[serializable]
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Circle { center: Point, radius: f64 },
    Dot(Point),
}

pub(crate) struct Geometry;

#[agent]
impl Geometry {
    #[expose]
    async fn mid(&self, a: Point, b: Point) -> Point {
        Point {
            x: (a.x + b.x) / 2.0,
            y: (a.y + b.y) / 2.0,
        }
    }

    #[expose]
    async fn later(&self, date: Date, days: i64) -> Date {
        Date(date.0 + chrono::Duration::days(days))
    }

    #[expose]
    async fn grow(&self, shape: Shape) -> Shape {
        match shape {
            Shape::Dot(p) => Shape::Circle {
                center: p,
                radius: 1.0,
            },
            Shape::Circle { center, radius } => Shape::Circle {
                center,
                radius: radius * 2.0,
            },
        }
    }
}

async fn custom_types_round_trip<C: Codec>(codec: C, name: &str) {
    let net = LocalNetwork::new();
    let opts = options(&net)
        .codec(codec)
        .serializer::<Point>()
        .serializer::<Shape>();
    let a = Container::create_with(format!("local://{name}-a"), opts.clone())
        .await
        .unwrap();
    let b = Container::create_with(format!("local://{name}-b"), opts)
        .await
        .unwrap();
    let geo = b.register_agent(Geometry).unwrap();
    let remote: GeometryProxy<C> = a.connect(geo.url()).await.unwrap().into();
    let (p, q) = (Point { x: 0.0, y: 2.0 }, Point { x: 4.0, y: 4.0 });
    assert_eq!(
        remote.mid(p.clone(), q).await.unwrap(),
        Point { x: 2.0, y: 3.0 }
    );
    assert_eq!(
        remote.grow(Shape::Dot(p.clone())).await.unwrap(),
        Shape::Circle {
            center: p,
            radius: 1.0
        }
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn serializable_types_round_trip_with_json() {
    custom_types_round_trip(Json, "ser-json").await;
}

#[tokio::test]
async fn serializable_types_round_trip_with_bincode() {
    custom_types_round_trip(Bincode, "ser-bin").await;
}

#[tokio::test]
async fn a_serializable_type_travels_in_aiomas_format_and_must_be_registered() {
    let net = LocalNetwork::new();
    // Type ids: 0 is aiomas's date, then Shape, then Point.
    let opts = options(&net).serializer::<Shape>().serializer::<Point>();
    let b = Container::create_with("local://fmt-b", opts).await.unwrap();
    let geo = b.register_agent(Geometry).unwrap();
    let a = Container::create_with("local://fmt-a", options(&net))
        .await
        .unwrap();
    let remote = a.connect(geo.url()).await.unwrap();
    // What a peer without the serializer sends: the raw aiomas form.
    let p = serde_json::json!({"__type__": [2, {"x": 1.0, "y": 1.0}]});
    let q = serde_json::json!({"__type__": [2, {"x": 3.0, "y": 5.0}]});
    let mid: serde_json::Value = remote.call("mid", (p.clone(), q)).await.unwrap();
    assert_eq!(
        mid,
        serde_json::json!({"__type__": [2, {"x": 2.0, "y": 3.0}]})
    );
    // The wrong type id is refused, naming both.
    let wrong = serde_json::json!({"__type__": [1, {"x": 1.0, "y": 1.0}]});
    let err = remote
        .call::<_, serde_json::Value>("mid", (p, wrong))
        .await
        .unwrap_err();
    assert!(matches!(err, RpcError::Remote { .. }), "{err}");
    assert!(err.to_string().contains("type id 1 where"), "{err}");
    // `a` has no serializer for Point: sending one is an error naming it.
    let err = remote
        .call::<_, serde_json::Value>("mid", (Point { x: 0.0, y: 0.0 }, Point { x: 0.0, y: 0.0 }))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no serializer for"), "{err}");
    assert!(err.to_string().contains("Point"), "{err}");
    a.shutdown().await;
    b.shutdown().await;
}
