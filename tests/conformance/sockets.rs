//! The conformance kit on TCP, Unix sockets and TLS (certificates and socket
//! paths come from the TCP tests' support module).

use transport_api::conformance::Backend;
use transport_api::Server;
use transport_tcp::{TcpAddr, TcpServer, TlsAddr, TlsServer, UnixAddr, UnixServer};

use crate::tcp_support::{
    client_config, pki, refused_tcp, server_config, stale_socket, tcp0, tls_server_addr, unix_addr,
};

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
    /// A Unix socket's abort is a close: the peer cannot tell.
    const ABORT_IS_SIGNALLED: bool = false;
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
