//! [`SimBuilder`]: a [`Sim`]'s seed, clock, codec and default link.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use agentwire::channel::{Codec, Json, DEFAULT_MAX_FRAME_SIZE};
use agentwire::clock::{Clock, ExternalClock, RealClock};
use tokio::sync::watch;

use crate::recorder::Recorder;
use crate::rng::SimRng;
use crate::sim::{SimInner, SimState};
use crate::summary::{summarizer, Summarizer};
use crate::{Link, Sim};

/// Builds a [`Sim`].
#[derive(Clone)]
pub struct SimBuilder {
    seed: u64,
    clock: Option<Arc<dyn Clock>>,
    external: Option<ExternalClock>,
    summarizer: Summarizer,
    framed: bool,
    max_frame: usize,
    default_link: Link,
    max_events: usize,
}

impl SimBuilder {
    /// How many events the recorder keeps (default
    /// [`DEFAULT_MAX_EVENTS`](crate::recorder::DEFAULT_MAX_EVENTS)); later
    /// ones are counted in [`Recorder::overflow`] and still go to
    /// `tracing`.
    pub fn max_events(mut self, max: usize) -> Self {
        self.max_events = max;
        self
    }

    /// The seed of every random choice (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Time is this clock's (default: a [`RealClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self.external = None;
        self
    }

    /// Time is simulated: this [`ExternalClock`]'s. [`Sim::run`] moves it
    /// forward whenever every task waits.
    pub fn external_clock(mut self, clock: ExternalClock) -> Self {
        self.clock = Some(Arc::new(clock.clone()));
        self.external = Some(clock);
        self
    }

    /// The codec the channels on the simulated links speak, to read their
    /// envelopes in traces and rules (default [`Json`], the container's).
    pub fn codec<C: Codec>(mut self, codec: C) -> Self {
        self.summarizer = summarizer(codec);
        self
    }

    /// Whether the byte streams are channel frames (the default). With
    /// `false`, each chunk written is one message (no envelope).
    pub fn framed(mut self, framed: bool) -> Self {
        self.framed = framed;
        self
    }

    /// The largest frame to reassemble (default the channel's 16 MiB); a
    /// larger header turns that direction into raw chunks.
    pub fn max_frame_size(mut self, max: usize) -> Self {
        self.max_frame = max;
        self
    }

    /// The link of every pair without one of its own.
    pub fn default_link(mut self, link: Link) -> Self {
        self.default_link = link;
        self
    }

    /// The simulation.
    pub fn build(self) -> Sim {
        let (faults, _) = watch::channel(0);
        Sim {
            inner: Arc::new(SimInner {
                clock: self.clock.unwrap_or_else(|| Arc::new(RealClock::new())),
                external: self.external,
                recorder: Recorder::with_max_events(self.max_events),
                summarizer: self.summarizer,
                framed: self.framed,
                max_frame: self.max_frame,
                state: Mutex::new(SimState {
                    rng: SimRng::new(self.seed),
                    default_link: self.default_link,
                    links: BTreeMap::new(),
                    held: BTreeSet::new(),
                    refused: BTreeSet::new(),
                    partition: Vec::new(),
                    rules: Arc::default(),
                    names: BTreeMap::new(),
                    urls: BTreeMap::new(),
                    conns: BTreeMap::new(),
                    next_conn: 0,
                }),
                next_msg: AtomicU64::new(0),
                faults,
                activity: AtomicU64::new(0),
            }),
        }
    }
}

impl fmt::Debug for SimBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimBuilder")
            .field("seed", &self.seed)
            .field("external_clock", &self.external.is_some())
            .field("framed", &self.framed)
            .field("default_link", &self.default_link)
            .finish_non_exhaustive()
    }
}

impl Default for SimBuilder {
    /// Seed 0, real time, JSON envelopes, instant links.
    fn default() -> Self {
        SimBuilder {
            seed: 0,
            clock: None,
            external: None,
            summarizer: summarizer(Json),
            framed: true,
            max_frame: DEFAULT_MAX_FRAME_SIZE,
            default_link: Link::new(),
            max_events: crate::recorder::DEFAULT_MAX_EVENTS,
        }
    }
}
