//! Stress scenarios for a multi-thread runtime: one transport handle shared
//! by many tasks that use every part of its API at once.
//!
//! These are not in [`SCENARIOS`](super::SCENARIOS) (they need a runtime
//! with several worker threads to mean anything); call them from a
//! `#[tokio::test(flavor = "multi_thread")]`.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use super::{connect, ensure, serve, shut, Accepted, Backend, Event, Failure, Outcome, Recorder};
use crate::Transport;

/// Tasks sharing the client's transport.
const TASKS: u8 = 8;
/// Operations per task.
const OPS: u32 = 300;
/// Header of one write: task (1 byte), sequence number (4), length (2).
const HEADER: usize = 7;

/// A small seeded generator (xorshift64*): the same seed, the same choices.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((x >> 32) % u64::from(n)) as u32
    }
}

/// One write: a header naming it, then a payload derived from the header,
/// so a torn, duplicated or corrupted write cannot go unnoticed.
fn message(task: u8, seq: u32, len: u16) -> Bytes {
    let mut buf = BytesMut::with_capacity(HEADER + usize::from(len));
    buf.put_u8(task);
    buf.put_u32(seq);
    buf.put_u16(len);
    let fill = task.wrapping_mul(31).wrapping_add(seq as u8);
    buf.put_bytes(fill, usize::from(len));
    buf.freeze()
}

/// Which ending operations a run may use besides the final `close`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    None,
    Close,
    Abort,
    WriteEof,
}

/// What one task did.
#[derive(Debug, Default)]
struct Done {
    /// (task, seq) of the writes that returned `Ok` (and were taken).
    written: BTreeSet<(u8, u32)>,
    aborted: bool,
}

async fn hammer(transport: Arc<dyn Transport>, task: u8, seed: u64, ending: Ending) -> Done {
    let mut rng = Rng::new(seed ^ (u64::from(task) << 40));
    let mut done = Done::default();
    let mut seq = 0u32;
    let mut next = |rng: &mut Rng| {
        seq += 1;
        (seq, message(task, seq, 1 + rng.below(1500) as u16))
    };
    for _ in 0..OPS {
        match rng.below(1000) {
            0..=449 => {
                let (s, m) = next(&mut rng);
                if transport.write(m).is_ok() {
                    done.written.insert((task, s));
                }
            }
            450..=649 => {
                let (s1, m1) = next(&mut rng);
                let (s2, m2) = next(&mut rng);
                if transport.writelines(&[m1, m2]).is_ok() {
                    done.written.insert((task, s1));
                    done.written.insert((task, s2));
                }
            }
            650..=849 => {
                let (s, m) = next(&mut rng);
                if let Ok(None) = transport.write_if_ready(m) {
                    done.written.insert((task, s));
                }
            }
            850..=899 => transport.pause_reading(),
            900..=949 => transport.resume_reading(),
            950..=994 => {
                let _ = (
                    transport.is_closing(),
                    transport.write_buffer_size(),
                    transport.is_reading(),
                );
            }
            _ => match ending {
                Ending::None => {}
                Ending::Close => transport.close(),
                Ending::Abort => {
                    transport.abort();
                    done.aborted = true;
                }
                Ending::WriteEof => {
                    let _ = transport.write_eof();
                }
            },
        }
        if rng.below(4) == 0 {
            tokio::task::yield_now().await;
        }
    }
    done
}

/// Splits what a receiver got into the writes it is made of: each must be
/// whole and intact, each task's in the order written, none twice. Returns
/// them and the length of a trailing incomplete write.
fn parse(data: &[u8]) -> Result<(Vec<(u8, u32)>, usize), Failure> {
    let mut got = Vec::new();
    let mut last = [0u32; TASKS as usize];
    let mut rest = data;
    while rest.len() >= HEADER {
        let task = rest[0];
        let seq = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]);
        let len = usize::from(u16::from_be_bytes([rest[5], rest[6]]));
        let at = data.len() - rest.len();
        ensure!(
            task < TASKS && len > 0,
            "torn write at byte {at}: header says task {task}, length {len}"
        );
        if rest.len() < HEADER + len {
            break;
        }
        let fill = task.wrapping_mul(31).wrapping_add(seq as u8);
        ensure!(
            rest[HEADER..HEADER + len].iter().all(|&b| b == fill),
            "write {task}/{seq} at byte {at} is torn or corrupted"
        );
        ensure!(
            seq > last[usize::from(task)],
            "write {task}/{seq} at byte {at} arrived after {task}/{} (duplicated or reordered)",
            last[usize::from(task)]
        );
        last[usize::from(task)] = seq;
        got.push((task, seq));
        rest = &rest[HEADER + len..];
    }
    Ok((got, rest.len()))
}

/// Checks that `log` has `connection_made` first and exactly one
/// `connection_lost`, last.
fn lost_once_last(who: &str, events: &[Event]) -> Outcome {
    let lost = events
        .iter()
        .filter(|e| matches!(e, Event::Lost(_)))
        .count();
    ensure!(lost == 1, "{who}: connection_lost called {lost} times");
    ensure!(
        matches!(events.last(), Some(Event::Lost(_))),
        "{who}: an event came after connection_lost"
    );
    ensure!(
        events.first() == Some(&Event::Made),
        "{who}: connection_made is not first"
    );
    Ok(())
}

/// Eight tasks on a multi-thread runtime share the client's transport and
/// call `write`, `writelines`, `write_if_ready`, `pause_reading`,
/// `resume_reading` and (depending on `seed`) `close`, `abort` or
/// `write_eof` at random, seeded, at the same time; the server echoes.
///
/// Checks: no panic and no hang; each side gets `connection_lost` exactly
/// once and last; the server receives whole writes, each task's in order,
/// none twice, and every write that returned `Ok` unless the transport was
/// aborted; the client receives a prefix of what the server received;
/// `wait_closed` returns.
pub async fn shared_transport<B: Backend>(backend: &B, seed: u64) -> Outcome {
    let ending = match seed % 4 {
        0 => Ending::None,
        1 => Ending::Close,
        2 => Ending::Abort,
        _ => Ending::WriteEof,
    };
    let accepted = Accepted::new(Recorder {
        echo: true,
        ..Recorder::default()
    });
    let (server, addr) = serve(backend, &accepted).await?;
    let (client, log) = connect(&addr).await?;
    // The server's side first: over TLS the client's handshake ends before
    // the server's, and a client that aborts at once leaves the server
    // without a connection (its handshake fails), which is no fault.
    let server_log = accepted.wait_log(0).await?;
    let shared: Arc<dyn Transport> = Arc::new(client);
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| tokio::spawn(hammer(Arc::clone(&shared), task, seed, ending)))
        .collect();
    let mut done = Done::default();
    for task in tasks {
        let one = task
            .await
            .map_err(|e| Failure::new(format!("a task using the transport panicked: {e}")))?;
        done.written.extend(one.written);
        done.aborted |= one.aborted;
    }
    shared.close();
    drop(shared);
    server_log.wait_lost().await?;
    log.wait_lost().await?;
    lost_once_last("client", &log.events())?;
    lost_once_last("server", &server_log.events())?;

    let received = server_log.data();
    let (got, torn) = parse(&received)?;
    let got_set: BTreeSet<_> = got.iter().copied().collect();
    if let Some(bad) = got_set.difference(&done.written).next() {
        return Err(Failure::new(format!(
            "the server received write {}/{} that returned an error or was handed back",
            bad.0, bad.1
        )));
    }
    if !done.aborted {
        ensure!(
            torn == 0,
            "the server received {torn} bytes of a torn write without an abort"
        );
        ensure!(
            got_set.len() == done.written.len(),
            "the server received {} of {} writes that returned Ok, without an abort",
            got_set.len(),
            done.written.len()
        );
    }
    let echoed = log.data();
    ensure!(
        received.starts_with(&echoed),
        "the client received {} bytes that are not a prefix of the {} the server echoed",
        echoed.len(),
        received.len()
    );
    shut(&server).await
}

/// Eight tasks wait for room on one transport (`writable()`, which is
/// `poll_write_ready`) while its buffer is full and the peer does not read:
/// when the peer reads again, every one of them is woken, not only the
/// last to register.
pub async fn many_tasks_wait_writable<B: Backend>(backend: &B) -> Outcome {
    use crate::{TransportExt, WriteBufferLimits};

    let accepted = Accepted::new(Recorder {
        start_paused: true,
        ..Recorder::default()
    });
    let (server, addr) = serve(backend, &accepted).await?;
    let (client, log) = connect(&addr).await?;
    let client: Arc<dyn Transport> = Arc::new(client);
    client.set_write_buffer_limits(WriteBufferLimits::with_high(4096));
    let server_log = accepted.wait_log(0).await?;
    let st = server_log.require_transport("server")?;
    // Fill the buffer until the transport says wait (a socket takes some
    // into the kernel first).
    let chunk = Bytes::from(vec![7u8; 64 * 1024]);
    let mut filled = false;
    for _ in 0..4096 {
        if client
            .write_if_ready(chunk.clone())
            .map_err(|e| Failure::new(format!("write: {e}")))?
            .is_some()
        {
            filled = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    ensure!(
        filled,
        "the write buffer never filled while the peer did not read"
    );
    let waiters: Vec<_> = (0..TASKS)
        .map(|_| {
            let t = Arc::clone(&client);
            tokio::spawn(async move { t.writable().await.is_ok() })
        })
        .collect();
    // Let every waiter register before the peer reads again.
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
    st.resume_reading();
    for (i, waiter) in waiters.into_iter().enumerate() {
        match tokio::time::timeout(super::recorder::WAIT, waiter).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return Err(Failure::new(format!("waiter {i}: writable() failed"))),
            Ok(Err(e)) => return Err(Failure::new(format!("waiter {i} panicked: {e}"))),
            Err(_) => return Err(Failure::new(format!("waiter {i} was never woken"))),
        }
    }
    client.close();
    drop(st);
    log.wait_lost().await?;
    shut(&server).await
}
