//! A seed's plan: its options and its waves of steps, all drawn from one
//! SplitMix64 generator before anything runs, so that a seed names the
//! same plan on every runtime (the interleaving differs on several
//! threads; the plan does not).

use std::time::Duration;

/// The containers that live, die and come back (the probe, index
/// `NODES`, lives for the whole seed).
pub const NODES: usize = 3;
/// The probe: a container that is never shut down before the seed's end,
/// from which every re-created container is checked.
pub const PROBE: usize = NODES;

/// SplitMix64 (Steele, Lea, Flood 2014): enough randomness for a plan.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 for `n == 0`).
    pub fn below(&mut self, n: usize) -> usize {
        let n = u64::try_from(n.max(1)).expect("fits");
        usize::try_from(self.next() % n).expect("below n")
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// A number in `lo..=hi`, as `u64`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    pub fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len())]
    }
}

/// How long a `connect` retries a refused connection.
#[derive(Debug, Clone, Copy)]
pub enum Retry {
    /// The container's default (one attempt).
    Default,
    /// `Some(Duration::ZERO)`: one attempt, said explicitly.
    Once,
    /// Retries for this long.
    For(Duration),
    /// Retries without end; the step gives up on it after `give_up`.
    Forever { give_up: Duration },
}

/// What a call does with its future.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Awaits it (bounded) and checks the result.
    Await,
    /// Polls it once, then drops it.
    DropAfterOnePoll,
    /// Gives up on it after a short while; checks it if it ended.
    GiveUpAfter(Duration),
}

/// A method to call; what a proxy's agent does not have becomes `add`
/// (a `Calc` has `add`, `echo`, `fail`; a `Worker` `add`, `nap`, `boom`,
/// `relay`).
#[derive(Debug, Clone, Copy)]
pub enum Method {
    Add(i64, i64),
    /// Answers after sleeping this many milliseconds.
    Nap(u64),
    /// Panics (a planned panic).
    Boom,
    /// Connects from the agent's container to node `to`'s agent 0 (maybe
    /// itself, maybe the caller: a call back) and calls its `nap`.
    Relay {
        to: usize,
        ms: u64,
    },
    Echo(i64),
    Fail,
    /// Sends a reference to the caller's container's agent 0, which the
    /// `Worker` calls back (`nap`) over the same connection.
    CallBack(u64),
    /// A method nobody has: a remote error.
    Missing,
}

/// What a lifecycle step does once its container is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Leaves the node down (shut down: its handle kept; dropped: none).
    StayDown,
    /// Re-creates a container at the same URL right away, and checks from
    /// the probe that it is reached.
    Recreate,
}

/// How a shutdown is called.
#[derive(Debug, Clone, Copy)]
pub enum How {
    /// Awaited.
    Plain,
    /// Its future dropped after one poll, then called again (awaited).
    AbandonedAfterOnePoll,
    /// Given up on after a while, then called again.
    GivenUpAfter(Duration),
    /// Two at once, both awaited.
    Twice,
    /// Its future dropped after one poll, and with it the node's handle
    /// (the last one, if no step holds another): the shutdown goes on in a
    /// task of its own; the container is then re-created at its URL.
    DroppedMidway,
}

/// One step. Nodes are `0..NODES`; `from`/`to` of connects and relays may
/// also be the probe.
#[derive(Debug, Clone, Copy)]
pub enum Op {
    /// `from` connects to agent `aid` of `to`; a proxy it gets goes to
    /// the pool.
    Connect {
        from: usize,
        to: usize,
        aid: usize,
        retry: Retry,
        /// Gives up on the connect after this long, wherever it is.
        give_up: Option<Duration>,
    },
    /// One call through the pool's proxy number `pick` (modulo its size).
    Call {
        pick: usize,
        method: Method,
        mode: Mode,
    },
    /// `n` calls at once through one proxy of the pool, each its own
    /// method and mode (drawn from `seed`).
    Flood { pick: usize, n: usize, seed: u64 },
    /// Drops a proxy of the pool.
    DropProxy { pick: usize },
    /// Registers an agent (typed or a `Calc`) while calls run.
    Register { node: usize, typed: bool },
    /// Shuts node `node` down, in one of several ways.
    Shutdown { node: usize, then: Then, how: How },
    /// Drops the node's handle (without `shutdown`).
    Drop { node: usize, then: Then },
    /// Starts a container at a node that is down.
    Start { node: usize },
    /// The probe calls node `node`'s agent 0, whose handler shuts its own
    /// container down.
    Quit { node: usize },
    /// Closes (or aborts) the connection of the pool's proxy number `pick`,
    /// by hand.
    CloseConnection { pick: usize, abort: bool },
    /// Shuts node `node` down while `from` connects to it.
    ConnectDuringShutdown {
        from: usize,
        node: usize,
        then: Then,
    },
}

impl Op {
    /// The node whose life this step changes, if any (at most one such
    /// step per node and wave, so that a re-created container's check
    /// does not race another step's shutdown of it).
    pub fn lifecycle(&self) -> Option<usize> {
        match *self {
            Op::Shutdown { node, .. }
            | Op::Drop { node, .. }
            | Op::Start { node }
            | Op::Quit { node }
            | Op::ConnectDuringShutdown { node, .. } => Some(node),
            _ => None,
        }
    }
}

/// A step and whether it runs in the background: started in its wave,
/// awaited only at the seed's end (so that it overlaps later waves).
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub op: Op,
    pub background: bool,
}

/// A seed's options and steps.
#[derive(Debug)]
pub struct Plan {
    pub grace: Duration,
    pub max_concurrent: usize,
    pub max_pending: usize,
    pub max_queued: usize,
    /// Whether `relay` is called (see [`plan`]).
    pub relays: bool,
    pub waves: Vec<Vec<Step>>,
}

/// A method to call; with `relays` false, a `nap` where a `relay` was
/// drawn.
pub fn method(rng: &mut Rng, relays: bool) -> Method {
    match rng.below(13) {
        0..=2 => Method::Add(rng.between(0, 100) as i64, rng.between(0, 100) as i64),
        3..=5 => Method::Nap(rng.between(0, 15)),
        6 => Method::Boom,
        7 | 8 if relays => Method::Relay {
            to: rng.below(NODES + 1),
            ms: rng.between(0, 10),
        },
        7 | 8 => Method::Nap(rng.between(0, 10)),
        9 => Method::Echo(rng.between(0, 1000) as i64),
        10 => Method::Fail,
        11 => Method::CallBack(rng.between(0, 10)),
        _ => Method::Missing,
    }
}

pub fn mode(rng: &mut Rng) -> Mode {
    match rng.below(6) {
        0..=3 => Mode::Await,
        4 => Mode::DropAfterOnePoll,
        _ => Mode::GiveUpAfter(Duration::from_millis(rng.between(0, 5))),
    }
}

fn retry(rng: &mut Rng) -> Retry {
    match rng.below(5) {
        0 | 1 => Retry::Default,
        2 => Retry::Once,
        3 => Retry::For(Duration::from_millis(rng.between(10, 300))),
        _ => Retry::Forever {
            give_up: Duration::from_millis(rng.between(5, 300)),
        },
    }
}

fn then(rng: &mut Rng) -> Then {
    if rng.one_in(3) {
        Then::StayDown
    } else {
        Then::Recreate
    }
}

fn op(rng: &mut Rng, relays: bool) -> Op {
    let node = rng.below(NODES);
    match rng.below(100) {
        0..=24 => Op::Connect {
            from: rng.below(NODES + 1),
            to: rng.below(NODES + 1),
            aid: rng.pick(&[0, 0, 1, 1, 2, 3]),
            retry: retry(rng),
            give_up: rng
                .one_in(4)
                .then(|| Duration::from_micros(rng.between(0, 2000))),
        },
        25..=51 => Op::Call {
            pick: rng.below(64),
            method: method(rng, relays),
            mode: mode(rng),
        },
        52..=59 => Op::Flood {
            pick: rng.below(64),
            n: if rng.one_in(4) {
                rng.below(150) + 50
            } else {
                rng.below(40) + 5
            },
            seed: rng.next(),
        },
        60..=63 => Op::DropProxy {
            pick: rng.below(64),
        },
        64..=67 => Op::Register {
            node: rng.below(NODES + 1),
            typed: rng.one_in(2),
        },
        68..=70 => Op::CloseConnection {
            pick: rng.below(64),
            abort: rng.one_in(2),
        },
        71..=77 => Op::Shutdown {
            node,
            then: then(rng),
            how: match rng.below(8) {
                0..=2 => How::Plain,
                3 => How::AbandonedAfterOnePoll,
                4 => How::GivenUpAfter(Duration::from_millis(rng.between(0, 3))),
                5 => How::Twice,
                _ => How::DroppedMidway,
            },
        },
        78..=82 => Op::Drop {
            node,
            then: then(rng),
        },
        83..=89 => Op::Start { node },
        90..=93 => Op::Quit { node },
        _ => Op::ConnectDuringShutdown {
            from: rng.below(NODES + 1),
            node,
            then: then(rng),
        },
    }
}

/// The plan of `seed`.
pub fn plan(seed: u64) -> Plan {
    let mut rng = Rng::new(seed);
    let grace = match rng.below(3) {
        0 => Duration::from_millis(50),
        1 => Duration::from_millis(500),
        // Never gives up on a peer: a wait on what cannot happen is a hang.
        _ => Duration::MAX,
    };
    let max_concurrent = rng.pick(&[1, 2, 4, 256]);
    let max_pending = rng.pick(&[1, 2, 8, 1024]);
    let max_queued = rng.pick(&[1, 4, 1024]);
    // A relay called through a container's connection to itself nests a
    // call on the same side of that connection. Until the container
    // marked that connection as its own, a flood of relays there held a
    // window slot each and, with a window smaller than the flood, waited
    // for each other for ever (seed 705 with a window of one): relays were
    // drawn only with the default window. They are drawn at every window
    // now; `relays` stays, so that a plan can still be made without them.
    let relays = true;
    let waves = (0..rng.between(8, 14))
        .map(|_| {
            let mut used = [false; NODES];
            (0..rng.between(2, 7))
                .map(|_| {
                    let mut op = op(&mut rng, relays);
                    if let Some(node) = op.lifecycle() {
                        if std::mem::replace(&mut used[node], true) {
                            op = Op::Call {
                                pick: rng.below(64),
                                method: method(&mut rng, relays),
                                mode: Mode::Await,
                            };
                        }
                    }
                    let background = op.lifecycle().is_none() && rng.one_in(5);
                    Step { op, background }
                })
                .collect()
        })
        .collect();
    Plan {
        grace,
        max_concurrent,
        max_pending,
        max_queued,
        relays,
        waves,
    }
}
