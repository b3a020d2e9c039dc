//! The same scenario over TCP gives the same trace as over local queues:
//! the simulation wraps any backend's address.

use agentwire::ContainerOptions;
use agentwire_debug::{EventKind, Trace};

use crate::support::{sim, world, world_at};

async fn scenario(tcp: bool) -> Trace {
    let sim = sim(21, 25);
    let names = ["a", "b", "c"];
    let w = if tcp {
        world_at(
            &sim,
            &names,
            |_| "tcp://127.0.0.1:0".to_owned(),
            ContainerOptions::new(),
        )
        .await
    } else {
        world(&sim, &names).await
    };
    sim.run(async {
        for (from, to) in [(0, 1), (1, 2), (2, 0), (0, 2)] {
            let proxy = w.containers[from]
                .connect(w.agent(to))
                .await
                .expect("connects");
            let said: String = proxy.call("echo", ("hello",)).await.expect("echoes");
            assert_eq!(said, "hello");
        }
    })
    .await;
    w.shutdown().await;
    let mut trace = sim.trace();
    // Agent URLs name the backend; everything else must agree.
    for e in &mut trace.events {
        if let EventKind::Send { info: Some(i), .. } = &mut e.kind {
            i.agent = None;
        }
    }
    trace
}

#[tokio::test]
async fn tcp_and_local_queues_trace_the_same_run() {
    let local = scenario(false).await;
    let tcp = scenario(true).await;
    let upto = |t: &Trace| -> Vec<String> {
        // Up to the shutdown, whose order of closing differs by backend.
        t.events
            .iter()
            .take_while(|e| !matches!(e.kind, EventKind::Lost { .. }))
            .map(|e| e.to_string())
            .collect()
    };
    assert!(local.messages().count() >= 16);
    assert_eq!(upto(&local), upto(&tcp));
}
