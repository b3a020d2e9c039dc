//! Free TCP ports for tests that let a port go and bind it again (a server
//! restarted on its address, a broker or a Python peer started on a port
//! chosen beforehand).

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// The first port of the kernel's ephemeral range when it cannot be read
/// (Linux's default is 32768–60999).
const EPHEMERAL_FROM: u16 = 32768;
/// The lowest port handed out.
const LOWEST: u16 = 10_000;

/// A free TCP port on 127.0.0.1, below the kernel's ephemeral range.
///
/// A port from `bind(0)` comes from that range, where any outgoing
/// connection or other `bind(0)` of the tests running beside this one may
/// take it the moment it is let go; a test that lets its port go and binds
/// it again (a restart) then fails with "address in use". Below the range,
/// only a port asked for by number can take it. Each call in a process
/// gives another port (from a start that depends on the process id).
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let from = ephemeral_from().max(LOWEST + 1);
    let span = u32::from(from - LOWEST);
    let start = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..span {
        let offset = (start + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let port = LOWEST + u16::try_from(offset).expect("below the range");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {LOWEST} and {from}");
}

/// The first port of the ephemeral range, from /proc where it can be read.
fn ephemeral_from() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(EPHEMERAL_FROM)
}
