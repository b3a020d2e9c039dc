//! Containers on different backends calling each other: a backend defined
//! only in the tests (tests/shared/wrapped.rs) hosts a container, and
//! local-queue containers reach it through a registered scheme.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use agentwire::api::AnyAddress;
use agentwire::rpc::Router;
use agentwire::{Container, ContainerError, ContainerOptions};
use transport_local::{LocalNetwork, LocalQueue};

use crate::support::wrapped::WrappedAddr;
use crate::support::{self, calc, wrapped_scheme};

/// Options resolving `wrapped://` URLs in `net`, counting the connections
/// made through the wrapped backend in `dialed`.
fn counting_scheme(net: &LocalNetwork, dialed: &Arc<AtomicUsize>) -> ContainerOptions {
    let (net, dialed) = (net.clone(), Arc::clone(dialed));
    ContainerOptions::new()
        .local_network(net.clone())
        .scheme("wrapped", move |url: &str| {
            let addr = WrappedAddr::parse(url, &net)?.counting(Arc::clone(&dialed));
            Ok(AnyAddress::new(addr))
        })
}

#[tokio::test]
async fn a_local_container_calls_agents_hosted_on_a_test_backend() {
    support::run(async {
        let net = LocalNetwork::new();
        let queue = net.get_queue("w").expect("queue");
        // Hosted on the wrapped backend, given as the address itself.
        let w = Container::create_with(
            WrappedAddr::new(queue),
            ContainerOptions::new().local_network(net.clone()),
        )
        .await
        .expect("a container on the wrapped backend");
        assert_eq!(w.url(), "wrapped://w");
        assert!(w.addr().downcast_ref::<WrappedAddr>().is_some());
        let agent = w.register("Calc", calc()).expect("register");
        assert_eq!(agent.url(), "wrapped://w/0");

        let dialed = Arc::new(AtomicUsize::new(0));
        let a = Container::create_with("local://a", counting_scheme(&net, &dialed))
            .await
            .expect("local container");
        assert!(a.addr().downcast_ref::<LocalQueue>().is_some());
        let proxy = a.connect(agent.url()).await.expect("connect by scheme");
        assert_eq!(proxy.class_name(), Some("Calc"));
        assert_eq!(proxy.call::<_, i64>("add", (1, 2)).await.expect("add"), 3);
        assert_eq!(
            dialed.load(Ordering::SeqCst),
            1,
            "the connection was made by the wrapped backend"
        );
        // The connection is cached under the wrapped URL.
        let again = a.connect(agent.url()).await.expect("connect again");
        assert!(again.connection().ptr_eq(proxy.connection()));
        assert_eq!(dialed.load(Ordering::SeqCst), 1);

        // Without the scheme: an error naming the URL and the known schemes.
        let plain = Container::create_with(
            "local://plain",
            ContainerOptions::new().local_network(net.clone()),
        )
        .await
        .expect("local container");
        let err = plain
            .connect(agent.url())
            .await
            .expect_err("unknown scheme");
        assert!(
            matches!(err, ContainerError::InvalidAddress { .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        for part in [
            "wrapped://w",
            "unknown scheme",
            "local",
            "tcp",
            "tls",
            "ipc",
        ] {
            assert!(msg.contains(part), "{part:?} in {msg}");
        }
        for c in [a, plain, w] {
            c.shutdown().await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_container_on_a_test_backend_calls_local_agents_which_call_back() {
    support::run(async {
        let net = LocalNetwork::new();
        let options = wrapped_scheme(ContainerOptions::new().local_network(net.clone()), &net);
        // Created from a URL of the registered scheme this time.
        let w = Container::create_with("wrapped://w", options.clone())
            .await
            .expect("a container on the wrapped backend");
        assert!(w.addr().downcast_ref::<WrappedAddr>().is_some());
        let w_calc = w.register("Calc", calc()).expect("register");

        // A local agent that calls the wrapped container's agent back.
        let a = Container::create_with("local://a", options)
            .await
            .expect("local container");
        let back_to = w_calc.url().to_owned();
        let a_handle = a.clone();
        let relay = Router::new().method("sum3", move |(x, y, z): (i64, i64, i64)| {
            let (a, url) = (a_handle.clone(), back_to.clone());
            async move {
                let calc = a.connect(&url).await.map_err(|e| e.to_string())?;
                let xy: i64 = calc.call("add", (x, y)).await.map_err(|e| e.to_string())?;
                calc.call::<_, i64>("add", (xy, z))
                    .await
                    .map_err(|e| e.to_string())
            }
        });
        let relay = a.register("Relay", relay).expect("register");

        let proxy = w.connect(relay.url()).await.expect("connect to local");
        assert_eq!(
            proxy.call::<_, i64>("sum3", (1, 2, 3)).await.expect("sum3"),
            6
        );
        a.shutdown().await;
        w.shutdown().await;
    })
    .await;
}
