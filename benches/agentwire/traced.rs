//! The debugging toolkit's cost: `rpc_local_c1` with every message going
//! through a simulated link (instant, no rules) and recorded, against
//! plain `rpc_local_c1` in the same run. (With no simulation configured
//! nothing of it runs: the untraced rows measure that.)

use std::time::Duration;

use agentwire::channel::{Bincode, ChannelOptions};
use agentwire_debug::Sim;
use transport_api::Server;
use transport_local::LocalNetwork;

use crate::rpc::{drive, open, serve_add, Agentwire, LOCAL_CALLS};
use crate::transfer::runtime;
use crate::{Scenario, ROUNDS};

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "rpc_local_c1_traced",
        unit: "call/s",
        work: LOCAL_CALLS as f64,
        measured: traced_local_c1,
        baseline: crate::rpc::rpc_local_c1,
        baseline_name: "rpc_local_c1 (the same calls, no simulation)",
        floor: Some(0.5),
        rounds: ROUNDS,
    }]
}

/// `rpc_local_c1` through a `Sim` with its recorder on.
fn traced_local_c1() -> Duration {
    runtime().block_on(async {
        let sim = Sim::builder().codec(Bincode).build();
        let queue = LocalNetwork::new().get_queue("rpc").unwrap();
        let options = ChannelOptions::with_codec(Bincode);
        let server = serve_add(&sim.node("server").address(queue), options.clone()).await;
        let to = sim.node("client").address(server.addr().inner().clone());
        let conn = open(&to, options).await;
        let elapsed = drive(Agentwire(conn.clone()), 1, LOCAL_CALLS).await;
        conn.close().await;
        server.close();
        // Every request and reply was sent and delivered.
        assert!(sim.recorder().len() >= 4 * LOCAL_CALLS);
        elapsed
    })
}
