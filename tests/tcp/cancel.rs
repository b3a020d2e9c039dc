//! A connect that its caller gives up on leaves no connection behind.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;

use transport_api::conformance::{Accepted, Log, Recorder};
use transport_api::{Address, Server, Transport};

use crate::support::{client_config, pki, server_config, tcp0, tls_server_addr, unix_addr, within};

/// Drops `create_connection` futures after 0, 1, 2, … polls (yielding to the
/// runtime in between), so that some are dropped while connecting and some
/// once the socket is connected but before `connection_made` came back.
/// Every connection the server accepted must end: the ones whose connect
/// completed are closed here, the others must not be left open.
async fn dropped_connects_leave_nothing<A: Address>(addr: A)
where
    A::Server: Server<Addr = A>,
{
    let accepted = Accepted::default();
    let server = addr.create_server(accepted.factory()).await.unwrap();
    let target = server.addr();
    dropped_connects_leave_nothing_at(target, accepted).await;
    server.close();
}

async fn dropped_connects_leave_nothing_at<A: Address>(target: A, accepted: Accepted) {
    for polls in 0..24 {
        let log = Log::default();
        let mut connect = pin!(target.create_connection(Recorder::new(&log)));
        for _ in 0..polls {
            let step = poll_fn(|cx| Poll::Ready(connect.as_mut().poll(cx))).await;
            if let Poll::Ready(done) = step {
                if let Ok((transport, _)) = done {
                    transport.close();
                }
                break;
            }
            tokio::task::yield_now().await;
        }
        // Dropped here, wherever it was.
    }
    within("every accepted connection ends", async {
        for i in 0.. {
            let Some(log) = accepted.logs().get(i).cloned() else {
                break;
            };
            while log.lost_count() == 0 {
                tokio::task::yield_now().await;
            }
        }
    })
    .await;
    for log in accepted.logs() {
        assert_eq!(log.lost_count(), 1);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_tcp_connect_leaves_no_connection() {
    dropped_connects_leave_nothing(tcp0()).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_unix_connect_leaves_no_connection() {
    dropped_connects_leave_nothing(unix_addr("cancel")).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_tls_connect_leaves_no_connection() {
    let server = tls_server_addr(server_config(pki()));
    let accepted = Accepted::default();
    let server = server.create_server(accepted.factory()).await.unwrap();
    let target = server.addr().with_client_config(client_config(pki()));
    drop(server);
    dropped_connects_leave_nothing_at(target, accepted).await;
}
