//! Deterministic delivery: the same program gives the same arrival order,
//! every run, on a current-thread runtime.

use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes, BytesMut};
use transport_api::{
    create_connection, create_server, Protocol, Server, SharedTransport, Transport,
};
use transport_local::LocalNetwork;

const CLIENTS: u32 = 32;
const MESSAGES: u32 = 200;

/// Records `(client, message)` pairs in arrival order, across connections.
struct Collector {
    arrivals: Arc<Mutex<Vec<(u32, u32)>>>,
    buf: BytesMut,
    _transport: Option<SharedTransport>,
}

impl Protocol for Collector {
    fn connection_made(&mut self, transport: SharedTransport) {
        self._transport = Some(transport);
    }

    fn data_received(&mut self, data: Bytes) {
        self.buf.extend_from_slice(&data);
        while self.buf.len() >= 8 {
            let client = self.buf.get_u32();
            let message = self.buf.get_u32();
            self.arrivals.lock().unwrap().push((client, message));
        }
    }
}

struct Silent;
impl Protocol for Silent {
    fn connection_made(&mut self, _: SharedTransport) {}
    fn data_received(&mut self, _: Bytes) {}
}

fn one_run() -> Vec<(u32, u32)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let net = LocalNetwork::new();
        let lq = net.get_queue("server").unwrap();
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let factory = {
            let arrivals = arrivals.clone();
            move || Collector {
                arrivals: arrivals.clone(),
                buf: BytesMut::new(),
                _transport: None,
            }
        };
        let server = create_server(factory, &lq).await.unwrap();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let lq = lq.clone();
                tokio::spawn(async move {
                    let (t, _) = create_connection(|| Silent, &lq).await.unwrap();
                    for message in 0..MESSAGES {
                        let mut msg = BytesMut::with_capacity(8);
                        msg.extend_from_slice(&client.to_be_bytes());
                        msg.extend_from_slice(&message.to_be_bytes());
                        t.write(msg.freeze()).unwrap();
                        // Clients progress at different paces, so arrivals interleave.
                        if message % (client % 5 + 1) == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                    t.close();
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        server.close();
        server.wait_closed().await;
        let arrivals = arrivals.lock().unwrap().clone();
        arrivals
    })
}

#[test]
fn arrival_order_is_identical_across_runs() {
    let first = one_run();
    assert_eq!(first.len(), (CLIENTS * MESSAGES) as usize);

    // Per-client order is FIFO, and every message arrives once.
    for client in 0..CLIENTS {
        let seq: Vec<u32> = first
            .iter()
            .filter(|(c, _)| *c == client)
            .map(|(_, m)| *m)
            .collect();
        assert_eq!(seq, (0..MESSAGES).collect::<Vec<_>>(), "client {client}");
    }
    // The clients really ran concurrently: the first 100 arrivals come from
    // more than one client.
    let mut early: Vec<u32> = first[..100].iter().map(|(c, _)| *c).collect();
    early.sort_unstable();
    early.dedup();
    assert!(early.len() > 1, "arrivals are not interleaved: {early:?}");

    for run in 1..20 {
        let again = one_run();
        if let Some(i) = (0..first.len()).find(|&i| first[i] != again[i]) {
            panic!(
                "run {run} differs at arrival {i}: {:?} vs {:?}",
                first[i], again[i]
            );
        }
        assert_eq!(again.len(), first.len(), "run {run}");
    }
}
