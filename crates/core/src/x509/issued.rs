//! Whether a certificate was issued by a given CA certificate: the issuer name and the
//! signature, with public keys only.

use der::{Decode, Encode};
use x509_cert::Certificate;

/// Why a certificate is not the given CA's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotIssuedBy {
    /// One of the two does not decode.
    #[error("{0}")]
    Malformed(String),
    /// Its issuer is not the CA's subject.
    #[error("the issuer is not the CA")]
    OtherIssuer,
    /// The CA's signature does not verify.
    #[error("the CA's signature does not verify")]
    BadSignature,
}

/// Checks that `der` was issued by the CA whose certificate is `ca_der`, and returns it
/// decoded.
pub fn check_issued_by(der: &[u8], ca_der: &[u8]) -> Result<Certificate, NotIssuedBy> {
    let bad = |e: der::Error| NotIssuedBy::Malformed(e.to_string());
    let cert = Certificate::from_der(der).map_err(bad)?;
    let ca = Certificate::from_der(ca_der).map_err(bad)?;
    if cert.tbs_certificate.issuer != ca.tbs_certificate.subject {
        return Err(NotIssuedBy::OtherIssuer);
    }
    let tbs = cert.tbs_certificate.to_der().map_err(bad)?;
    let ca_spki = ca
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(bad)?;
    let signature = cert
        .signature
        .as_bytes()
        .ok_or_else(|| NotIssuedBy::Malformed("the signature has unused bits".into()))?;
    crate::signature::verify(&ca_spki, cert.signature_algorithm.oid, &tbs, signature)
        .map_err(|_| NotIssuedBy::BadSignature)?;
    Ok(cert)
}
