//! Checking an operator certificate against the operator CA certificate, with public
//! keys only (this crate never holds a private key).

use der::{Decode, Encode};
use x509_cert::Certificate;

/// Why an operator certificate is not the operator CA's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operator certificate: {0}")]
pub struct CertificateProblem(pub String);

/// What the organisation book records of an operator certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    /// The subject CN: the operator's name.
    pub name: String,
    /// Serial, hex.
    pub serial: String,
    /// The SubjectPublicKeyInfo DER.
    pub spki_der: Vec<u8>,
    /// Validity.
    pub not_before: std::time::SystemTime,
    /// Validity.
    pub not_after: std::time::SystemTime,
}

/// Reads the facts of a certificate.
pub fn facts(der: &[u8]) -> Result<CertificateFacts, CertificateProblem> {
    let bad = |e: der::Error| CertificateProblem(e.to_string());
    let cert = Certificate::from_der(der).map_err(bad)?;
    let tbs = &cert.tbs_certificate;
    let name = shuin_core::x509::name::attribute_values(&tbs.subject, const_oid::db::rfc4519::CN)
        .into_iter()
        .next()
        .ok_or_else(|| CertificateProblem("the subject has no CN".into()))?;
    Ok(CertificateFacts {
        name,
        serial: hex::encode_upper(tbs.serial_number.as_bytes()),
        spki_der: tbs.subject_public_key_info.to_der().map_err(bad)?,
        not_before: shuin_core::x509::time::to_system_time(&tbs.validity.not_before),
        not_after: shuin_core::x509::time::to_system_time(&tbs.validity.not_after),
    })
}

/// Checks that `der` was issued by the CA whose certificate is `ca_der` (issuer name and
/// signature) and returns its SubjectPublicKeyInfo DER.
pub fn check(der: &[u8], ca_der: &[u8]) -> Result<Vec<u8>, CertificateProblem> {
    use shuin_core::x509::issued::{check_issued_by, NotIssuedBy};
    let cert = check_issued_by(der, ca_der).map_err(|e| {
        CertificateProblem(match e {
            NotIssuedBy::OtherIssuer => "the issuer is not the operator CA".into(),
            NotIssuedBy::BadSignature => "the operator CA's signature does not verify".into(),
            other => other.to_string(),
        })
    })?;
    cert.tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| CertificateProblem(e.to_string()))
}
