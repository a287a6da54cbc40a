//! Checking an OCSP answer (RFC 6960) as a verifier or a repository node does before it
//! trusts one: a successful basic response, signed by the responder certificate it
//! carries, which the issuing CA signed and which is the CA's own or one for OCSP
//! signing (extendedKeyUsage id-kp-OCSPSigning); and the certificates it names, by serial, with
//! their status. Answers about another issuer's certificates are left out.

use crate::ocsp::IssuerHashes;
use crate::serial::Serial;
use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_ocsp::{BasicOcspResponse, CertStatus, OcspResponse, OcspResponseStatus};

/// Why an answer is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OcspCheckError {
    /// Not DER of an OCSPResponse and a BasicOCSPResponse.
    #[error("the OCSP answer is malformed: {0}")]
    Malformed(String),
    /// A status other than `successful`.
    #[error("the OCSP responder answered {0}")]
    NotSuccessful(String),
    /// No responder certificate to check the signature with.
    #[error("the OCSP answer carries no responder certificate")]
    NoResponderCertificate,
    /// The responder certificate is not the issuing CA's, or the answer's signature
    /// does not verify with it.
    #[error("a signature in the OCSP answer does not verify")]
    BadSignature,
    /// The responder certificate is neither the CA's own nor one for OCSP signing (RFC
    /// 6960 section 4.2.2.2: extendedKeyUsage id-kp-OCSPSigning): any other certificate
    /// the CA issued, a subscriber's say, does not speak for the CA.
    #[error("the OCSP answer's responder certificate is not for OCSP signing")]
    NotAnOcspResponder,
}

/// Whether `certificate` carries extendedKeyUsage id-kp-OCSPSigning.
fn for_ocsp_signing(certificate: &Certificate) -> bool {
    use const_oid::db::rfc5280::{ID_CE_EXT_KEY_USAGE, ID_KP_OCSP_SIGNING};
    let extensions = certificate.tbs_certificate.extensions.iter().flatten();
    extensions
        .filter(|e| e.extn_id == ID_CE_EXT_KEY_USAGE)
        .filter_map(|e| {
            x509_cert::ext::pkix::ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).ok()
        })
        .any(|usage| usage.0.contains(&ID_KP_OCSP_SIGNING))
}

/// When and why a status says its certificate was revoked (`None`: not revoked). A
/// reason the answer does not give, or RFC 5280 does not name, reads as `unspecified`.
pub fn revocation_of(
    status: &CertStatus,
) -> Option<(std::time::SystemTime, crate::revocation::RevocationReason)> {
    use crate::revocation::RevocationReason;
    let CertStatus::Revoked(info) = status else {
        return None;
    };
    let reason = info
        .revocation_reason
        .and_then(RevocationReason::from_crl_reason)
        .unwrap_or(RevocationReason::Unspecified);
    Some((info.revocation_time.0.to_system_time(), reason))
}

/// The certificates of the issuer an answer names, with their status, after checking
/// the answer against `issuer` (whose hashes are `hashes`).
pub fn check_answer(
    der: &[u8],
    issuer: &Certificate,
    hashes: &IssuerHashes,
) -> Result<Vec<(Serial, CertStatus)>, OcspCheckError> {
    let bad = |e: der::Error| OcspCheckError::Malformed(e.to_string());
    let answer = OcspResponse::from_der(der).map_err(bad)?;
    if answer.response_status != OcspResponseStatus::Successful {
        return Err(OcspCheckError::NotSuccessful(format!(
            "{:?}",
            answer.response_status
        )));
    }
    let bytes = answer.response_bytes.ok_or_else(|| {
        OcspCheckError::Malformed("a successful answer without a response".into())
    })?;
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).map_err(bad)?;
    let responder = basic
        .certs
        .as_ref()
        .and_then(|c| c.first())
        .ok_or(OcspCheckError::NoResponderCertificate)?;
    // The CA itself, or a responder it certified for OCSP signing (RFC 6960 4.2.2.2).
    let the_ca = responder.tbs_certificate.subject_public_key_info
        == issuer.tbs_certificate.subject_public_key_info;
    if !the_ca && !for_ocsp_signing(responder) {
        return Err(OcspCheckError::NotAnOcspResponder);
    }
    verify_signed_by(
        issuer,
        &responder.tbs_certificate.to_der().map_err(bad)?,
        responder.signature_algorithm.oid,
        responder.signature.raw_bytes(),
    )?;
    verify_signed_by(
        responder,
        &basic.tbs_response_data.to_der().map_err(bad)?,
        basic.signature_algorithm.oid,
        basic.signature.raw_bytes(),
    )?;
    Ok(basic
        .tbs_response_data
        .responses
        .into_iter()
        .filter_map(|single| {
            hashes
                .serial_of(&single.cert_id)
                .map(|serial| (serial, single.cert_status))
        })
        .collect())
}

/// The earliest nextUpdate of the single responses in `der` (an answer already checked
/// with [`check_answer`]); `None` if it has none or does not decode.
pub fn next_update(der: &[u8]) -> Option<std::time::SystemTime> {
    let answer = OcspResponse::from_der(der).ok()?;
    let bytes = answer.response_bytes?;
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).ok()?;
    basic
        .tbs_response_data
        .responses
        .iter()
        .filter_map(|single| single.next_update.as_ref())
        .map(|next| next.0.to_system_time())
        .min()
}

fn verify_signed_by(
    signer: &Certificate,
    message: &[u8],
    algorithm: const_oid::ObjectIdentifier,
    signature: &[u8],
) -> Result<(), OcspCheckError> {
    let spki = signer
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| OcspCheckError::Malformed(e.to_string()))?;
    crate::signature::verify(&spki, algorithm, message, signature)
        .map_err(|_| OcspCheckError::BadSignature)
}
