//! A container's clock: agents sleep on it; with an external clock, a
//! co-simulation decides when they wake.

use std::sync::Arc;
use std::time::Duration;

use agentwire::clock::ExternalClock;
use agentwire::rpc::Router;
use agentwire::{Container, ContainerOptions, RpcError};
use transport_local::LocalNetwork;

#[tokio::test]
async fn agents_sleep_on_an_external_clock() {
    let net = LocalNetwork::new();
    let clock = ExternalClock::new();
    let options = ContainerOptions::new()
        .local_network(net.clone())
        .clock(Arc::new(clock.clone()));
    let sim = Container::create_with("local://sim", options.clone())
        .await
        .expect("container");
    assert_eq!(sim.clock().time(), Duration::ZERO);

    // An agent whose method sleeps on its container's clock.
    let agent_clock = Arc::clone(sim.clock());
    let waiter = sim
        .register(
            "Waiter",
            Router::new().method("wait", move |(secs,): (u64,)| {
                let clock = Arc::clone(&agent_clock);
                async move {
                    clock.sleep(Duration::from_secs(secs)).await;
                    Ok::<_, std::convert::Infallible>(clock.time().as_secs())
                }
            }),
        )
        .expect("register");

    let caller = Container::create_with("local://caller", options)
        .await
        .expect("container");
    let proxy = caller.connect(waiter.url()).await.expect("connect");
    let call = tokio::spawn(async move { proxy.call::<_, u64>("wait", (10,)).await });

    // The call waits for simulated time, not for the wall clock.
    while clock.sleepers() == 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(clock.next_deadline(), Some(Duration::from_secs(10)));
    assert!(!call.is_finished());
    clock.set_time(Duration::from_secs(4)).expect("forward");
    tokio::task::yield_now().await;
    assert!(!call.is_finished(), "4 s of 10 have passed");
    clock.set_time(Duration::from_secs(10)).expect("forward");
    let woke_at: Result<u64, RpcError> = call.await.expect("task");
    assert_eq!(woke_at.expect("reply"), 10);

    caller.shutdown().await;
    sim.shutdown().await;
}
