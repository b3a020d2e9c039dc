//! Shared helpers: certificates made on the spot, fresh addresses, bounded
//! waits.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rcgen::{ExtendedKeyUsagePurpose, KeyPair};
use transport_tcp::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use transport_tcp::tls::rustls::{ClientConfig, ServerConfig};
use transport_tcp::{tls, TcpAddr, TlsAddr, UnixAddr};

#[path = "../shared/ca.rs"]
mod ca;
use ca::{ca, issue};

/// How long any single wait in these tests may take before it fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// Awaits `fut`, failing the test (instead of hanging) after [`WAIT`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// `tcp://127.0.0.1:0`.
pub fn tcp0() -> TcpAddr {
    "tcp://127.0.0.1:0".parse().expect("valid address")
}

/// A socket path nobody uses yet, in the temp directory.
pub fn unix_path(tag: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    static SWEPT: OnceLock<()> = OnceLock::new();
    SWEPT.get_or_init(sweep_dead_sockets);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("aw-{}-{tag}-{n}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Removes the socket files earlier test runs left in the temp directory
/// (the stale sockets some tests make on purpose, and those of servers a
/// failed test never closed): `aw-<pid>-…` files whose process is gone.
/// Only where `/proc` says which processes live.
fn sweep_dead_sockets() {
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("aw-"))
            .filter(|n| n.ends_with(".sock"))
            .and_then(|n| n.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A fresh Unix address.
pub fn unix_addr(tag: &str) -> UnixAddr {
    UnixAddr::new(unix_path(tag)).expect("short path")
}

/// One certificate with its key.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

impl Identity {
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivatePkcs8KeyDer::from(self.key.clone()).into()
    }
}

/// A test CA, and a server and a client certificate it signed.
pub struct Pki {
    pub ca: CertificateDer<'static>,
    pub server: Identity,
    pub client: Identity,
}

fn identity((cert, key): (rcgen::Certificate, KeyPair)) -> Identity {
    Identity {
        chain: vec![cert.der().clone()],
        key: key.serialize_der(),
    }
}

fn make_pki(name: &str) -> Pki {
    let (ca, issuer) = ca(name);
    Pki {
        ca: ca.der().clone(),
        server: identity(issue(
            &issuer,
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )),
        client: identity(issue(
            &issuer,
            &["client.test"],
            ExtendedKeyUsagePurpose::ClientAuth,
        )),
    }
}

/// The test PKI (made once per test binary).
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| make_pki("agentwire test CA"))
}

/// Another, unrelated PKI: nothing of it is trusted by [`pki`]'s users.
pub fn other_pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| make_pki("stranger CA"))
}

/// A server configuration presenting `pki`'s server certificate.
pub fn server_config(pki: &Pki) -> Arc<ServerConfig> {
    tls::server_config(pki.server.chain.clone(), pki.server.key()).expect("server config")
}

/// A server configuration that requires client certificates from `pki`'s CA.
pub fn mtls_server_config(pki: &Pki) -> Arc<ServerConfig> {
    let roots = tls::root_store([pki.ca.clone()]).expect("roots");
    tls::server_config_with_client_auth(pki.server.chain.clone(), pki.server.key(), roots)
        .expect("mTLS server config")
}

/// A client configuration trusting `pki`'s CA.
pub fn client_config(pki: &Pki) -> Arc<ClientConfig> {
    tls::client_config(tls::root_store([pki.ca.clone()]).expect("roots")).expect("client config")
}

/// A client configuration trusting `pki`'s CA and presenting `who`.
pub fn client_config_with_cert(pki: &Pki, who: &Identity) -> Arc<ClientConfig> {
    let roots = tls::root_store([pki.ca.clone()]).expect("roots");
    tls::client_config_with_cert(roots, who.chain.clone(), who.key()).expect("client config")
}

/// `tls://127.0.0.1:0` serving with `config`.
pub fn tls_server_addr(config: Arc<ServerConfig>) -> TlsAddr {
    TlsAddr::new(tcp0()).with_server_config(config)
}

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
