//! TLS on listeners (DESIGN.md section 9): a listener's certificate and key, and, on
//! `operator` listeners, mutual TLS with client certificates from the operator CA.
//!
//! An operator listener trusts the operator CA certificate alone, and checks each client
//! certificate against the operator CA's newest CRL (its nextUpdate enforced). The CRL is
//! re-issued by the upkeep and on every operator revocation, so the listener follows it:
//! [`ListenerTls::follow_crls`] looks at the store every [`CRL_LOOK_EVERY`] and, when a
//! CRL with a new number is there, builds a new rustls `ServerConfig` and swaps it in;
//! each accepted connection takes the configuration current at that moment. Until the
//! operator CA has issued a CRL, an operator listener accepts no connection at all
//! (fail closed).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde::{Deserialize, Serialize};
use shuin_store::{CrlRecord, CrlStore};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How often an operator listener looks for a new operator CRL.
pub const CRL_LOOK_EVERY: Duration = Duration::from_secs(1);

/// `tls = { certificate = "PEM", key = "PEM" }` of a listener: paths relative to the
/// instance directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// The listener's certificate chain (PEM), its own certificate first.
    pub certificate: PathBuf,
    /// Its private key (PEM, PKCS#8, SEC1 or PKCS#1), readable by the owner only.
    pub key: PathBuf,
}

/// Who may connect to a listener.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// Anyone (applicants, signature verifiers, monitoring probes).
    #[default]
    None,
    /// Operators, by their certificate from the operator CA (mutual TLS); the operator
    /// API (`/operator/v1/*`) exists only on these listeners.
    Operator,
    /// shuin nodes of a split deployment, by their node certificate from the operator CA
    /// (`shuin_core::x509::node`); the peer API (`/peer/v1/*`) exists only on these
    /// listeners.
    Peer,
    /// Operators in a browser, by passkey (WebAuthn): the web console (`/console/*`)
    /// exists only on these listeners, with `console_origin` set.
    Passkey,
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or holds nothing usable.
    #[error("{}: {what}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The key file is readable by others than its owner.
    #[error("{}: the listener's key must be readable by its owner only (chmod 600)", .0.display())]
    KeyPermissions(PathBuf),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client verifier could not be built (a CRL that does not parse, say).
    #[error("operator client verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

fn file_error(path: &Path, what: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        what: what.to_string(),
    }
}

/// The listener's certificate chain and key, read from PEM files.
#[derive(Debug)]
pub struct ListenerIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl ListenerIdentity {
    /// Reads `section`'s files, each relative to `dir`.
    pub fn load(dir: &Path, section: &TlsSection) -> Result<ListenerIdentity, TlsError> {
        let certificate = dir.join(&section.certificate);
        let key = dir.join(&section.key);
        let chain = CertificateDer::pem_file_iter(&certificate)
            .map_err(|e| file_error(&certificate, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| file_error(&certificate, e))?;
        if chain.is_empty() {
            return Err(file_error(&certificate, "no CERTIFICATE in the file"));
        }
        check_owner_only(&key)?;
        let key_der = PrivateKeyDer::from_pem_file(&key).map_err(|e| file_error(&key, e))?;
        Ok(ListenerIdentity {
            chain,
            key: key_der,
        })
    }
}

impl ListenerIdentity {
    /// A TLS client configuration that presents this identity and trusts the CA
    /// certificate `ca_der` alone for servers (a node dialling another node).
    pub fn client_config(&self, ca_der: &[u8]) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from(ca_der.to_vec()))?;
        let mut config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn check_owner_only(path: &Path) -> Result<(), TlsError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| file_error(path, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(TlsError::KeyPermissions(path.to_owned()));
    }
    Ok(())
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The operator CA a listener trusts for client certificates.
#[derive(Debug, Clone)]
pub struct OperatorTrust {
    roots: Arc<RootCertStore>,
}

impl OperatorTrust {
    /// Trusts the operator CA certificate `ca_der` alone.
    pub fn new(ca_der: Vec<u8>) -> Result<OperatorTrust, TlsError> {
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from(ca_der))?;
        Ok(OperatorTrust {
            roots: Arc::new(roots),
        })
    }

    /// The verifier of client certificates under the operator CRL `crl_der`: a client
    /// certificate not issued by the operator CA, listed on the CRL, or checked against a
    /// CRL past its nextUpdate is refused at the handshake.
    fn verifier(
        &self,
        crl_der: Vec<u8>,
    ) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
        Ok(
            WebPkiClientVerifier::builder_with_provider(self.roots.clone(), provider())
                .with_crls([CertificateRevocationListDer::from(crl_der)])
                .enforce_revocation_expiration()
                .build()?,
        )
    }
}

/// What a listener's TLS needs to make its configuration.
#[derive(Debug)]
enum Clients {
    /// Anyone may connect.
    Anyone,
    /// Operators or nodes by their certificate from the operator CA, with the CRL number
    /// the current configuration was made with.
    Certified {
        nodes: bool,
        trust: OperatorTrust,
        crl_number: RwLock<Option<u64>>,
    },
}

/// A listener's TLS: its identity, who may connect, and the configuration current now.
#[derive(Debug)]
pub struct ListenerTls {
    identity: ListenerIdentity,
    clients: Clients,
    current: RwLock<Option<Arc<ServerConfig>>>,
}

impl ListenerTls {
    /// TLS for anyone (`client_auth = "none"`).
    pub fn open(identity: ListenerIdentity) -> Result<ListenerTls, TlsError> {
        let tls = ListenerTls {
            identity,
            clients: Clients::Anyone,
            current: RwLock::new(None),
        };
        let config = tls.config(WebPkiClientVerifier::no_client_auth())?;
        *tls.current.write().unwrap_or_else(|p| p.into_inner()) = Some(config);
        Ok(tls)
    }

    /// TLS for operators (`client_auth = "operator"`): no connection is accepted until
    /// [`ListenerTls::use_crl`] has been given the operator CA's CRL.
    pub fn for_operators(identity: ListenerIdentity, trust: OperatorTrust) -> ListenerTls {
        ListenerTls::certified(identity, trust, false)
    }

    /// TLS for the nodes of a split deployment (`client_auth = "peer"`), by their
    /// certificates from the operator CA and under its CRL, as for operators.
    pub fn for_nodes(identity: ListenerIdentity, trust: OperatorTrust) -> ListenerTls {
        ListenerTls::certified(identity, trust, true)
    }

    fn certified(identity: ListenerIdentity, trust: OperatorTrust, nodes: bool) -> ListenerTls {
        ListenerTls {
            identity,
            clients: Clients::Certified {
                nodes,
                trust,
                crl_number: RwLock::new(None),
            },
            current: RwLock::new(None),
        }
    }

    /// Whether clients must show an operator certificate.
    pub fn for_operator_clients(&self) -> bool {
        matches!(self.clients, Clients::Certified { nodes: false, .. })
    }

    /// Whether clients must show a node certificate.
    pub fn for_node_clients(&self) -> bool {
        matches!(self.clients, Clients::Certified { nodes: true, .. })
    }

    fn for_certified_clients(&self) -> bool {
        matches!(self.clients, Clients::Certified { .. })
    }

    fn config(
        &self,
        verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    ) -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.identity.chain.clone(), self.identity.key.clone_key())?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        if self.for_certified_clients() {
            // A resumed session skips the client certificate's verification (its chain
            // comes from the cache): an expired certificate or a stale CRL would pass.
            // Every operator connection is a full handshake.
            config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
            config.send_tls13_tickets = 0;
        }
        Ok(Arc::new(config))
    }

    /// The configuration for the next connection; `None` while an operator listener has
    /// no CRL yet.
    pub fn current(&self) -> Option<Arc<ServerConfig>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Checks client certificates against `crl` from now on, unless it is the CRL in use
    /// already. True when the configuration changed.
    pub fn use_crl(&self, crl: &CrlRecord) -> Result<bool, TlsError> {
        let Clients::Certified {
            trust, crl_number, ..
        } = &self.clients
        else {
            return Ok(false);
        };
        if *crl_number.read().unwrap_or_else(|p| p.into_inner()) == Some(crl.number) {
            return Ok(false);
        }
        let config = self.config(trust.verifier(crl.der.clone())?)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(config);
        *crl_number.write().unwrap_or_else(|p| p.into_inner()) = Some(crl.number);
        Ok(true)
    }

    /// Follows the operator CA's CRL (`scope` in `store`) until the task is dropped.
    pub async fn follow_crls(self: Arc<Self>, store: Arc<dyn CrlStore>, scope: String) {
        if !self.for_certified_clients() {
            return;
        }
        let mut ticker = tokio::time::interval(CRL_LOOK_EVERY);
        loop {
            ticker.tick().await;
            match store.latest_crl(&scope).await {
                Ok(Some(crl)) => match self.use_crl(&crl) {
                    Ok(true) => tracing::info!(
                        number = crl.number,
                        "operator listener: new operator CRL in use"
                    ),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(error = %e, number = crl.number, "operator listener: the operator CRL is unusable; the previous one stays in use")
                    }
                },
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "operator listener: reading the operator CRL failed")
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
