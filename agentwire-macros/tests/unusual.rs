//! `#[agent]` and `#[serializable]` on unusual but legal input: parameters
//! named like the generated code's own variables, `Self` in signatures,
//! `#[cfg]`-ed and deprecated methods, raw identifiers, `self: &Self`, a
//! method whose wire name is the client's `proxy`, user types named `Data`,
//! `S`, `D` and `C`, custom error types, many methods; and a panicking
//! handler, which answers with an error and leaves the agent serving.
#![deny(warnings)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt;

use agentwire::local::LocalNetwork;
use agentwire::{agent, serializable, Container, ContainerOptions, RpcError};
use serde::{Deserialize, Serialize};

/// Named as the helper types and parameters that `#[serializable]` writes.
#[serializable]
#[derive(Debug, Clone, PartialEq)]
struct Data {
    x: i64,
}

#[serializable]
#[derive(Debug, Clone, PartialEq)]
enum S {
    A,
    B(i64),
}

#[serializable]
#[derive(Debug, Clone, PartialEq)]
struct D(i64);

/// Named as the codec parameter of the generated code.
#[serializable]
#[derive(Debug, Clone, PartialEq)]
struct C {
    v: String,
}

/// An error type of our own.
#[derive(Debug)]
struct Refusal(i64);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused {}", self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Odd {
    n: i64,
}

#[agent]
impl Odd {
    /// Parameters named as the generated code's variables.
    #[expose]
    #[inline]
    async fn sum(&self, this: i64, router: i64) -> i64 {
        this + router + self.n
    }

    /// `Self` is the agent's type, for the client too.
    #[expose]
    fn me(&self) -> Self {
        self.clone()
    }

    #[expose]
    fn take(&self, other: Self, more: Option<Vec<Self>>) -> i64 {
        other.n + more.unwrap_or_default().iter().map(|o| o.n).sum::<i64>()
    }

    #[expose]
    fn types(&self, data: Data, s: S, d: D, c: C) -> (Data, S, D, C) {
        (Data { x: data.x + 1 }, s, D(d.0 * 2), c)
    }

    #[expose]
    fn custom(&self, fail: bool) -> Result<(), Refusal> {
        if fail {
            Err(Refusal(self.n))
        } else {
            Ok(())
        }
    }

    #[expose]
    fn unit(&self) {}

    /// Compiled out: no handler, no client method (its types need not
    /// even exist).
    #[cfg(any())]
    #[expose]
    fn gone(&self) -> DoesNotExist {
        DoesNotExist
    }

    #[deprecated(note = "use sum")]
    #[expose]
    fn old(&self) -> i64 {
        self.n
    }

    #[expose]
    fn r#type(&self, r#in: i64) -> i64 {
        r#in
    }

    #[expose]
    fn bump(&self, mut x: i64) -> i64 {
        x += 1;
        x
    }

    #[expose]
    #[allow(clippy::needless_arbitrary_self_type)]
    fn shared(self: &Self) -> i64 {
        self.n
    }

    /// On the wire `proxy`; the client's `proxy()` stays its own.
    #[expose(name = "proxy")]
    fn proxy_method(&self) -> String {
        "the agent's".into()
    }

    #[expose]
    async fn boom(&self, n: i64) -> i64 {
        if n % 2 == 1 {
            panic!("boom {n}");
        }
        n
    }
}

fn options() -> ContainerOptions {
    ContainerOptions::new()
        .local_network(LocalNetwork::new())
        .serializer::<Data>()
        .serializer::<S>()
        .serializer::<D>()
        .serializer::<C>()
}

#[tokio::test]
async fn unusual_signatures_work_as_written() {
    let container = Container::create_with("local://unusual", options())
        .await
        .unwrap();
    let odd = container.register_agent(Odd { n: 7 }).unwrap();
    let client: OddProxy = container.connect(odd.url()).await.unwrap().into();

    assert_eq!(client.sum(1, 2).await.unwrap(), 10);
    let me: Odd = client.me().await.unwrap();
    assert_eq!(me, Odd { n: 7 });
    assert_eq!(
        client
            .take(Odd { n: 1 }, Some(vec![Odd { n: 2 }, Odd { n: 3 }]))
            .await
            .unwrap(),
        6
    );
    let c = C { v: "c".into() };
    assert_eq!(
        client
            .types(Data { x: 1 }, S::B(2), D(3), c.clone())
            .await
            .unwrap(),
        (Data { x: 2 }, S::B(2), D(6), c)
    );
    assert_eq!(
        client
            .types(Data { x: 0 }, S::A, D(0), C { v: String::new() })
            .await
            .unwrap()
            .1,
        S::A
    );
    client.custom(false).await.unwrap();
    match client.custom(true).await {
        Err(RpcError::Remote { message, .. }) => assert_eq!(message, "refused 7"),
        other => panic!("expected the custom error, got {other:?}"),
    }
    client.unit().await.unwrap();
    #[allow(deprecated)]
    let old = client.old().await.unwrap();
    assert_eq!(old, 7);
    assert_eq!(client.r#type(5).await.unwrap(), 5);
    assert_eq!(client.bump(5).await.unwrap(), 6);
    assert_eq!(client.shared().await.unwrap(), 7);
    assert_eq!(client.proxy_method().await.unwrap(), "the agent's");

    // On the wire: the raw names, keywords without `r#`.
    let raw = client.proxy();
    assert_eq!(
        raw.call::<_, String>("proxy", ()).await.unwrap(),
        "the agent's"
    );
    let kwargs = std::collections::BTreeMap::from([("in", 9)]);
    assert_eq!(
        raw.call_with_kwargs::<_, _, i64>("type", (), &kwargs)
            .await
            .unwrap(),
        9
    );
    let kwargs = std::collections::BTreeMap::from([("this", 1), ("router", 1)]);
    assert_eq!(
        raw.call_with_kwargs::<_, _, i64>("sum", (), &kwargs)
            .await
            .unwrap(),
        9
    );
    assert!(
        raw.call::<_, i64>("gone", ()).await.is_err(),
        "compiled out"
    );
    container.shutdown().await;
}

/// Every other call panics in the handler: each is an error reply naming
/// the panic, and the agent goes on serving the calls between them.
#[tokio::test]
async fn a_panicking_handler_answers_with_an_error_and_the_agent_serves_on() {
    let container = Container::create_with("local://panics", options())
        .await
        .unwrap();
    let odd = container.register_agent(Odd { n: 1 }).unwrap();
    let client: OddProxy = container.connect(odd.url()).await.unwrap().into();
    for n in 0..100 {
        match client.boom(n).await {
            Ok(v) => assert!(n % 2 == 0 && v == n, "{n}: {v}"),
            Err(RpcError::Remote { message, .. }) => {
                assert!(n % 2 == 1, "{n}: {message}");
                assert!(message.contains(&format!("boom {n}")), "{message}");
            }
            Err(other) => panic!("{n}: {other:?}"),
        }
    }
    // Concurrently, too.
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..64 {
        let client = client.clone();
        calls.spawn(async move { (n, client.boom(n).await.is_ok()) });
    }
    while let Some(done) = calls.join_next().await {
        let (n, ok) = done.unwrap();
        assert_eq!(ok, n % 2 == 0, "{n}");
    }
    assert_eq!(client.sum(1, 1).await.unwrap(), 3);
    container.shutdown().await;
}

/// Many methods, written by a `macro_rules!` macro: one `#[agent]` block.
macro_rules! many {
    ($($name:ident = $value:expr;)*) => {
        struct Many;

        #[agent]
        impl Many {
            $(
                #[expose]
                fn $name(&self, x: i64) -> i64 {
                    x + $value
                }
            )*
        }
    };
}

many! {
    m00 = 0; m01 = 1; m02 = 2; m03 = 3; m04 = 4; m05 = 5; m06 = 6; m07 = 7;
    m08 = 8; m09 = 9; m10 = 10; m11 = 11; m12 = 12; m13 = 13; m14 = 14; m15 = 15;
    m16 = 16; m17 = 17; m18 = 18; m19 = 19; m20 = 20; m21 = 21; m22 = 22; m23 = 23;
    m24 = 24; m25 = 25; m26 = 26; m27 = 27; m28 = 28; m29 = 29; m30 = 30; m31 = 31;
    m32 = 32; m33 = 33; m34 = 34; m35 = 35; m36 = 36; m37 = 37; m38 = 38; m39 = 39;
}

#[tokio::test]
async fn an_agent_with_many_methods() {
    let container = Container::create_with("local://many", options())
        .await
        .unwrap();
    let many = container.register_agent(Many).unwrap();
    let client: ManyProxy = container.connect(many.url()).await.unwrap().into();
    assert_eq!(client.m00(1).await.unwrap(), 1);
    assert_eq!(client.m39(1).await.unwrap(), 40);
    for i in 0..40 {
        let name = format!("m{i:02}");
        assert_eq!(
            client.proxy().call::<_, i64>(&name, (100,)).await.unwrap(),
            100 + i
        );
    }
    container.shutdown().await;
}
