//! The conformance kit on [`AnyAddress`]: the type-erased address keeps
//! the semantics of the address inside, over local queues and TCP (and the
//! wrapped third-party backend), so containers can run on it.

use transport_api::conformance::Backend;
use transport_api::conformance::{connect, Recorder};
use transport_api::{Address, AnyAddress, AnyServer, Server, Transport};
use transport_tcp::TcpAddr;

use crate::local::LocalBackend;
use crate::sockets::Tcp;
use crate::wrapped::WrappedBackend;

/// A backend `B`, seen only through [`AnyAddress`].
#[derive(Default)]
pub struct Erased<B>(pub B);

impl<B: Backend> Backend for Erased<B> {
    type Addr = AnyAddress;

    fn fresh_addr(&self) -> AnyAddress {
        AnyAddress::new(self.0.fresh_addr())
    }

    fn client_addr(&self, server: &AnyServer) -> AnyAddress {
        let inner = server
            .downcast_ref::<<B::Addr as Address>::Server>()
            .expect("the backend's own server inside");
        // The backend's own client address (it may add client settings),
        // which is the server's own address for these backends.
        let addr = AnyAddress::new(self.0.client_addr(inner));
        assert_eq!(addr.to_string(), server.addr().to_string());
        addr
    }

    fn refused_addr(&self) -> AnyAddress {
        AnyAddress::new(self.0.refused_addr())
    }

    const ABORT_IS_SIGNALLED: bool = B::ABORT_IS_SIGNALLED;
}

mod local {
    transport_api::conformance_tests!(super::Erased::<super::LocalBackend>::default());
}
mod tcp {
    transport_api::conformance_tests!(super::Erased(super::Tcp));
}
mod wrapped {
    transport_api::conformance_tests!(super::Erased::<super::WrappedBackend>::default());
}
/// The attacks too, through the erased type.
mod local_attacks {
    transport_api::attack_tests!(super::Erased::<super::LocalBackend>::default());
}
mod tcp_attacks {
    transport_api::attack_tests!(super::Erased(super::Tcp));
}

#[tokio::test(flavor = "current_thread")]
async fn the_inner_types_are_reachable() {
    let addr = AnyAddress::new(crate::tcp_support::tcp0());
    assert_eq!(addr.scheme(), "tcp");
    assert!(addr.downcast_ref::<TcpAddr>().is_some());
    let server = addr.create_server(Recorder::default).await.expect("server");
    assert!(server.downcast_ref::<transport_tcp::TcpServer>().is_some());
    let real = server.addr();
    assert_ne!(real.downcast_ref::<TcpAddr>().expect("tcp").port(), 0);
    let (t, _) = connect(&real).await.expect("connect");
    assert!(t.downcast_ref::<transport_tcp::SocketTransport>().is_some());
    t.close();
    server.close();
    server.wait_closed().await;
}
