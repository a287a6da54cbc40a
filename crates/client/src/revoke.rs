//! A subscriber's revocation request signed with the certificate's own key
//! (`POST /api/v1/revocations`, format `shuin-revocation/1`).

use crate::ClientError;
use serde_json::Value;
use shuin_keys::{Signer, SoftwareSigner};

/// Asks the server to revoke `certificate_pem`, signing with its key `key_pem`.
/// Returns the server's JSON answer (`status`, `revoked_at`, `crl_number`).
pub fn request_revocation(
    server: &str,
    certificate_pem: &str,
    key_pem: &str,
    reason: &str,
) -> Result<Value, ClientError> {
    let (_, certificate_der) = der::pem::decode_vec(certificate_pem.as_bytes())
        .map_err(|e| ClientError::Encoding(e.to_string()))?;
    let certificate = <x509_cert::Certificate as der::Decode>::from_der(&certificate_der)
        .map_err(|e| ClientError::Encoding(e.to_string()))?;
    let serial =
        shuin_core::Serial::from_der_integer(certificate.tbs_certificate.serial_number.as_bytes())
            .ok_or_else(|| ClientError::Encoding("the certificate has no usable serial".into()))?;
    let key =
        SoftwareSigner::from_pkcs8_pem(key_pem).map_err(|e| ClientError::Key(e.to_string()))?;
    let agent = crate::apply::agent();
    let base = server.trim_end_matches('/');
    let challenge = crate::apply::challenge(&agent, base)?;
    let document = serde_json::json!({
        "format": "shuin-revocation/1",
        "serial": serial.to_hex(),
        "reason": reason,
        "nonce": challenge["nonce"],
    });
    let content =
        serde_json::to_vec(&document).map_err(|e| ClientError::Encoding(e.to_string()))?;
    let sign = |message: &[u8]| key.sign(message);
    let cms = crate::cms_sign::sign_attached_with(
        &content,
        &certificate_der,
        crate::cms_sign::CmsSignOptions {
            algorithm: key.algorithm(),
            signing_time: None,
        },
        &sign,
    )
    .map_err(|e| ClientError::Encoding(e.to_string()))?;
    crate::apply::post_signed(&agent, &format!("{base}/api/v1/revocations"), &cms)
}

/// Asks the server to revoke the certificate with serial `serial` (hex), signing with the
/// holder's JPKI card (when the certificate's own key is lost): the server checks that the
/// card's 4 basic items match those recorded at issuance. Returns the server's answer.
pub fn request_revocation_with_card(
    server: &str,
    card: &dyn crate::CardSigner,
    serial: &str,
    reason: &str,
) -> Result<Value, ClientError> {
    let agent = crate::apply::agent();
    let base = server.trim_end_matches('/');
    let challenge = crate::apply::challenge(&agent, base)?;
    let document = serde_json::json!({
        "format": "shuin-revocation/1",
        "serial": serial,
        "reason": reason,
        "nonce": challenge["nonce"],
    });
    let cms = crate::apply::sign_with_card(card, &document)?;
    crate::apply::post_signed(&agent, &format!("{base}/api/v1/revocations"), &cms)
}

/// A subscriber's revocation as seen from outside the CA: the OCSP answer before, the
/// server's answer to the request, the OCSP answer after, and whether the CRL lists the
/// serial (with the CRL's number).
#[derive(Debug, Clone)]
pub struct RevocationSeen {
    /// OCSP before the request.
    pub before: crate::OcspAnswer,
    /// The server's answer to the request.
    pub answer: Value,
    /// OCSP after it (polled while `Good`, until the wait ends).
    pub after: crate::OcspAnswer,
    /// Whether the CRL lists the serial (polled while not, until the wait ends: the server
    /// publishes the new CRL at its next upkeep round).
    pub listed: bool,
    /// The CRL's number.
    pub crl_number: u64,
}

/// Revokes `certificate_pem` (serial `serial`, issued by `issuer_der`) with its own key
/// `key_pem` for `reason` at `server`, and watches the server's OCSP responder
/// (`/ocsp`, for up to `wait`) and CRL (`/repository/ca.crl`) take it in.
pub fn revoke_and_watch(
    server: &str,
    issuer_der: &[u8],
    serial: &shuin_core::Serial,
    certificate_pem: &str,
    key_pem: &str,
    reason: &str,
    wait: std::time::Duration,
) -> Result<RevocationSeen, ClientError> {
    let ocsp = format!("{server}/ocsp");
    let before = crate::ocsp_status(&ocsp, issuer_der, serial)?;
    let answer = request_revocation(server, certificate_pem, key_pem, reason)?;
    let deadline = std::time::Instant::now() + wait;
    let mut after = crate::ocsp_status(&ocsp, issuer_der, serial)?;
    while after == crate::OcspAnswer::Good && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
        after = crate::ocsp_status(&ocsp, issuer_der, serial)?;
    }
    // The new CRL is published by the server's next upkeep round (half a second).
    let crl = format!("{server}/repository/ca.crl");
    let (mut listed, mut crl_number) = crate::crl_lists(&crl, issuer_der, serial)?;
    while !listed && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
        (listed, crl_number) = crate::crl_lists(&crl, issuer_der, serial)?;
    }
    Ok(RevocationSeen {
        before,
        answer,
        after,
        listed,
        crl_number,
    })
}
