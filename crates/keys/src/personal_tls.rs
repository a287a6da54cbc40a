//! A person's key as the key of their TLS client certificate (feature `tls`): an
//! operator proves who they are to an operator listener with the same key that signs
//! their requests, on their token or, in development, in a key file.
//!
//! ECDSA P-256 and P-384 work with TLS 1.3 and 1.2; an RSA key (PKCS#1 v1.5) only with
//! TLS 1.2, since TLS 1.3 has no PKCS#1 v1.5 handshake signature.

use crate::Signer;
use der::{Decode, Encode};
use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;
use shuin_core::SignatureAlgorithm;
use std::sync::Arc;

/// Why no TLS client could be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientTlsError {
    /// The key's algorithm signs no TLS handshake.
    #[error("a {0:?} key cannot sign a TLS handshake")]
    Algorithm(SignatureAlgorithm),
    /// The certificate chain is empty.
    #[error("no certificate was given")]
    NoCertificate,
    /// A PEM file of certificates does not read.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The first certificate does not parse.
    #[error("the certificate does not parse: {0}")]
    Certificate(String),
    /// The certificate is not the key's (another key).
    #[error("the certificate is not the key's certificate (it names another key)")]
    KeyMismatch,
    /// A trust anchor, or the protocol versions, were refused by rustls.
    #[error("TLS: {0}")]
    Tls(String),
}

/// The person's key, signing handshakes through its [`Signer`].
#[derive(Debug)]
pub struct TlsKey {
    signer: Arc<dyn Signer>,
    scheme: rustls::SignatureScheme,
}

impl TlsKey {
    /// The key of `signer`, if it can sign a handshake.
    pub fn new(signer: Arc<dyn Signer>) -> Result<TlsKey, ClientTlsError> {
        use SignatureAlgorithm as A;
        let scheme = match signer.algorithm() {
            A::EcdsaP256Sha256 => rustls::SignatureScheme::ECDSA_NISTP256_SHA256,
            A::EcdsaP384Sha384 => rustls::SignatureScheme::ECDSA_NISTP384_SHA384,
            A::RsaPkcs1Sha256 => rustls::SignatureScheme::RSA_PKCS1_SHA256,
            other => return Err(ClientTlsError::Algorithm(other)),
        };
        Ok(TlsKey { signer, scheme })
    }

    /// Whether only TLS 1.2 can use this key.
    pub fn tls12_only(&self) -> bool {
        self.scheme == rustls::SignatureScheme::RSA_PKCS1_SHA256
    }
}

impl rustls::sign::SigningKey for TlsKey {
    fn choose_scheme(
        &self,
        offered: &[rustls::SignatureScheme],
    ) -> Option<Box<dyn rustls::sign::Signer>> {
        if !offered.contains(&self.scheme) {
            return None;
        }
        Some(Box::new(HandshakeSignature {
            signer: self.signer.clone(),
            scheme: self.scheme,
        }))
    }

    fn public_key(&self) -> Option<rustls::pki_types::SubjectPublicKeyInfoDer<'_>> {
        Some(self.signer.public_key_der().into())
    }

    fn algorithm(&self) -> rustls::SignatureAlgorithm {
        if self.tls12_only() {
            rustls::SignatureAlgorithm::RSA
        } else {
            rustls::SignatureAlgorithm::ECDSA
        }
    }
}

/// One handshake signature by the person's key.
#[derive(Debug)]
struct HandshakeSignature {
    signer: Arc<dyn Signer>,
    scheme: rustls::SignatureScheme,
}

impl rustls::sign::Signer for HandshakeSignature {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        self.signer.sign(message).map_err(|e| {
            rustls::Error::General(format!(
                "the personal key could not sign the TLS handshake: {e}"
            ))
        })
    }

    fn scheme(&self) -> rustls::SignatureScheme {
        self.scheme
    }
}

/// The person's certificate, shown to every server that asks for one.
#[derive(Debug)]
struct ClientCertificate(Arc<CertifiedKey>);

impl rustls::client::ResolvesClientCert for ClientCertificate {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A TLS client (HTTP/1.1) that trusts only `server_anchors` for the server's
/// certificate and shows `chain` (the person's certificate first) proven by `signer`.
/// The first certificate must name the signer's key.
pub fn client_config(
    server_anchors: Vec<CertificateDer<'static>>,
    chain: Vec<CertificateDer<'static>>,
    signer: Arc<dyn Signer>,
) -> Result<Arc<rustls::ClientConfig>, ClientTlsError> {
    let first = chain.first().ok_or(ClientTlsError::NoCertificate)?;
    if certificate_spki(first.as_ref())? != signer.public_key_der() {
        return Err(ClientTlsError::KeyMismatch);
    }
    let mut roots = rustls::RootCertStore::empty();
    for anchor in server_anchors {
        roots
            .add(anchor)
            .map_err(|e| ClientTlsError::Tls(e.to_string()))?;
    }
    let key = TlsKey::new(signer)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider);
    let builder = if key.tls12_only() {
        builder.with_protocol_versions(&[&rustls::version::TLS12])
    } else {
        builder.with_safe_default_protocol_versions()
    }
    .map_err(|e| ClientTlsError::Tls(e.to_string()))?;
    let certified = Arc::new(CertifiedKey::new(chain, Arc::new(key)));
    let mut config = builder
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(ClientCertificate(certified)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Every certificate of the PEM file `path` (at least one).
///
/// # Errors
///
/// [`ClientTlsError::File`].
pub fn read_certificates(
    path: &std::path::Path,
) -> Result<Vec<CertificateDer<'static>>, ClientTlsError> {
    use rustls::pki_types::pem::PemObject;
    let fault = |reason: String| ClientTlsError::File {
        path: path.display().to_string(),
        reason,
    };
    let found = CertificateDer::pem_file_iter(path)
        .map_err(|e| fault(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fault(e.to_string()))?;
    if found.is_empty() {
        return Err(fault("no CERTIFICATE in the file".into()));
    }
    Ok(found)
}

/// The DER SubjectPublicKeyInfo of certificate `der`.
fn certificate_spki(der: &[u8]) -> Result<Vec<u8>, ClientTlsError> {
    let certificate = x509_cert::Certificate::from_der(der)
        .map_err(|e| ClientTlsError::Certificate(e.to_string()))?;
    certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| ClientTlsError::Certificate(e.to_string()))
}

#[cfg(test)]
#[path = "personal_tls_tests.rs"]
mod tests;
