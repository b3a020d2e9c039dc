//! Protocols and helpers shared by the local-queue tests.

use std::io::ErrorKind;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;
use transport_api::{Error, Protocol, SharedTransport};

/// One protocol callback, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Made,
    Data(Vec<u8>),
    Eof,
    Lost(Option<ErrorKind>),
    Pause,
    Resume,
}

/// Shared view of what a [`Recorder`] saw.
#[derive(Debug, Clone, Default)]
pub struct Log {
    events: Arc<Mutex<Vec<Event>>>,
    changed: Arc<Notify>,
    transport: Arc<Mutex<Option<SharedTransport>>>,
}

impl Log {
    fn push(&self, event: Event) {
        self.events.lock().unwrap().push(event);
        self.changed.notify_waiters();
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// All data received, concatenated.
    pub fn data(&self) -> Vec<u8> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Data(d) => Some(d),
                _ => None,
            })
            .flatten()
            .collect()
    }

    pub fn lost_count(&self) -> usize {
        self.events()
            .iter()
            .filter(|e| matches!(e, Event::Lost(_)))
            .count()
    }

    pub fn transport(&self) -> SharedTransport {
        self.transport
            .lock()
            .unwrap()
            .clone()
            .expect("connection_made was called")
    }

    /// Waits (at most 10 s, as a guard against hangs) until `cond` holds.
    pub async fn wait_for(&self, what: &str, cond: impl Fn(&[Event]) -> bool) {
        let wait = async {
            loop {
                let notified = self.changed.notified();
                if cond(&self.events.lock().unwrap()) {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .is_err()
        {
            panic!("timed out waiting for {what}; events: {:?}", self.events());
        }
    }

    pub async fn wait_lost(&self) {
        self.wait_for("connection_lost", |ev| {
            ev.iter().any(|e| matches!(e, Event::Lost(_)))
        })
        .await
    }
}

/// Records every callback into a [`Log`]; keeps the transport (so the
/// connection stays open until closed); echoes if asked to.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    pub log: Log,
    pub echo: bool,
    pub keep_open_on_eof: bool,
}

impl Recorder {
    pub fn new(log: &Log) -> Self {
        Recorder {
            log: log.clone(),
            ..Recorder::default()
        }
    }
}

impl Protocol for Recorder {
    fn connection_made(&mut self, transport: SharedTransport) {
        *self.log.transport.lock().unwrap() = Some(transport);
        self.log.push(Event::Made);
    }

    fn data_received(&mut self, data: Bytes) {
        if self.echo {
            self.log.transport().write(data.clone()).unwrap();
        }
        self.log.push(Event::Data(data.to_vec()));
    }

    fn eof_received(&mut self) -> bool {
        self.log.push(Event::Eof);
        self.keep_open_on_eof
    }

    fn connection_lost(&mut self, error: Option<Error>) {
        self.log.push(Event::Lost(error.map(|e| e.kind())));
        // Drop our handle like a real protocol would.
        self.log.transport.lock().unwrap().take();
    }

    fn pause_writing(&mut self) {
        self.log.push(Event::Pause);
    }

    fn resume_writing(&mut self) {
        self.log.push(Event::Resume);
    }
}

/// A factory for a server whose every connection logs into a new [`Log`],
/// collected in order of connection.
#[derive(Debug, Clone, Default)]
pub struct ServerLogs {
    logs: Arc<Mutex<Vec<Log>>>,
    pub echo: bool,
}

impl ServerLogs {
    pub fn echo() -> Self {
        ServerLogs {
            echo: true,
            ..ServerLogs::default()
        }
    }

    pub fn factory(&self) -> impl Fn() -> Recorder + Send + Sync + 'static {
        let this = self.clone();
        move || {
            let log = Log::default();
            this.logs.lock().unwrap().push(log.clone());
            Recorder {
                log,
                echo: this.echo,
                keep_open_on_eof: false,
            }
        }
    }

    pub fn get(&self, i: usize) -> Log {
        self.logs.lock().unwrap()[i].clone()
    }

    pub fn len(&self) -> usize {
        self.logs.lock().unwrap().len()
    }
}

/// Lets every ready task run until nothing is left to do (current-thread
/// runtime): enough rounds for the drivers to settle.
pub async fn settle() {
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
}
