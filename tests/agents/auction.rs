//! The auction example (`examples/auction.rs`): the same output in 20 runs
//! on local queues, each on a fresh runtime and network, and on TCP.

use agentwire::local::LocalNetwork;
use agentwire::ContainerOptions;

#[allow(dead_code)]
#[path = "../../examples/auction.rs"]
mod example;

fn run(urls: [&str; 3], options: ContainerOptions) -> Vec<String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(example::auction(urls, options))
        .expect("the auction runs")
}

#[test]
fn the_auction_runs_the_same_twenty_times_on_local_queues_and_on_tcp() {
    let local = ["local://market", "local://north", "local://south"];
    let first = run(
        local,
        ContainerOptions::new().local_network(LocalNetwork::new()),
    );
    assert_eq!(first.len(), 4 + 2 * 5, "{first:#?}");
    assert!(
        first.iter().any(|l| l.contains("cy declines")),
        "{first:#?}"
    );
    for _ in 1..20 {
        let again = run(
            local,
            ContainerOptions::new().local_network(LocalNetwork::new()),
        );
        assert_eq!(again, first);
    }
    let tcp = ["tcp://127.0.0.1:0"; 3];
    assert_eq!(run(tcp, ContainerOptions::new()), first);
}
