//! The same transport on a multi-thread runtime: per-connection order holds.

use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes, BytesMut};
use tokio::sync::oneshot;
use transport_api::{
    create_connection, create_server, Protocol, Server, SharedTransport, Transport,
};
use transport_local::LocalNetwork;

const CONNECTIONS: u32 = 64;
const MESSAGES: u32 = 500;

/// Checks that numbered records arrive in order and echoes them back.
struct OrderedEcho {
    transport: Option<SharedTransport>,
    buf: BytesMut,
    next: u32,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Protocol for OrderedEcho {
    fn connection_made(&mut self, transport: SharedTransport) {
        self.transport = Some(transport);
    }
    fn data_received(&mut self, data: Bytes) {
        self.buf.extend_from_slice(&data);
        while self.buf.len() >= 4 {
            let n = self.buf.get_u32();
            if n != self.next {
                self.errors
                    .lock()
                    .unwrap()
                    .push(format!("server expected {} got {n}", self.next));
            }
            self.next = n + 1;
            if let Some(t) = &self.transport {
                t.write(Bytes::copy_from_slice(&n.to_be_bytes())).unwrap();
            }
        }
    }
}

/// Collects the echo and reports the sequence when complete.
struct Client {
    buf: BytesMut,
    seen: Vec<u32>,
    done: Option<oneshot::Sender<Vec<u32>>>,
}

impl Protocol for Client {
    fn connection_made(&mut self, _: SharedTransport) {}
    fn data_received(&mut self, data: Bytes) {
        self.buf.extend_from_slice(&data);
        while self.buf.len() >= 4 {
            self.seen.push(self.buf.get_u32());
        }
        if self.seen.len() == MESSAGES as usize {
            if let Some(done) = self.done.take() {
                let _ = done.send(std::mem::take(&mut self.seen));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_connections_keep_per_connection_order_on_four_workers() {
    let net = LocalNetwork::new();
    let lq = net.get_queue("mt").unwrap();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let factory = {
        let errors = errors.clone();
        move || OrderedEcho {
            transport: None,
            buf: BytesMut::new(),
            next: 0,
            errors: errors.clone(),
        }
    };
    let server = create_server(factory, &lq).await.unwrap();
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let lq = lq.clone();
            tokio::spawn(async move {
                let (tx, rx) = oneshot::channel();
                let client = Client {
                    buf: BytesMut::new(),
                    seen: Vec::new(),
                    done: Some(tx),
                };
                let (t, _) = create_connection(|| client, &lq).await.unwrap();
                for n in 0..MESSAGES {
                    // Records split at odd places: 4-byte numbers, sent 3 + 1.
                    let bytes = n.to_be_bytes();
                    t.write(Bytes::copy_from_slice(&bytes[..3])).unwrap();
                    t.write(Bytes::copy_from_slice(&bytes[3..])).unwrap();
                    if n % 50 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                let seen = rx.await.unwrap();
                t.close();
                seen
            })
        })
        .collect();
    for task in tasks {
        let seen = tokio::time::timeout(std::time::Duration::from_secs(30), task)
            .await
            .expect("connection finished")
            .unwrap();
        assert_eq!(seen, (0..MESSAGES).collect::<Vec<_>>());
    }
    server.close();
    tokio::time::timeout(std::time::Duration::from_secs(30), server.wait_closed())
        .await
        .expect("all connections finished");
    assert!(
        errors.lock().unwrap().is_empty(),
        "{:?}",
        errors.lock().unwrap()
    );
}
