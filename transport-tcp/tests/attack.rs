//! Hostile use of TCP, Unix sockets and TLS on a multi-thread runtime: the
//! kit's attacks, servers closed while clients connect, two servers on one
//! address.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use transport_api::conformance::{Accepted, Backend, Log, Recorder};
use transport_api::{Address, Error, Protocol, Server, SharedTransport, Transport};
use transport_tcp::{TcpAddr, TcpServer, UnixAddr, UnixServer};

/// A hang detector, not a timing assertion.
const HANG: Duration = Duration::from_secs(10);

fn tcp0() -> TcpAddr {
    "tcp://127.0.0.1:0".parse().unwrap()
}

fn unix_path(tag: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("aw-atk-{}-{tag}-{n}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

struct Tcp;
impl Backend for Tcp {
    type Addr = TcpAddr;
    fn fresh_addr(&self) -> TcpAddr {
        tcp0()
    }
    fn client_addr(&self, server: &TcpServer) -> TcpAddr {
        server.addr()
    }
    fn refused_addr(&self) -> TcpAddr {
        tcp0()
    }
}

struct Unix;
impl Backend for Unix {
    type Addr = UnixAddr;
    fn fresh_addr(&self) -> UnixAddr {
        UnixAddr::new(unix_path("kit")).unwrap()
    }
    fn client_addr(&self, server: &UnixServer) -> UnixAddr {
        server.addr()
    }
    fn refused_addr(&self) -> UnixAddr {
        self.fresh_addr()
    }
    /// A Unix socket's abort is a close: the peer cannot tell.
    const ABORT_IS_SIGNALLED: bool = false;
}

/// The kit's attacks (one transport shared by eight tasks, protocols that
/// end, panic or block in their callbacks, the stream adapter used
/// roughly), on each socket.
mod tcp_kit {
    transport_api::attack_tests!(super::Tcp);
}

mod unix_kit {
    transport_api::attack_tests!(super::Unix);
}

/// Notes whether `connection_made` ran after `wait_closed` returned, and
/// ends its connection at once.
struct Late {
    wait_returned: Arc<AtomicBool>,
    late: Arc<AtomicUsize>,
}

impl Protocol for Late {
    fn connection_made(&mut self, transport: SharedTransport) {
        if self.wait_returned.load(Ordering::SeqCst) {
            self.late.fetch_add(1, Ordering::SeqCst);
        }
        transport.close();
    }
    fn data_received(&mut self, _: Bytes) {}
}

/// `close()` races many concurrent connects: every connect ends (refused,
/// or accepted and then closed), `wait_closed` returns, and no connection
/// is accepted after it did.
async fn close_races_connects<A: Address>(addr: A) {
    let wait_returned = Arc::new(AtomicBool::new(false));
    let late = Arc::new(AtomicUsize::new(0));
    let (w, l) = (Arc::clone(&wait_returned), Arc::clone(&late));
    let server = addr
        .create_server(move || Late {
            wait_returned: Arc::clone(&w),
            late: Arc::clone(&l),
        })
        .await
        .unwrap();
    let addr = server.addr();
    let connects: Vec<_> = (0..1000)
        .map(|_| {
            let addr = addr.clone();
            tokio::spawn(async move {
                let log = Log::new();
                if let Ok((t, _)) = addr.create_connection(Recorder::new(&log)).await {
                    // A connect that completes as the listener closes can
                    // leave this end half-open: the server's kernel drops a
                    // connection nobody accepted yet without a reset (`ss`
                    // showed it ESTAB here, nothing at the server). Any
                    // TCP client learns of it by sending: a byte draws the
                    // reset.
                    let _ = t.write(Bytes::from_static(b"?"));
                    log.wait_lost().await.map_err(|f| f.to_string())?;
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    server.close();
    tokio::time::timeout(HANG, server.wait_closed())
        .await
        .expect("wait_closed hung");
    wait_returned.store(true, Ordering::SeqCst);
    for connect in connects {
        tokio::time::timeout(HANG, connect)
            .await
            .expect("a connect hung")
            .unwrap()
            .unwrap();
    }
    assert_eq!(
        late.load(Ordering::SeqCst),
        0,
        "connections were accepted after wait_closed returned"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tcp_close_races_a_thousand_connects() {
    close_races_connects(tcp0()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unix_close_races_a_thousand_connects() {
    close_races_connects(UnixAddr::new(unix_path("race")).unwrap()).await;
}

/// A second server on a live server's address is `AddrInUse`, and the live
/// server sees no connection because of it.
async fn second_server_refused<A: Address>(first: &A::Server, again: A) {
    let accepted = Accepted::default();
    let err = again.create_server(accepted.factory()).await.unwrap_err();
    assert!(matches!(err, Error::AddrInUse { .. }), "{err:?}");
    assert!(err.to_string().contains(&again.to_string()), "{err}");
    assert!(first.is_serving());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_tcp_port() {
    let server = tcp0()
        .create_server(Accepted::default().factory())
        .await
        .unwrap();
    second_server_refused::<TcpAddr>(&server, server.addr()).await;
    server.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_unix_path_and_no_phantom_connection() {
    let accepted = Accepted::default();
    let addr = UnixAddr::new(unix_path("twice")).unwrap();
    let server = addr.create_server(accepted.factory()).await.unwrap();
    second_server_refused::<UnixAddr>(&server, addr.clone()).await;
    // A real client afterwards; once the server has closed and every
    // connection it accepted has ended, it accepted that one only.
    let log = Log::new();
    let (t, _) = addr.create_connection(Recorder::new(&log)).await.unwrap();
    transport_api::Transport::close(&t);
    log.wait_lost().await.unwrap();
    server.close();
    tokio::time::timeout(HANG, server.wait_closed())
        .await
        .expect("wait_closed hung");
    assert_eq!(
        accepted.logs().len(),
        1,
        "the live server accepted a connection the client did not make"
    );
}

/// A server dropped without `close` keeps accepting (documented: dropping
/// the value does not stop it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dropped_server_keeps_serving() {
    let accepted = Accepted::default();
    let server = tcp0().create_server(accepted.factory()).await.unwrap();
    let addr = server.addr();
    drop(server);
    let log = Log::new();
    let (t, _) = addr.create_connection(Recorder::new(&log)).await.unwrap();
    transport_api::Transport::write(&t, Bytes::from_static(b"still")).unwrap();
    accepted
        .wait_log(0)
        .await
        .unwrap()
        .wait_data(5)
        .await
        .unwrap();
    transport_api::Transport::close(&t);
    log.wait_lost().await.unwrap();
}

/// The same attacks over TLS (feature `tls`).
#[cfg(feature = "tls")]
mod tls {
    use std::sync::Arc;

    use transport_api::conformance::Backend;
    use transport_api::Server;
    use transport_tcp::{TlsAddr, TlsServer};

    use super::tcp0;

    /// TLS: a CA and a server certificate it signed, made once.
    struct Tls {
        server: Arc<transport_tcp::tls::rustls::ServerConfig>,
        client: Arc<transport_tcp::tls::rustls::ClientConfig>,
    }

    impl Tls {
        fn new() -> Self {
            use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
            use transport_tcp::tls;
            use transport_tcp::tls::rustls::pki_types::PrivatePkcs8KeyDer;

            let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
            ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let ca_key = KeyPair::generate().unwrap();
            let ca = ca_params.self_signed(&ca_key).unwrap();
            let issuer = Issuer::new(ca_params, ca_key);
            let params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &issuer).unwrap();
            let key = PrivatePkcs8KeyDer::from(key.serialize_der()).into();
            Tls {
                server: tls::server_config(vec![cert.der().clone()], key).unwrap(),
                client: tls::client_config(tls::root_store([ca.der().clone()]).unwrap()).unwrap(),
            }
        }
    }

    impl Backend for Tls {
        type Addr = TlsAddr;
        fn fresh_addr(&self) -> TlsAddr {
            TlsAddr::new(tcp0()).with_server_config(Arc::clone(&self.server))
        }
        fn client_addr(&self, server: &TlsServer) -> TlsAddr {
            server.addr().with_client_config(Arc::clone(&self.client))
        }
        fn refused_addr(&self) -> TlsAddr {
            TlsAddr::new(tcp0()).with_client_config(Arc::clone(&self.client))
        }
    }

    transport_api::attack_tests!(Tls::new());
}
