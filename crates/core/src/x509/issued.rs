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

/// What a CRL says of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlFacts {
    /// Its CRL number.
    pub number: u64,
    /// thisUpdate.
    pub this_update: std::time::SystemTime,
    /// nextUpdate.
    pub next_update: std::time::SystemTime,
}

/// Checks that the CRL `crl_der` was issued by the CA whose certificate is `ca_der`
/// (issuer name and signature), and returns its number and times. A CRL without a
/// number or a nextUpdate is refused.
pub fn check_crl_issued_by(crl_der: &[u8], ca_der: &[u8]) -> Result<CrlFacts, NotIssuedBy> {
    use x509_cert::crl::CertificateList;
    use x509_cert::ext::pkix::CrlNumber;
    let bad = |e: der::Error| NotIssuedBy::Malformed(e.to_string());
    let crl = CertificateList::from_der(crl_der).map_err(bad)?;
    let ca = Certificate::from_der(ca_der).map_err(bad)?;
    let tbs = &crl.tbs_cert_list;
    if tbs.issuer != ca.tbs_certificate.subject {
        return Err(NotIssuedBy::OtherIssuer);
    }
    let ca_spki = ca
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(bad)?;
    let signature = crl
        .signature
        .as_bytes()
        .ok_or_else(|| NotIssuedBy::Malformed("the signature has unused bits".into()))?;
    crate::signature::verify(
        &ca_spki,
        crl.signature_algorithm.oid,
        &tbs.to_der().map_err(bad)?,
        signature,
    )
    .map_err(|_| NotIssuedBy::BadSignature)?;
    let number = tbs
        .crl_extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_CRL_NUMBER)
        .and_then(|e| CrlNumber::from_der(e.extn_value.as_bytes()).ok())
        .and_then(|n| {
            let bytes = n.0.as_bytes();
            (bytes.len() <= 8).then(|| bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
        })
        .ok_or_else(|| NotIssuedBy::Malformed("the CRL has no usable CRL number".into()))?;
    let next_update = tbs
        .next_update
        .as_ref()
        .ok_or_else(|| NotIssuedBy::Malformed("the CRL has no nextUpdate".into()))?;
    Ok(CrlFacts {
        number,
        this_update: crate::x509::time::to_system_time(&tbs.this_update),
        next_update: crate::x509::time::to_system_time(next_update),
    })
}
