//! aiomas's wire format with the JSON codec, and connection errors.

use std::io::ErrorKind;
use std::sync::Arc;

use agentwire::channel::{Channel, ChannelOptions, Json};
use agentwire::rpc::{Connection, Router};
use transport_api::Server;

use crate::support;

/// A call is `[0, id, [path, [args…], {}]]`, byte for byte as aiomas
/// writes it.
#[tokio::test]
async fn a_call_is_aiomas_bytes() {
    support::run(async {
        let addr = support::local();
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let server = Channel::start_server(
            &addr,
            move |ch: Channel<Json>| {
                let tx = tx.clone();
                async move {
                    while let Ok(req) = ch.recv().await {
                        let raw = String::from_utf8_lossy(req.raw_content()).into_owned();
                        let _ = tx.send(raw).await;
                        let _ = req.reply(&3).await;
                    }
                }
            },
            ChannelOptions::new().codec(Json),
        )
        .await
        .expect("server");
        let conn = Connection::open(
            &addr,
            Arc::new(Router::<Json>::new()),
            ChannelOptions::new().codec(Json),
        )
        .await
        .expect("connects");
        let _: i64 = conn.proxy("agents/0").call("add", (1, 2)).await.expect("3");
        assert_eq!(
            rx.recv().await.expect("raw"),
            r#"["agents/0/add", [1, 2], {}]"#
        );
        let _: i64 = conn.call("ping", ()).await.expect("3");
        assert_eq!(rx.recv().await.expect("raw"), r#"["ping", [], {}]"#);
        let _: i64 = conn
            .call_with_kwargs("f", ("x",), &serde_json::json!({"k": [1, null]}))
            .await
            .expect("3");
        assert_eq!(
            rx.recv().await.expect("raw"),
            r#"["f", ["x"], {"k": [1, null]}]"#
        );
        conn.close().await;
        server.close();
    })
    .await;
}

#[tokio::test]
async fn refused_connection_is_a_connection_error() {
    support::run(async {
        let err = Connection::open(
            &support::local(),
            Arc::new(Router::<Json>::new()),
            ChannelOptions::new().codec(Json),
        )
        .await
        .expect_err("nobody listens");
        assert!(err.is_connection(), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        let io: std::io::Error = err.into();
        assert_eq!(io.kind(), ErrorKind::ConnectionRefused);
    })
    .await;
}

/// Keyword arguments written as null (what a Rust caller's `()` encodes
/// to) are "none", for `Router` methods and named parameters alike, with
/// the JSON and MsgPack codecs.
#[tokio::test]
async fn null_keyword_arguments_are_none() {
    use agentwire::channel::{Codec, MsgPack};
    use agentwire::rpc::{Handler, Optional, Required};
    use std::convert::Infallible;

    async fn check<C: Codec>(codec: C) {
        let addr = support::local();
        let greet = Handler::<C>::named::<(Required<String>, Optional<String>), _, _, _, _>(
            &["name", "greeting"],
            |(name, greeting)| async move {
                Ok::<_, Infallible>(format!(
                    "{}, {name}",
                    greeting.as_deref().unwrap_or("Hello")
                ))
            },
        );
        let router: Router<C> = Router::new()
            .method("add", |(a, b): (i64, i64)| async move {
                Ok::<_, Infallible>(a + b)
            })
            .handler("greet", greet);
        let options = ChannelOptions::new().codec(codec);
        let server = agentwire::rpc::start_server(&addr, Arc::new(router), options.clone(), |_| {})
            .await
            .expect("server");
        let ch = Channel::open_connection(&addr, options)
            .await
            .expect("connects");
        let sum: i64 = ch
            .request(&("add", (1, 2), ()))
            .await
            .expect("add, null kwargs");
        assert_eq!(sum, 3);
        let hello: String = ch
            .request(&("greet", ("bob",), ()))
            .await
            .expect("greet, null kwargs");
        assert_eq!(hello, "Hello, bob");
        let hello: String = ch
            .request(&("greet", ("bob",)))
            .await
            .expect("greet, no kwargs");
        assert_eq!(hello, "Hello, bob");
        ch.close().await;
        server.close();
    }
    support::run(async {
        check(Json).await;
        check(MsgPack).await;
    })
    .await;
}
