//! Request/reply channels on a local queue: a calculator server and three
//! clients, each with several requests in flight at once.
//!
//! Run it with `cargo run --example channel_local`. Swap the `LocalQueue` for
//! a `TcpAddr` (`"tcp://127.0.0.1:5555".parse()?`) and nothing else changes.

use agentwire::channel::{Channel, ChannelOptions, Json};
use agentwire::local::LocalNetwork;
use serde::{Deserialize, Serialize};

/// What a client asks for.
#[derive(Debug, Serialize, Deserialize)]
enum Op {
    Add(i64, i64),
    Mul(i64, i64),
    Div(i64, i64),
}

/// Serves one connection: answers every request, or fails it.
async fn serve(channel: Channel<Json>) {
    while let Ok(request) = channel.recv().await {
        let result = match request.content::<Op>() {
            Ok(Op::Add(a, b)) => Ok(a + b),
            Ok(Op::Mul(a, b)) => Ok(a * b),
            Ok(Op::Div(_, 0)) => Err("division by zero".to_owned()),
            Ok(Op::Div(a, b)) => Ok(a / b),
            Err(e) => Err(e.to_string()),
        };
        let _ = match result {
            Ok(value) => request.reply(&value).await,
            Err(message) => request.fail(message).await,
        };
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let network = LocalNetwork::new();
    let addr = network.get_queue("calculator")?;
    // JSON here so the wire format is aiomas's; the default codec is bincode.
    let options = ChannelOptions::new().codec(Json);
    let _server = Channel::start_server(&addr, serve, options.clone()).await?;

    let mut clients = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let channel = Channel::open_connection(&addr, options.clone()).await?;
        clients.push(tokio::spawn(async move {
            // Three requests in flight at once on one channel.
            let (sum, product, quotient) = tokio::join!(
                channel.request::<_, i64>(&Op::Add(20, 22)),
                channel.request::<_, i64>(&Op::Mul(6, 7)),
                channel.request::<_, i64>(&Op::Div(1, 0)),
            );
            println!("{name}: 20 + 22 = {sum:?}");
            println!("{name}: 6 * 7 = {product:?}");
            match quotient {
                Ok(q) => println!("{name}: 1 / 0 = {q}?!"),
                Err(e) => println!("{name}: 1 / 0 failed remotely: {e}"),
            }
            channel.close().await;
        }));
    }
    for client in clients {
        client.await?;
    }
    Ok(())
}
