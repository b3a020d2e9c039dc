//! A contract-net auction across three containers: a market with an
//! `Auctioneer`, and two containers of `Bidder`s. Bidders join by passing
//! themselves to the auctioneer (an agent reference: the auctioneer calls
//! them back over the same connection); for each task the auctioneer asks
//! every bidder for a price at once, awards the task to the cheapest and
//! tells the others.
//!
//! The same code runs on local queues (the default; deterministic, no
//! sockets) and on TCP:
//!
//! ```text
//! cargo run --example auction            # local://
//! cargo run --example auction -- tcp     # tcp://127.0.0.1, ports chosen by the system
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use agentwire::{agent, AgentContext, Container, ContainerOptions};
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};

/// A job to be done.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Task {
    id: u32,
    what: String,
    size: u32,
}

struct Auctioneer {
    bidders: Mutex<Vec<(String, BidderProxy)>>,
}

#[agent]
impl Auctioneer {
    /// A bidder joins the market (passing itself); returns its number.
    #[expose]
    async fn join(&self, name: String, bidder: BidderProxy) -> usize {
        let mut bidders = self.bidders.lock().unwrap_or_else(|p| p.into_inner());
        bidders.push((name, bidder));
        bidders.len()
    }
}

struct Bidder {
    ctx: AgentContext,
    name: String,
    /// Cost per unit of size.
    rate: u32,
    /// Units of work already won: a busy bidder asks more.
    load: AtomicU32,
}

#[agent]
impl Bidder {
    /// A price for `task`, or `None` to decline (too big for this bidder).
    #[expose]
    async fn cfp(&self, task: Task) -> Option<u32> {
        if task.size > 3 * self.rate {
            return None;
        }
        Some(task.size * self.rate + 2 * self.load.load(Ordering::SeqCst))
    }

    /// `task` was awarded to this bidder: it does the work.
    #[expose]
    async fn award(&self, task: Task) -> String {
        self.load.fetch_add(task.size, Ordering::SeqCst);
        format!(
            "{} did {:?} (agent {})",
            self.name,
            task.what,
            self.ctx.id()
        )
    }

    /// `task` went to someone else.
    #[expose]
    async fn reject(&self, task_id: u32) -> u32 {
        task_id
    }
}

/// Runs the auction on containers at `urls` (market, then two bidder
/// containers); returns what happened, one line per event.
pub async fn auction(
    urls: [&str; 3],
    options: ContainerOptions,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut log = Vec::new();
    let market = Container::create_with(urls[0], options.clone()).await?;
    let north = Container::create_with(urls[1], options.clone()).await?;
    let south = Container::create_with(urls[2], options).await?;
    let auctioneer = market.register_agent(Auctioneer {
        bidders: Mutex::new(Vec::new()),
    })?;

    let bidders = [
        ("ada", &north, 3),
        ("bo", &north, 5),
        ("cy", &south, 2),
        ("di", &south, 4),
    ];
    for (name, container, rate) in bidders {
        let bidder = container.register_agent_with(|ctx| Bidder {
            ctx,
            name: name.to_owned(),
            rate,
            load: AtomicU32::new(0),
        })?;
        let market: AuctioneerProxy = container.connect(auctioneer.url()).await?.into();
        let number = market.join(name.to_owned(), bidder.reference()).await?;
        log.push(format!("{name} joined the market as bidder {number}"));
    }

    let tasks = [
        ("deliver crates", 4),
        ("paint fence", 2),
        ("move piano", 9),
        ("fix roof", 5),
        ("water plants", 1),
    ];
    for (id, (what, size)) in (1..).zip(tasks) {
        let task = Task {
            id,
            what: what.to_owned(),
            size,
        };
        let bidders = auctioneer
            .bidders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        // Every bidder is asked at once; the answers come back in order.
        let bids = join_all(bidders.iter().map(|(_, b)| b.cfp(task.clone()))).await;
        let mut offers = Vec::new();
        let mut best: Option<(u32, usize)> = None;
        for (i, ((name, _), bid)) in bidders.iter().zip(bids).enumerate() {
            match bid? {
                Some(price) => {
                    offers.push(format!("{name} {price}"));
                    if best.is_none_or(|(p, _)| price < p) {
                        best = Some((price, i));
                    }
                }
                None => offers.push(format!("{name} declines")),
            }
        }
        log.push(format!(
            "task {id} {what:?} (size {size}): {}",
            offers.join(", ")
        ));
        let Some((price, winner)) = best else {
            log.push(format!("task {id}: no bidder can do it"));
            continue;
        };
        let losers = bidders.iter().enumerate().filter(|(i, _)| *i != winner);
        join_all(losers.map(|(_, (_, b))| b.reject(id))).await;
        let done = bidders[winner].1.award(task).await?;
        log.push(format!(
            "task {id}: awarded to {} for {price}; {done}",
            bidders[winner].0
        ));
    }
    for container in [market, north, south] {
        container.shutdown().await;
    }
    Ok(log)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "local".to_owned());
    let urls = match backend.as_str() {
        "local" => ["local://market", "local://north", "local://south"],
        "tcp" => [
            "tcp://127.0.0.1:0",
            "tcp://127.0.0.1:0",
            "tcp://127.0.0.1:0",
        ],
        other => return Err(format!("unknown backend {other:?}: use local or tcp").into()),
    };
    for line in auction(urls, ContainerOptions::new()).await? {
        println!("{line}");
    }
    Ok(())
}
