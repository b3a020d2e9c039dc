//! A CA made on the spot for a TLS broker: its server certificate (for
//! 127.0.0.1) and key as PEM files for mosquitto, and client configurations
//! trusting it, with or without a client certificate. Shared with the root
//! crate's container tests.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore};

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

fn ca(name: &str) -> (CertificateParams, KeyPair, CertificateDer<'static>, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("self-signed CA");
    (params, key, cert.der().clone(), cert.pem())
}

impl Pki {
    pub fn new(tag: &str) -> Pki {
        let dir =
            std::env::temp_dir().join(format!("agentwire-mqtts-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let (params, key, ca_der, ca_pem) = ca(&format!("agentwire mqtts {tag} CA"));
        let issuer = Issuer::new(params, key);
        let issue = |names: &[&str], usage| {
            let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            let mut params = CertificateParams::new(names).expect("params");
            params.extended_key_usages = vec![usage];
            let key = KeyPair::generate().expect("key");
            let cert = params.signed_by(&key, &issuer).expect("signed");
            (cert, key)
        };
        let (server, server_key) = issue(
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client, client_key) = issue(&["client.test"], ExtendedKeyUsagePurpose::ClientAuth);
        std::fs::write(dir.join("ca.pem"), ca_pem).expect("write");
        std::fs::write(dir.join("server.pem"), server.pem()).expect("write");
        std::fs::write(dir.join("server.key"), server_key.serialize_pem()).expect("write");
        Pki {
            dir,
            ca: ca_der,
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
