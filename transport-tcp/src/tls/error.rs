//! Turning rustls failures into [`Error::Tls`] with a message that says what
//! went wrong.

use std::io;

use rustls::{AlertDescription, CertificateError};
use transport_api::Error;

/// A TLS error with `context` ("TLS handshake with tls://… failed") and the
/// cause in words.
pub(crate) fn from_rustls(err: rustls::Error, context: &str) -> Error {
    Error::Tls {
        message: format!("{context}: {}", describe(&err)),
        source: Some(Box::new(err)),
    }
}

/// A TLS error from an I/O error that carries a rustls error; `Err` gives the
/// I/O error back if it does not.
pub(crate) fn from_io(err: io::Error, context: &str) -> Result<Error, io::Error> {
    if !err.get_ref().is_some_and(|e| e.is::<rustls::Error>()) {
        return Err(err);
    }
    let kind = err.kind();
    match err.into_inner().map(|e| e.downcast::<rustls::Error>()) {
        Some(Ok(tls)) => Ok(from_rustls(*tls, context)),
        // Unreachable after the check above; keep the error anyway.
        Some(Err(other)) => Err(io::Error::new(kind, other)),
        None => Err(io::Error::from(kind)),
    }
}

/// What a rustls error means for the user.
fn describe(err: &rustls::Error) -> String {
    match err {
        rustls::Error::InvalidCertificate(cert) => {
            let why = match cert {
                CertificateError::UnknownIssuer => {
                    "it is not signed by a trusted root (the peer is not trusted)".to_owned()
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => {
                    "it is not valid for the server name".to_owned()
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "it has expired".to_owned()
                }
                other => format!("{other:?}"),
            };
            format!("the peer's certificate was rejected: {why} ({err})")
        }
        rustls::Error::AlertReceived(alert) => {
            let why = match alert {
                AlertDescription::UnknownCA | AlertDescription::BadCertificate => {
                    "the peer does not trust our certificate"
                }
                AlertDescription::CertificateRequired => "the peer requires a client certificate",
                AlertDescription::HandshakeFailure => "no common protocol or cipher suite",
                _ => "the peer ended the TLS session",
            };
            format!("{why} (alert {alert:?} received)")
        }
        rustls::Error::NoCertificatesPresented => {
            "the peer presented no certificate but one is required".to_owned()
        }
        other => other.to_string(),
    }
}
