//! A server and several clients on one local queue, in one process.
//!
//! Run it with `cargo run --example echo_local`. Every client sends a few
//! lines; the server prints what arrives (on which connection) and echoes it
//! back upper-cased; each client prints its echoes. Run it twice: the output is
//! identical, because local-queue delivery is deterministic on a
//! current-thread runtime.

use std::sync::{Arc, Mutex};

use agentwire::api::{
    create_connection, create_server, Error, Protocol, Server, SharedTransport, Transport,
};
use agentwire::local::LocalNetwork;
use bytes::Bytes;
use tokio::sync::oneshot;

/// The server side of one connection: prints and echoes upper-cased.
struct Shouter {
    transport: Option<SharedTransport>,
}

impl Protocol for Shouter {
    fn connection_made(&mut self, transport: SharedTransport) {
        let peer = transport
            .peer_addr()
            .map(|p| p.to_string())
            .unwrap_or_default();
        println!("server: connection from {peer}");
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: Bytes) {
        let Some(t) = &self.transport else { return };
        let peer = t.peer_addr().map(|p| p.to_string()).unwrap_or_default();
        println!("server: {peer} says {:?}", String::from_utf8_lossy(&data));
        let _ = t.write(Bytes::from(data.to_ascii_uppercase()));
    }

    fn connection_lost(&mut self, error: Option<Error>) {
        println!("server: connection lost ({error:?})");
    }
}

/// A client: prints the echoes and reports when it has them all.
struct Client {
    name: String,
    expected: usize,
    got: usize,
    done: Option<oneshot::Sender<()>>,
}

impl Protocol for Client {
    fn connection_made(&mut self, _transport: SharedTransport) {}

    fn data_received(&mut self, data: Bytes) {
        println!("{}: got {:?}", self.name, String::from_utf8_lossy(&data));
        self.got += 1;
        if self.got == self.expected {
            if let Some(done) = self.done.take() {
                let _ = done.send(());
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let network = LocalNetwork::new();
    let lq = network.get_queue("echo-server")?;
    let server = create_server(|| Shouter { transport: None }, &lq).await?;
    println!("server: listening on {lq}");

    let names = ["alice", "bob", "carol"];
    let finished = Arc::new(Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for name in names {
        let lq = lq.clone();
        let finished = finished.clone();
        clients.push(tokio::spawn(async move {
            let lines = ["hello", "how are you", "bye"];
            let (tx, rx) = oneshot::channel();
            let client = Client {
                name: name.to_owned(),
                expected: lines.len(),
                got: 0,
                done: Some(tx),
            };
            let (transport, _) = create_connection(|| client, &lq).await?;
            for line in lines {
                transport.write(Bytes::from(format!("{name}: {line}")))?;
                tokio::task::yield_now().await;
            }
            let _ = rx.await;
            transport.close();
            finished
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(name);
            Ok::<_, Error>(())
        }));
    }
    for client in clients {
        client
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))??;
    }
    server.close();
    server.wait_closed().await;
    println!(
        "done: {:?} finished; server closed",
        finished.lock().unwrap_or_else(|p| p.into_inner())
    );
    Ok(())
}
