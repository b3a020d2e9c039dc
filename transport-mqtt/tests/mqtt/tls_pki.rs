//! A CA made on the spot for a TLS broker: its server certificate (for
//! 127.0.0.1) and key as PEM files for mosquitto, and client configurations
//! trusting it, with or without a client certificate. Shared with the root
//! crate's container tests.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::ExtendedKeyUsagePurpose;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore};

// The root crate's container tests load it through `tests/tcp/support.rs`
// too: two copies of a few test helpers, on purpose.
#[allow(clippy::duplicate_mod)]
#[path = "../../../tests/shared/ca.rs"]
mod ca;
use ca::{ca, issue};

use super::brokers::Mosquitto;
// rustls as the including crate names it (a dependency of its own, or
// transport-tcp's re-export).
use super::rustls;

/// A CA of its own, with a server certificate (for 127.0.0.1) and a client
/// one; the server's written as PEM files for the broker.
pub struct Pki {
    dir: PathBuf,
    ca: CertificateDer<'static>,
    client_chain: Vec<CertificateDer<'static>>,
    client_key: Vec<u8>,
}

impl Pki {
    pub fn new(tag: &str) -> Pki {
        let dir =
            std::env::temp_dir().join(format!("agentwire-mqtts-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let (ca, issuer) = ca(&format!("agentwire mqtts {tag} CA"));
        let (server, server_key) = issue(
            &issuer,
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client, client_key) = issue(
            &issuer,
            &["client.test"],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write");
        std::fs::write(dir.join("server.pem"), server.pem()).expect("write");
        std::fs::write(dir.join("server.key"), server_key.serialize_pem()).expect("write");
        Pki {
            dir,
            ca: ca.der().clone(),
            client_chain: vec![client.der().clone()],
            client_key: client_key.serialize_der(),
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn broker(&self, require_certificate: bool) -> Option<Mosquitto> {
        Mosquitto::start_tls(
            &self.file("ca.pem"),
            &self.file("server.pem"),
            &self.file("server.key"),
            require_certificate,
        )
    }

    /// A client configuration trusting this CA, presenting our client
    /// certificate with `with_cert`.
    pub fn client(&self, with_cert: bool) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.clone()).expect("a CA certificate");
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_root_certificates(roots);
        Arc::new(if with_cert {
            let key: PrivateKeyDer<'static> =
                PrivatePkcs8KeyDer::from(self.client_key.clone()).into();
            builder
                .with_client_auth_cert(self.client_chain.clone(), key)
                .expect("a client certificate")
        } else {
            builder.with_no_client_auth()
        })
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
