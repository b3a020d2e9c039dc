//! The conformance kit on TCP, Unix sockets and TLS.

use transport_api::conformance::Backend;
use transport_api::Server;
use transport_tcp::{TcpAddr, TcpServer, TlsAddr, TlsServer, UnixAddr, UnixServer};

use crate::support::{client_config, pki, server_config, tcp0, tls_server_addr, unix_addr};

/// A port where nothing listens: bound a moment ago, then released.
pub fn refused_tcp() -> TcpAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    addr.into()
}

/// A socket file left behind by a listener that is gone.
pub fn stale_socket() -> UnixAddr {
    let addr = unix_addr("stale");
    drop(std::os::unix::net::UnixListener::bind(addr.path()).expect("bind"));
    addr
}

pub struct Tcp;
impl Backend for Tcp {
    type Addr = TcpAddr;
    fn fresh_addr(&self) -> TcpAddr {
        tcp0()
    }
    fn client_addr(&self, server: &TcpServer) -> TcpAddr {
        server.addr()
    }
    fn refused_addr(&self) -> TcpAddr {
        refused_tcp()
    }
}

pub struct Unix;
impl Backend for Unix {
    type Addr = UnixAddr;
    fn fresh_addr(&self) -> UnixAddr {
        unix_addr("kit")
    }
    fn client_addr(&self, server: &UnixServer) -> UnixAddr {
        server.addr()
    }
    /// A socket file nobody listens on (a missing file is `NotFound`).
    fn refused_addr(&self) -> UnixAddr {
        stale_socket()
    }
}

pub struct Tls;
impl Backend for Tls {
    type Addr = TlsAddr;
    fn fresh_addr(&self) -> TlsAddr {
        tls_server_addr(server_config(pki()))
    }
    fn client_addr(&self, server: &TlsServer) -> TlsAddr {
        server.addr().with_client_config(client_config(pki()))
    }
    fn refused_addr(&self) -> TlsAddr {
        TlsAddr::new(refused_tcp()).with_client_config(client_config(pki()))
    }
}

mod tcp {
    transport_api::conformance_tests!(super::Tcp);
}
mod unix {
    transport_api::conformance_tests!(super::Unix);
}
mod tls {
    transport_api::conformance_tests!(super::Tls);
}
