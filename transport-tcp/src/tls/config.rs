//! Building rustls configurations with the ring crypto provider: a server with
//! its certificate, a client with its trust roots, and mutual TLS.
//!
//! These are shortcuts for the common cases; any `rustls` configuration can be
//! given to [`TlsAddr`](super::TlsAddr) instead.

use std::sync::Arc;

use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use transport_api::{Error, Result};

use super::error::from_rustls;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// A trust store holding `certs` (for example a test CA's certificate).
///
/// # Errors
///
/// [`Error::Tls`] if a certificate cannot be parsed as a trust anchor.
///
/// ```
/// let store = transport_tcp::tls::root_store([]).unwrap();
/// assert!(store.is_empty());
/// ```
pub fn root_store(
    certs: impl IntoIterator<Item = CertificateDer<'static>>,
) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    for cert in certs {
        store
            .add(cert)
            .map_err(|e| from_rustls(e, "invalid trust anchor"))?;
    }
    Ok(store)
}

/// A server configuration presenting `cert_chain` (leaf first) with `key`,
/// asking clients for no certificate.
///
/// # Errors
///
/// [`Error::Tls`] if the key does not match the certificate or cannot be
/// used.
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>> {
    ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| from_rustls(e, "TLS server configuration"))?
        .with_no_client_auth()
        .with_single_cert(cert_chain, key)
        .map(Arc::new)
        .map_err(|e| from_rustls(e, "invalid server certificate or key"))
}

/// A server configuration for mutual TLS: like [`server_config`], and every
/// client must present a certificate signed by one of `client_roots`.
///
/// # Errors
///
/// [`Error::Tls`] if `client_roots` is empty, or the key does not match the
/// certificate.
pub fn server_config_with_client_auth(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_roots: RootCertStore,
) -> Result<Arc<ServerConfig>> {
    let provider = provider();
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(client_roots), Arc::clone(&provider))
            .build()
            .map_err(|e| Error::Tls {
                message: format!("invalid client trust roots: {e}"),
                source: Some(Box::new(e)),
            })?;
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| from_rustls(e, "TLS server configuration"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(cert_chain, key)
        .map(Arc::new)
        .map_err(|e| from_rustls(e, "invalid server certificate or key"))
}

/// A client configuration trusting `roots`, presenting no certificate.
///
/// # Errors
///
/// [`Error::Tls`] if the provider supports no protocol version (not with the
/// built-in ring provider).
pub fn client_config(roots: RootCertStore) -> Result<Arc<ClientConfig>> {
    Ok(Arc::new(
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| from_rustls(e, "TLS client configuration"))?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// A client configuration trusting `roots` and presenting `cert_chain` with
/// `key` to servers that ask (mutual TLS).
///
/// # Errors
///
/// [`Error::Tls`] if the key does not match the certificate or cannot be
/// used.
pub fn client_config_with_cert(
    roots: RootCertStore,
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ClientConfig>> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| from_rustls(e, "TLS client configuration"))?
        .with_root_certificates(roots)
        .with_client_auth_cert(cert_chain, key)
        .map(Arc::new)
        .map_err(|e| from_rustls(e, "invalid client certificate or key"))
}
