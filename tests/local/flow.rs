//! Flow control: pause_writing/resume_writing bound the write buffer.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::Notify;
use transport_api::{
    create_connection, create_server, Protocol, SharedTransport, Transport, TransportExt,
    WriteBufferLimits,
};
use transport_local::LocalNetwork;

const TOTAL: usize = 64 * 1024 * 1024;
const CHUNK: usize = 16 * 1024;

#[derive(Default)]
struct WriterState {
    paused: AtomicBool,
    resumed: Notify,
    pauses: AtomicUsize,
    resumes: AtomicUsize,
}

/// A writer protocol that honours pause_writing/resume_writing.
struct Writer(Arc<WriterState>);

impl Protocol for Writer {
    fn connection_made(&mut self, _: SharedTransport) {}
    fn data_received(&mut self, _: Bytes) {}
    fn pause_writing(&mut self) {
        self.0.pauses.fetch_add(1, Ordering::SeqCst);
        self.0.paused.store(true, Ordering::SeqCst);
    }
    fn resume_writing(&mut self) {
        self.0.resumes.fetch_add(1, Ordering::SeqCst);
        self.0.paused.store(false, Ordering::SeqCst);
        self.0.resumed.notify_one();
    }
}

/// A reader that takes one chunk, then pauses reading until the drainer
/// resumes it: it drains slowly. Clones share their state, so a server
/// factory can hand out clones of one reader the test keeps.
#[derive(Clone, Default)]
struct SlowReader {
    transport: Arc<Mutex<Option<SharedTransport>>>,
    received: Arc<AtomicUsize>,
    checksum: Arc<AtomicUsize>,
}

impl Protocol for SlowReader {
    fn connection_made(&mut self, transport: SharedTransport) {
        *self.transport.lock().unwrap() = Some(transport);
    }
    fn data_received(&mut self, data: Bytes) {
        self.received.fetch_add(data.len(), Ordering::SeqCst);
        let sum = data.iter().map(|&b| b as usize).sum::<usize>();
        self.checksum.fetch_add(sum, Ordering::SeqCst);
        if let Some(t) = &*self.transport.lock().unwrap() {
            t.pause_reading();
        }
    }
}

fn chunk(i: usize) -> Bytes {
    Bytes::from(vec![(i % 251) as u8; CHUNK])
}

#[tokio::test(flavor = "current_thread")]
async fn honouring_pause_writing_bounds_the_buffer() {
    let net = LocalNetwork::new();
    let lq = net.get_queue("flow").unwrap();
    let reader = SlowReader::default();
    let (reader_transport, received, checksum) = (
        reader.transport.clone(),
        reader.received.clone(),
        reader.checksum.clone(),
    );
    let factory = move || reader.clone();
    let _server = create_server(factory, &lq).await.unwrap();
    let state = Arc::new(WriterState::default());
    let (t, _) = create_connection(|| Writer(state.clone()), &lq)
        .await
        .unwrap();
    let limits = t.write_buffer_limits();
    assert_eq!(limits, WriteBufferLimits::default());

    // The drainer lets one chunk through every few scheduler rounds.
    let drainer = {
        let reader_transport = reader_transport.clone();
        let received = received.clone();
        tokio::spawn(async move {
            while received.load(Ordering::SeqCst) < TOTAL {
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                if let Some(t) = &*reader_transport.lock().unwrap() {
                    t.resume_reading();
                }
            }
        })
    };

    let mut max_buffered = 0;
    let mut expected_sum = 0usize;
    for i in 0..TOTAL / CHUNK {
        while state.paused.load(Ordering::SeqCst) {
            state.resumed.notified().await;
        }
        let c = chunk(i);
        expected_sum += c.iter().map(|&b| b as usize).sum::<usize>();
        t.write(c).unwrap();
        max_buffered = max_buffered.max(t.write_buffer_size());
        tokio::task::yield_now().await;
    }
    drainer.await.unwrap();

    assert_eq!(received.load(Ordering::SeqCst), TOTAL);
    assert_eq!(checksum.load(Ordering::SeqCst), expected_sum);
    assert!(
        max_buffered <= limits.high() + CHUNK,
        "buffer reached {max_buffered} bytes, limit {} + one write",
        limits.high()
    );
    // The reader really was slower: the writer was paused, many times.
    assert!(state.pauses.load(Ordering::SeqCst) > 10);
    let (p, r) = (
        state.pauses.load(Ordering::SeqCst),
        state.resumes.load(Ordering::SeqCst),
    );
    assert!(p == r || p == r + 1, "pauses {p} and resumes {r} alternate");
}

#[tokio::test(flavor = "current_thread")]
async fn writable_waits_for_the_low_water_mark() {
    let net = LocalNetwork::new();
    let lq = net.get_queue("writable").unwrap();
    let reader = SlowReader::default();
    let reader_transport = reader.transport.clone();
    let factory = move || reader.clone();
    let _server = create_server(factory, &lq).await.unwrap();
    let state = Arc::new(WriterState::default());
    let (t, _) = create_connection(|| Writer(state.clone()), &lq)
        .await
        .unwrap();
    t.set_write_buffer_limits(WriteBufferLimits::new(4096, 1024).unwrap());
    // Keep the reader paused from the start.
    tokio::task::yield_now().await;
    reader_transport
        .lock()
        .unwrap()
        .as_ref()
        .unwrap()
        .pause_reading();

    let small = Bytes::from(vec![0u8; 1000]);
    let mut writes = 0;
    let mut max_buffered = 0;
    while writes < 200 {
        // A writer that only writes when writable stays within high + one write.
        tokio::select! {
            biased;
            r = t.writable() => r.unwrap(),
            _ = async { for _ in 0..8 { tokio::task::yield_now().await } } => {
                // Blocked: let the reader take a chunk.
                reader_transport.lock().unwrap().as_ref().unwrap().resume_reading();
                continue;
            }
        }
        t.write(small.clone()).unwrap();
        writes += 1;
        max_buffered = max_buffered.max(t.write_buffer_size());
    }
    assert!(max_buffered <= 4096 + 1000, "{max_buffered}");
    assert!(
        max_buffered > 4096,
        "the writer did reach the high-water mark"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_writer_blocked_on_writable_learns_when_the_peer_closes() {
    let net = LocalNetwork::new();
    let lq = net.get_queue("blocked").unwrap();
    let reader = SlowReader::default();
    let reader_transport = reader.transport.clone();
    let factory = move || reader.clone();
    let _server = create_server(factory, &lq).await.unwrap();
    let (t, _) = create_connection(|| Writer(Arc::default()), &lq)
        .await
        .unwrap();
    t.set_write_buffer_limits(WriteBufferLimits::new(1000, 100).unwrap());
    let reader = reader_transport.lock().unwrap().clone().unwrap();
    reader.pause_reading();
    t.write(Bytes::from(vec![0u8; 2000])).unwrap();
    // The writer reads nothing either, so what the reader sends it stays
    // undelivered and, being above the reader's high-water mark, keeps the
    // reader's close from completing on its own.
    t.pause_reading();
    reader.set_write_buffer_limits(WriteBufferLimits::with_high(4));
    reader.write(Bytes::from_static(b"unread")).unwrap();
    let waiting = t.clone();
    let blocked = tokio::spawn(async move { waiting.writable().await });
    tokio::task::yield_now().await;
    assert!(
        !blocked.is_finished(),
        "the writer is above its high-water mark"
    );
    // The reader never resumes; it closes instead. The writer must not hang.
    reader.close();
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), blocked)
        .await
        .expect("writable() returned after the peer closed")
        .unwrap();
    assert!(
        matches!(result, Err(transport_api::Error::Closed)),
        "{result:?}"
    );
}
