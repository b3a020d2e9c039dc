//! [`TlsInfo`]: what a TLS handshake established, for the protocol to see.

use rustls::pki_types::CertificateDer;
use rustls::{CipherSuite, CommonState, ProtocolVersion};

/// The outcome of a connection's TLS handshake (asyncio's
/// `get_extra_info("peercert")`, `"cipher"`, … in one value).
///
/// Reach it from a protocol through the shared transport:
///
/// ```
/// use transport_api::SharedTransport;
/// use transport_tcp::SocketTransport;
///
/// /// The DER of the peer's end-entity certificate, on a TLS connection.
/// fn peer_certificate(transport: &SharedTransport) -> Option<Vec<u8>> {
///     let tls = transport.downcast_ref::<SocketTransport>()?.tls_info()?;
///     tls.peer_certificates().first().map(|cert| cert.to_vec())
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    peer_certificates: Vec<CertificateDer<'static>>,
    server_name: Option<String>,
    alpn_protocol: Option<Vec<u8>>,
    protocol_version: Option<ProtocolVersion>,
    cipher_suite: Option<CipherSuite>,
}

impl TlsInfo {
    /// Reads the negotiated state of a finished handshake; `server_name` is
    /// the SNI name (the one a client asked for, or the one it sent).
    pub(crate) fn new(state: &CommonState, server_name: Option<String>) -> Self {
        TlsInfo {
            peer_certificates: state
                .peer_certificates()
                .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default(),
            server_name,
            alpn_protocol: state.alpn_protocol().map(<[u8]>::to_vec),
            protocol_version: state.protocol_version(),
            cipher_suite: state.negotiated_cipher_suite().map(|s| s.suite()),
        }
    }

    /// The peer's certificate chain, end-entity first; empty when the peer
    /// sent none (a client without a certificate on a server that does not
    /// require one).
    pub fn peer_certificates(&self) -> &[CertificateDer<'static>] {
        &self.peer_certificates
    }

    /// The server name (SNI): what the client asked for.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// The application protocol agreed by ALPN, if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.alpn_protocol.as_deref()
    }

    /// The TLS version in use.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.protocol_version
    }

    /// The cipher suite in use.
    pub fn cipher_suite(&self) -> Option<CipherSuite> {
        self.cipher_suite
    }
}
