//! PKCS#10 certification requests (RFC 2986): parsing and proof of possession.

use crate::reason::{ReasonCode, Rejection};
use der::{Decode, Encode};
use x509_cert::request::CertReq;

/// Largest CSR accepted, in bytes.
pub const MAX_CSR_DER: usize = 16 * 1024;

/// A CSR whose self-signature verified.
#[derive(Debug, Clone)]
pub struct VerifiedCsr {
    /// DER of the SubjectPublicKeyInfo it certifies.
    pub spki_der: Vec<u8>,
}

/// Parses a DER CSR and checks its signature with its own key.
pub fn verify_csr(der_bytes: &[u8]) -> Result<VerifiedCsr, Rejection> {
    if der_bytes.len() > MAX_CSR_DER {
        return Err(Rejection::new(
            ReasonCode::CsrMalformed,
            "the CSR is too large",
        ));
    }
    let request = CertReq::from_der(der_bytes).map_err(|e| {
        Rejection::new(
            ReasonCode::CsrMalformed,
            format!("the CSR is not a DER PKCS#10: {e}"),
        )
    })?;
    let info_der = request
        .info
        .to_der()
        .map_err(|_| Rejection::new(ReasonCode::CsrMalformed, "the CSR cannot be re-encoded"))?;
    let spki_der = request.info.public_key.to_der().map_err(|_| {
        Rejection::new(ReasonCode::CsrMalformed, "the CSR key cannot be re-encoded")
    })?;
    let signature = request.signature.as_bytes().ok_or_else(|| {
        Rejection::new(
            ReasonCode::CsrMalformed,
            "the CSR signature has unused bits",
        )
    })?;
    crate::signature::verify_proof_of_possession(
        &spki_der,
        request.algorithm.oid,
        &info_der,
        signature,
    )
    .map_err(|_| {
        // A key of an algorithm shuin does not accept (secp256k1, DSA, ...) cannot be
        // checked here at all: say so, rather than calling its signature invalid.
        match crate::key_policy::check_subscriber_key(&spki_der) {
            Err(rejection) if rejection.code == ReasonCode::KeyAlgorithmNotAllowed => rejection,
            _ => Rejection::new(
                ReasonCode::CsrSignatureInvalid,
                "the CSR signature does not verify with its own key (no proof of possession)",
            ),
        }
    })?;
    Ok(VerifiedCsr { spki_der })
}
