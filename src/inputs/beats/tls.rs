//! TLS for the Beats input (Filebeat's `output.logstash.ssl.*`), with rustls.
//!
//! Fleets of gateways ship logs across networks they do not own, so the server side of
//! Logstash's `ssl_*` options is covered: a certificate chain and its PKCS#8 key (Logstash's
//! requirement too), and optionally a CA whose certificates every client must present
//! (Logstash's `ssl_client_authentication => required`), or may present (`optional`). Everything is loaded and checked when
//! the pipeline is built, so a wrong path or a key that does not match the certificate is a
//! configuration error with a position, not a failure at the first connection. rustls with the
//! `ring` provider keeps the build free of system OpenSSL.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::rustls::crypto::ring::default_provider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// A ready TLS server configuration.
#[derive(Clone)]
pub struct Tls(pub TlsAcceptor);

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tls")
    }
}

/// Which setting a TLS problem comes from, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError {
    pub setting: &'static str,
    pub message: String,
}

fn error(setting: &'static str, message: impl Into<String>) -> TlsError {
    TlsError {
        setting,
        message: message.into(),
    }
}

fn read(path: &Path, setting: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path)
        .map_err(|e| error(setting, format!("cannot read `{}`: {e}", path.display())))
}

fn certificates(
    path: &Path,
    setting: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path, setting)?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(setting, format!("invalid PEM in `{}`: {e}", path.display())))?;
    if certificates.is_empty() {
        return Err(error(
            setting,
            format!("no certificate in `{}`", path.display()),
        ));
    }
    Ok(certificates)
}

/// Builds the server configuration from PEM files. `client_ca` is the CA client certificates
/// are checked against and whether a client must present one (`false`: optional).
pub fn acceptor(
    certificate: &Path,
    key: &Path,
    client_ca: Option<(&Path, bool)>,
) -> Result<Tls, TlsError> {
    let chain = certificates(certificate, "tls_certificate")?;
    let key_pem = read(key, "tls_key")?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        error(
            "tls_key",
            format!(
                "no PKCS#8, PKCS#1 or SEC1 private key in `{}`: {e}",
                key.display()
            ),
        )
    })?;
    let provider = Arc::new(default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| error("tls_certificate", e.to_string()))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some((path, required)) => {
            let mut roots = RootCertStore::empty();
            for certificate in certificates(path, "tls_client_ca")? {
                roots
                    .add(certificate)
                    .map_err(|e| error("tls_client_ca", e.to_string()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if required {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            let verifier = verifier
                .build()
                .map_err(|e| error("tls_client_ca", e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| error("tls_key", format!("does not fit `tls_certificate`: {e}")))?;
    Ok(Tls(TlsAcceptor::from(Arc::new(config))))
}
