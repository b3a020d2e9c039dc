//! `get_queue`, `clear_queue_cache`, `LocalNetwork` and server binding.

use std::io::ErrorKind;

use transport_api::{boxed_factory, create_connection, create_server, Address, Error, Server};
use transport_local::{clear_queue_cache, get_queue, LocalNetwork, LocalQueueServer};

use crate::support::{connect, Accepted, Recorder};

#[test]
fn same_id_gives_same_queue() {
    let net = LocalNetwork::new();
    let a = net.get_queue("alpha").unwrap();
    let b = net.get_queue("alpha").unwrap();
    let other = net.get_queue("beta").unwrap();
    assert!(a.ptr_eq(&b));
    assert!(!a.ptr_eq(&other));
    assert_eq!(a.queue_id(), "alpha");
    assert_eq!(a.to_string(), "local://alpha");
    assert_eq!(a.scheme(), "local");
}

#[test]
fn global_registry_caches_and_clears() {
    // A unique id: other tests may use the global registry in parallel.
    let id = "registry-test-global-queue";
    let a = get_queue(id).unwrap();
    assert!(a.ptr_eq(&get_queue(id).unwrap()));
    clear_queue_cache();
    let b = get_queue(id).unwrap();
    assert!(!a.ptr_eq(&b), "a cleared cache must give a new queue");
}

#[test]
fn cleared_cache_gives_new_queue() {
    let net = LocalNetwork::new();
    let a = net.get_queue("q").unwrap();
    net.clear_queue_cache();
    assert!(net.queue_ids().is_empty());
    let b = net.get_queue("q").unwrap();
    assert!(!a.ptr_eq(&b));
    assert!(b.ptr_eq(&net.get_queue("q").unwrap()));
}

#[test]
fn id_with_slash_is_rejected_naming_it() {
    let net = LocalNetwork::new();
    let err = net.get_queue("a/b").unwrap_err();
    assert!(
        matches!(&err, Error::InvalidAddress { input, .. } if input == "a/b"),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"a/b\""), "{err}");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(get_queue("/").is_err());
}

#[test]
fn empty_id_is_rejected() {
    let err = LocalNetwork::new().get_queue("").unwrap_err();
    assert!(matches!(&err, Error::InvalidAddress { input, .. } if input.is_empty()));
    assert!(err.to_string().contains("\"\""), "{err}");
}

#[tokio::test(flavor = "current_thread")]
async fn second_set_server_fails() {
    let net = LocalNetwork::new();
    let lq = net.get_queue("q").unwrap();
    let logs = Accepted::default();
    let first = create_server(logs.factory(), &lq).await.unwrap();
    assert!(first.is_serving());
    assert!(lq.server().is_some_and(|s| s.is_serving()));

    let err = create_server(logs.factory(), &lq).await.unwrap_err();
    assert!(matches!(&err, Error::AddrInUse { addr, .. } if addr == "local://q"));
    assert_eq!(err.kind(), ErrorKind::AddrInUse);

    let unbound = LocalQueueServer::new(lq.clone(), boxed_factory(logs.factory()));
    assert!(lq.set_server(unbound.clone()).is_err());
    assert!(!unbound.is_serving());
    // The first server is still the one serving.
    let (_t, client) = lq.new_connection(Recorder::default()).unwrap();
    client.with(|c| assert_eq!(c.log.events().len(), 1));
    assert_eq!(logs.logs().len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn unset_server_refuses_new_connections() {
    let net = LocalNetwork::new();
    let lq = net.get_queue("q").unwrap();
    let server = create_server(Accepted::default().factory(), &lq)
        .await
        .unwrap();
    lq.unset_server();
    assert!(lq.server().is_none());
    assert!(!server.is_serving());
    let err = lq.new_connection(Recorder::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[tokio::test(flavor = "current_thread")]
async fn connection_without_server_is_refused() {
    let net = LocalNetwork::new();
    let lq = net.get_queue("nobody-home").unwrap();
    assert!(lq.server().is_none());
    let err = create_connection(Recorder::default, &lq).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert!(err.to_string().contains("local://nobody-home"), "{err}");
    let io: std::io::Error = err.into();
    assert_eq!(io.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn new_connection_outside_a_runtime_is_an_error() {
    let net = LocalNetwork::new();
    let lq = net.get_queue("q").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _server = rt
        .block_on(create_server(Accepted::default().factory(), &lq))
        .unwrap();
    let err = lq.new_connection(Recorder::default()).unwrap_err();
    assert!(matches!(err, Error::NoRuntime), "{err:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn closed_server_frees_its_queue_id() {
    let net = LocalNetwork::new();
    let lq = net.get_queue("reuse").unwrap();
    let first_logs = Accepted::default();
    let first = create_server(first_logs.factory(), &lq).await.unwrap();
    first.close();
    assert!(!first.is_serving());
    assert!(lq.server().is_none());
    assert_eq!(
        lq.new_connection(Recorder::default()).unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );

    let second_logs = Accepted::default();
    let _second = create_server(second_logs.factory(), &lq).await.unwrap();
    let _conn = connect(&lq).await.unwrap();
    assert_eq!(first_logs.logs().len(), 0);
    assert_eq!(
        second_logs.logs().len(),
        1,
        "the new server accepts the connection"
    );
}

#[test]
fn networks_are_isolated_across_threads() {
    let threads: Vec<_> = (0..8u8)
        .map(|n| {
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let net = LocalNetwork::new();
                    // Every thread uses the same ids in its own network.
                    let lq = net.get_queue("shared-name").unwrap();
                    let logs = Accepted::default();
                    let server = create_server(logs.factory(), &lq).await.unwrap();
                    for _ in 0..20 {
                        let (t, log) = connect(&lq).await.unwrap();
                        use transport_api::Transport;
                        t.write(vec![n].into()).unwrap();
                        t.close();
                        log.wait_lost().await.unwrap();
                    }
                    server.close();
                    server.wait_closed().await;
                    let seen: Vec<u8> = logs.logs().iter().flat_map(|l| l.data()).collect();
                    assert_eq!(seen, vec![n; 20], "thread {n} saw another network's data");
                    assert_eq!(net.queue_ids(), vec!["shared-name".to_owned()]);
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_queue_served_in_one_network_is_not_reachable_from_another() {
    let a = LocalNetwork::new();
    let b = LocalNetwork::new();
    let _server = create_server(Accepted::default().factory(), &a.get_queue("x").unwrap())
        .await
        .unwrap();
    let err = create_connection(Recorder::default, &b.get_queue("x").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<transport_local::LocalQueue>();
    check::<transport_local::LocalQueueServer>();
    check::<transport_local::LocalQueueTransport>();
    check::<LocalNetwork>();
    check::<transport_api::SharedTransport>();
    check::<transport_api::ProtocolHandle<Recorder>>();
}
