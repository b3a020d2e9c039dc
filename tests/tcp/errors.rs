//! Connection errors and the Unix socket-file rules.

use std::io::ErrorKind;

use transport_api::conformance::Recorder;
use transport_api::{Address, Error, Server, Transport};
use transport_tcp::{TcpAddr, UnixAddr};

use crate::support::{refused_tcp, stale_socket, tcp0, unix_addr, unix_path, within};

#[tokio::test]
async fn refused_tcp_connection_is_connection_refused() {
    let addr = refused_tcp();
    let err = addr
        .create_connection(Recorder::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert!(matches!(err, Error::ConnectionRefused { .. }), "{err:?}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn missing_unix_socket_is_not_found() {
    let addr = unix_addr("missing");
    let err = addr
        .create_connection(Recorder::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn stale_unix_socket_is_refused_then_replaced_by_a_server() {
    let addr = stale_socket();
    let err = addr
        .create_connection(Recorder::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");

    let server = addr.create_server(Recorder::default).await.unwrap();
    let (t, _) = addr.create_connection(Recorder::default()).await.unwrap();
    t.close();
    server.close();
    within("wait_closed", server.wait_closed()).await;
}

#[tokio::test]
async fn unix_server_never_deletes_a_regular_file() {
    let path = unix_path("regular");
    std::fs::write(&path, b"precious").unwrap();
    let addr = UnixAddr::new(&path).unwrap();
    let err = addr.create_server(Recorder::default).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    std::fs::remove_file(&path).unwrap();
}

#[tokio::test]
async fn unix_server_removes_its_socket_on_close() {
    let addr = unix_addr("removed");
    let server = addr.create_server(Recorder::default).await.unwrap();
    assert!(addr.path().exists());
    assert_eq!(server.addr(), addr);

    // A second server on a live socket is refused; the socket stays.
    let err = addr.create_server(Recorder::default).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
    assert!(addr.path().exists());

    server.close();
    assert!(!server.is_serving());
    assert!(!addr.path().exists(), "close left the socket file behind");
    within("wait_closed", server.wait_closed()).await;
    let err = addr
        .create_connection(Recorder::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn unix_server_close_leaves_a_replaced_file_alone() {
    let addr = unix_addr("replaced");
    let server = addr.create_server(Recorder::default).await.unwrap();
    // Someone replaces our socket with a file of their own.
    std::fs::remove_file(addr.path()).unwrap();
    std::fs::write(addr.path(), b"theirs").unwrap();
    server.close();
    assert_eq!(std::fs::read(addr.path()).unwrap(), b"theirs");
    std::fs::remove_file(addr.path()).unwrap();
}

#[tokio::test]
async fn port_in_use_is_addr_in_use() {
    let server = tcp0().create_server(Recorder::default).await.unwrap();
    let err = server
        .addr()
        .create_server(Recorder::default)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
    server.close();
}

#[tokio::test]
async fn port_zero_reports_the_real_port() {
    let server = tcp0().create_server(Recorder::default).await.unwrap();
    let addr = server.addr();
    assert_ne!(addr.port(), 0);
    assert_eq!(addr.to_string(), format!("tcp://127.0.0.1:{}", addr.port()));
    // Something really listens there.
    std::net::TcpStream::connect(addr.socket_addr().unwrap()).unwrap();
    server.close();
    within("wait_closed", server.wait_closed()).await;
    assert_eq!(
        std::net::TcpStream::connect(addr.socket_addr().unwrap())
            .unwrap_err()
            .kind(),
        ErrorKind::ConnectionRefused,
        "the listener is closed when close() returns"
    );
}

#[tokio::test]
async fn a_host_name_binds_and_connects() {
    let addr: TcpAddr = "tcp://localhost:0".parse().unwrap();
    let server = addr.create_server(Recorder::default).await.unwrap();
    assert_eq!(
        server.addr().to_string(),
        format!("tcp://localhost:{}", server.addr().port())
    );
    let (t, _) = server
        .addr()
        .create_connection(Recorder::default())
        .await
        .unwrap();
    t.close();
    server.close();
}

#[test]
fn no_runtime_is_an_error_not_a_panic() {
    let addr = tcp0();
    let fut = addr.create_connection(Recorder::default());
    let err = futures_util::FutureExt::now_or_never(fut)
        .expect("fails at once")
        .unwrap_err();
    assert!(matches!(err, Error::NoRuntime), "{err:?}");
}
