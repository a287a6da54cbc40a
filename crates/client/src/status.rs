//! A signature verifier's view: is a certificate revoked? Asks the OCSP responder
//! (RFC 6960) and reads the CRL (RFC 5280), verifying both signatures.

use crate::ClientError;
use der::{Decode, Encode};
use shuin_core::ocsp::IssuerHashes;
use shuin_core::Serial;
use x509_cert::crl::CertificateList;
use x509_cert::Certificate;
use x509_ocsp::{CertStatus, OcspRequest, Request, TbsRequest};

/// What OCSP said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcspAnswer {
    /// Not revoked.
    Good,
    /// Revoked, with the RFC 5280 reason name if given.
    Revoked(Option<String>),
    /// Not known to the responder.
    Unknown,
}

impl std::fmt::Display for OcspAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OcspAnswer::Good => f.write_str("good"),
            OcspAnswer::Revoked(Some(reason)) => write!(f, "revoked ({reason})"),
            OcspAnswer::Revoked(None) => f.write_str("revoked"),
            OcspAnswer::Unknown => f.write_str("unknown"),
        }
    }
}

fn encoding(e: der::Error) -> ClientError {
    ClientError::Encoding(e.to_string())
}

fn transport(e: impl std::fmt::Display) -> ClientError {
    ClientError::Transport(e.to_string())
}

/// Asks `ocsp_url` about `serial` of the CA `issuer_der`, and verifies the answer: the
/// responder certificate must be issued by that CA for OCSP signing.
pub fn ocsp_status(
    ocsp_url: &str,
    issuer_der: &[u8],
    serial: &Serial,
) -> Result<OcspAnswer, ClientError> {
    let issuer = Certificate::from_der(issuer_der).map_err(encoding)?;
    let hashes = IssuerHashes::new(&issuer).map_err(encoding)?;
    let request = OcspRequest {
        tbs_request: TbsRequest {
            version: Default::default(),
            requestor_name: None,
            request_list: vec![Request {
                req_cert: hashes.cert_id(serial).map_err(encoding)?,
                single_request_extensions: None,
            }],
            request_extensions: None,
        },
        optional_signature: None,
    };
    let body = request.to_der().map_err(encoding)?;
    let mut response = crate::apply::agent()
        .post(ocsp_url)
        .header("Content-Type", "application/ocsp-request")
        .send(&body[..])
        .map_err(transport)?;
    let bytes = response.body_mut().read_to_vec().map_err(transport)?;
    let named = shuin_core::ocsp_check::check_answer(&bytes, &issuer, &hashes)
        .map_err(|e| ClientError::Transport(e.to_string()))?;
    let single = named
        .into_iter()
        .find(|(named, _)| named == serial)
        .ok_or_else(|| {
            ClientError::Transport("the OCSP answer does not name the certificate".into())
        })?;
    Ok(match &single.1 {
        CertStatus::Good(_) => OcspAnswer::Good,
        CertStatus::Unknown(_) => OcspAnswer::Unknown,
        CertStatus::Revoked(info) => OcspAnswer::Revoked(
            info.revocation_reason
                .and_then(shuin_core::revocation::RevocationReason::from_crl_reason)
                .map(|r| r.name().to_owned()),
        ),
    })
}

/// Fetches the CRL at `crl_url`, verifies it under `issuer_der`, and says whether it
/// lists `serial`; also returns the CRL number.
pub fn crl_lists(
    crl_url: &str,
    issuer_der: &[u8],
    serial: &Serial,
) -> Result<(bool, u64), ClientError> {
    let mut response = crate::apply::agent()
        .get(crl_url)
        .call()
        .map_err(transport)?;
    let bytes = response.body_mut().read_to_vec().map_err(transport)?;
    let facts = shuin_core::x509::issued::check_crl_issued_by(&bytes, issuer_der)
        .map_err(|e| ClientError::Transport(format!("the CRL: {e}")))?;
    let crl = CertificateList::from_der(&bytes).map_err(encoding)?;
    let listed = crl
        .tbs_cert_list
        .revoked_certificates
        .iter()
        .flatten()
        .any(|entry| {
            Serial::from_der_integer(entry.serial_number.as_bytes()).as_ref() == Some(serial)
        });
    let number = facts.number;
    Ok((listed, number))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_as_words_not_debug() {
        assert_eq!(OcspAnswer::Good.to_string(), "good");
        let revoked = OcspAnswer::Revoked(Some("keyCompromise".into()));
        assert_eq!(revoked.to_string(), "revoked (keyCompromise)");
        assert_eq!(OcspAnswer::Revoked(None).to_string(), "revoked");
        assert_eq!(OcspAnswer::Unknown.to_string(), "unknown");
    }
}
