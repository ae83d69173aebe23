//! Encrypted connections. Both ends follow their own client's conventions: the source
//! takes `ssl-mode` and `ssl-ca` like the `mysql` client (`DISABLED`, `PREFERRED`,
//! `REQUIRED`, `VERIFY_CA`, `VERIFY_IDENTITY`), the target takes `sslmode` and
//! `sslrootcert` like libpq (`disable`, `prefer`, `require`, `verify-ca`,
//! `verify-full`). The default is "prefer" on both sides, as with their own clients:
//! encrypted when the server offers it, with no certificate check. `require` insists on
//! encryption; only the verify modes protect against an impostor server.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TlsMode {
    Disable,
    #[default]
    Prefer,
    Require,
    /// Verify the certificate chain, not the host name.
    VerifyCa,
    /// Verify the chain and that the certificate names the host.
    VerifyFull,
}

impl TlsMode {
    /// Parses either client's spelling (`VERIFY_IDENTITY` or `verify-full`, ...).
    pub fn parse(s: &str) -> Option<TlsMode> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "disable" | "disabled" => Some(TlsMode::Disable),
            "prefer" | "preferred" => Some(TlsMode::Prefer),
            "require" | "required" => Some(TlsMode::Require),
            "verify-ca" => Some(TlsMode::VerifyCa),
            "verify-full" | "verify-identity" => Some(TlsMode::VerifyFull),
            _ => None,
        }
    }

    pub fn verifies(self) -> bool {
        matches!(self, TlsMode::VerifyCa | TlsMode::VerifyFull)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TlsSettings {
    pub mode: TlsMode,
    /// Trusted CA certificates (PEM). Without it the verify modes use the Mozilla roots.
    pub ca: Option<PathBuf>,
}

impl TlsSettings {
    /// The mysql crate's options; `None` for a plain connection.
    pub fn mysql_ssl_opts(&self) -> Option<mysql::SslOpts> {
        if self.mode == TlsMode::Disable {
            return None;
        }
        let opts = mysql::SslOpts::default()
            .with_root_cert_path(self.ca.clone())
            .with_danger_accept_invalid_certs(!self.mode.verifies())
            .with_danger_skip_domain_validation(self.mode != TlsMode::VerifyFull);
        Some(opts)
    }

    pub fn pg_ssl_mode(&self) -> postgres::config::SslMode {
        use postgres::config::SslMode;
        match self.mode {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        }
    }

    /// The TLS connector for the postgres crate.
    pub fn pg_connector(&self) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = if self.mode.verifies() {
            let roots = Arc::new(root_store(self.ca.as_deref())?);
            let inner = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| Error::config(format!("TLS set-up: {e}")))?;
            Arc::new(Verifier {
                inner,
                check_chain: true,
                check_name: self.mode == TlsMode::VerifyFull,
            })
        } else {
            let inner = WebPkiServerVerifier::builder_with_provider(
                Arc::new(root_store(None)?),
                provider.clone(),
            )
            .build()
            .map_err(|e| Error::config(format!("TLS set-up: {e}")))?;
            Arc::new(Verifier {
                inner,
                check_chain: false,
                check_name: false,
            })
        };
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::config(format!("TLS set-up: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
    }
}

fn root_store(ca: Option<&Path>) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match ca {
        Some(path) => {
            let bad = |what: String| Error::config(format!("CA file {}: {what}", path.display()));
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| bad(pem_problem(&e)))?;
            for cert in certs {
                let cert = cert.map_err(|e| bad(pem_problem(&e)))?;
                store.add(cert).map_err(|e| {
                    bad(format!(
                        "a certificate in it cannot be used: {}",
                        crate::error::certificate_problem(&e.to_string())
                    ))
                })?;
            }
            if store.is_empty() {
                return Err(bad("it holds no PEM certificate".into()));
            }
        }
        None => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(store)
}

/// Checks that a CA file can be read and holds usable certificates, so that a bad file
/// is named as such rather than reported by a driver as a bad server certificate.
pub(crate) fn check_ca_file(path: &Path) -> Result<()> {
    root_store(Some(path)).map(|_| ())
}

/// The PEM reader's error in words (its own text shows raw bytes).
fn pem_problem(e: &rustls_pki_types::pem::Error) -> String {
    use rustls_pki_types::pem::Error as P;
    match e {
        P::MissingSectionEnd { .. } => "a PEM section has no END line".into(),
        P::IllegalSectionStart { .. } => "a BEGIN line is malformed".into(),
        P::Base64Decode(e) => format!("a PEM section is not valid base64 ({e})"),
        P::Io(e) => format!("cannot read it: {e}"),
        P::NoItemsFound => "it holds no PEM certificate".into(),
        other => other.to_string(),
    }
}

/// The standard verifier, with the chain or the name check switched off for the modes
/// that do not ask for them. Signatures are always checked.
#[derive(Debug)]
struct Verifier {
    inner: Arc<WebPkiServerVerifier>,
    check_chain: bool,
    check_name: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if !self.check_chain {
            return Ok(ServerCertVerified::assertion());
        }
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_in_both_spellings() {
        assert_eq!(TlsMode::parse("VERIFY_IDENTITY"), Some(TlsMode::VerifyFull));
        assert_eq!(TlsMode::parse("verify-full"), Some(TlsMode::VerifyFull));
        assert_eq!(TlsMode::parse("REQUIRED"), Some(TlsMode::Require));
        assert_eq!(TlsMode::parse("disable"), Some(TlsMode::Disable));
        assert_eq!(TlsMode::parse("verify_ca"), Some(TlsMode::VerifyCa));
        assert_eq!(TlsMode::parse("sometimes"), None);
        assert!(
            TlsSettings {
                mode: TlsMode::Disable,
                ca: None
            }
            .mysql_ssl_opts()
            .is_none()
        );
    }
}
