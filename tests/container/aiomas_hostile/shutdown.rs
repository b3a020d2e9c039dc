//! Shutdown while aiomas clients call, flood or connect.

use super::*;

/// The container shuts down while an aiomas client has 100 calls pending:
/// `shutdown` returns, every pending call fails in Python with a
/// connection error, Python sees the connection lost, and a new connection
/// is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_calls_while_the_container_shuts_down() {
    let gauge = Arc::new(Gauge::default());
    let c = container(Json, &gauge).await;
    let mut py = Driven::start("JSON").await;
    let addr = host_port(c.url());
    assert_eq!(py.cmd(&format!("open {addr}")).await, "ok open");
    assert_eq!(py.cmd("fire agents/0/hold 100").await, "ok fire 100");
    gauge
        .until("8 handlers run", |started, _| started == 8)
        .await;
    tokio::time::timeout(Duration::from_secs(15), c.shutdown())
        .await
        .expect("shutdown returns");
    gauge.until("every handler ends", |_, live| live == 0).await;
    assert_eq!(py.cmd("settle").await, "settled ConnectionResetError=100");
    assert_eq!(py.cmd("closed").await, "closed ConnectionResetError");
    assert_eq!(
        py.cmd(&format!("open {addr}")).await,
        "err open ConnectionRefusedError"
    );
    py.exit();
}

/// The container shuts down while an aiomas client floods it with 2,000
/// calls (at a limit of 8 handlers and 16 queued: most are held back, with
/// reading paused): `shutdown` returns, every call ends in Python (answered
/// or failed with a connection error), and Python sees the connection lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_floods_while_the_container_shuts_down() {
    let gauge = Arc::new(Gauge::default());
    let c = container(Json, &gauge).await;
    let mut py = Driven::start("JSON").await;
    assert_eq!(
        py.cmd(&format!("open {}", host_port(c.url()))).await,
        "ok open"
    );
    assert_eq!(py.cmd("fire agents/0/later 2000").await, "ok fire 2000");
    tokio::time::timeout(Duration::from_secs(15), c.shutdown())
        .await
        .expect("shutdown returns");
    let settled = py.cmd("settle").await;
    let mut total = 0;
    for word in settled.split(' ').skip(1) {
        let (what, n) = word.split_once('=').expect("TYPE=COUNT");
        assert!(
            what == "result" || what == "ConnectionResetError",
            "{settled}"
        );
        total += n.parse::<usize>().expect("a count");
    }
    assert_eq!(total, 2000, "{settled}");
    assert_eq!(py.cmd("closed").await, "closed ConnectionResetError");
    py.exit();
}

/// A peer that writes requests without end and never reads a reply (its
/// replies fill the socket buffers, the container stops reading): the
/// container's `shutdown` returns within its grace, and the peer's writes
/// then fail (once the socket's linger after the close, which reads and
/// discards until the peer's end for up to 5 s, is over).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_while_a_peer_floods_without_reading() {
    use tokio::io::AsyncWriteExt;
    let gauge = Arc::new(Gauge::default());
    let c = container(Json, &gauge).await;
    let raw = Raw::connect(c.url()).await;
    let (_read_half, mut write_half) = raw.0.into_split();
    let (written_tx, mut written) = tokio::sync::watch::channel(0usize);
    let flood = tokio::spawn(async move {
        let mut frame = Vec::new();
        for id in 0..64u64 {
            let payload = format!(r#"[0, {id}, ["agents/0/later", [{id}], {{}}]]"#);
            frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            frame.extend_from_slice(payload.as_bytes());
        }
        let mut total = 0usize;
        loop {
            if let Err(e) = write_half.write_all(&frame).await {
                return e;
            }
            total += frame.len();
            written_tx.send_replace(total);
        }
    });
    // More than the container holds back (its reading then pauses).
    tokio::time::timeout(Duration::from_secs(60), written.wait_for(|n| *n > 4 << 20))
        .await
        .expect("the flood goes on")
        .expect("flooding");
    tokio::time::timeout(Duration::from_secs(15), c.shutdown())
        .await
        .expect("shutdown returns within its grace");
    let err = tokio::time::timeout(Duration::from_secs(30), flood)
        .await
        .expect("the flood's writes fail once the container is gone")
        .expect("task");
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        ),
        "{err:?}"
    );
}

/// 200 aiomas clients connect and call (50 calls each) while the container
/// shuts down: `shutdown` returns, and every client's calls end in Python,
/// answered or failed (no call is left waiting).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_clients_arrive_during_shutdown() {
    let gauge = Arc::new(Gauge::default());
    let c = container(Json, &gauge).await;
    let mut py = Driven::start("JSON").await;
    let mut first = Driven::start("JSON").await;
    assert_eq!(
        first.cmd(&format!("open {}", host_port(c.url()))).await,
        "ok open"
    );
    assert_eq!(
        py.cmd(&format!("open {}", host_port(c.url()))).await,
        "ok open"
    );
    let line = format!("many {} 200 50", host_port(c.url()));
    py.send(&line);
    // Some of them are under way (a round trip of another client).
    assert_eq!(first.cmd("call agents/0/add [1, 2]").await, "ok call 3");
    tokio::time::timeout(Duration::from_secs(15), c.shutdown())
        .await
        .expect("shutdown returns");
    let answer = py.answer(&line).await;
    assert!(
        answer == "ok many 255000"
            || answer == "err many ConnectionResetError"
            || answer == "err many ConnectionRefusedError",
        "{answer}"
    );
    assert_eq!(first.cmd("closed").await, "closed ConnectionResetError");
    py.exit();
    first.exit();
}
