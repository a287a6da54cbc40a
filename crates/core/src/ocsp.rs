//! OCSP (RFC 6960) encoding: request parsing with a budget, CertID matching, and
//! response construction by hand so that responses can be pre-signed.
//!
//! ```text
//! OCSPResponse ::= SEQUENCE {
//!    responseStatus         OCSPResponseStatus,
//!    responseBytes          [0] EXPLICIT ResponseBytes OPTIONAL }
//! BasicOCSPResponse ::= SEQUENCE {
//!    tbsResponseData      ResponseData,
//!    signatureAlgorithm   AlgorithmIdentifier,
//!    signature            BIT STRING,
//!    certs            [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
//! ```

use crate::serial::Serial;
use crate::signature::SignatureAlgorithm;
use der::asn1::{BitString, GeneralizedTime, OctetString};
use der::{Decode, Encode};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use x509_cert::Certificate;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse,
    ResponderId, ResponseData, RevokedInfo, SingleResponse, Version,
};

/// Most CertIDs answered in one request.
pub const MAX_REQUESTS: usize = 64;
/// Largest request accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// `id-sha1`.
const ID_SHA1: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
/// `id-sha256`.
const ID_SHA256: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

/// Why a request cannot be answered (`malformedRequest`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed OCSP request: {0}")]
pub struct MalformedOcspRequest(pub String);

/// The parts of a request a responder needs.
#[derive(Debug, Clone)]
pub struct ParsedRequest {
    /// The CertIDs asked about, in order.
    pub cert_ids: Vec<CertId>,
    /// Whether the request carried a nonce (ignored, as RFC 8954 permits).
    pub has_nonce: bool,
}

/// Parses a DER OCSPRequest within the size and count budget.
pub fn parse_request(der_bytes: &[u8]) -> Result<ParsedRequest, MalformedOcspRequest> {
    if der_bytes.len() > MAX_REQUEST_BYTES {
        return Err(MalformedOcspRequest("the request is too large".into()));
    }
    let request =
        OcspRequest::from_der(der_bytes).map_err(|e| MalformedOcspRequest(e.to_string()))?;
    let list = &request.tbs_request.request_list;
    if list.is_empty() || list.len() > MAX_REQUESTS {
        return Err(MalformedOcspRequest(format!(
            "the request must name 1 to {MAX_REQUESTS} certificates"
        )));
    }
    Ok(ParsedRequest {
        cert_ids: list.iter().map(|r| r.req_cert.clone()).collect(),
        has_nonce: request.tbs_request.nonce().is_some(),
    })
}

/// The issuer fingerprints a CertID may use (SHA-1 or SHA-256).
#[derive(Debug, Clone)]
pub struct IssuerHashes {
    sha1_name: Vec<u8>,
    sha1_key: Vec<u8>,
    sha256_name: Vec<u8>,
    sha256_key: Vec<u8>,
}

impl IssuerHashes {
    /// From the issuing CA certificate.
    pub fn new(issuer: &Certificate) -> Result<Self, der::Error> {
        let name = issuer.tbs_certificate.subject.to_der()?;
        let key = issuer
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        Ok(Self {
            sha1_name: Sha1::digest(&name).to_vec(),
            sha1_key: Sha1::digest(key).to_vec(),
            sha256_name: Sha256::digest(&name).to_vec(),
            sha256_key: Sha256::digest(key).to_vec(),
        })
    }

    /// The serial a CertID names, if the CertID is about this issuer.
    pub fn serial_of(&self, id: &CertId) -> Option<Serial> {
        let (name, key) = match id.hash_algorithm.oid {
            ID_SHA1 => (&self.sha1_name, &self.sha1_key),
            ID_SHA256 => (&self.sha256_name, &self.sha256_key),
            _ => return None,
        };
        if id.issuer_name_hash.as_bytes() != name.as_slice()
            || id.issuer_key_hash.as_bytes() != key.as_slice()
        {
            return None;
        }
        Serial::from_der_integer(id.serial_number.as_bytes())
    }

    /// A SHA-1 CertID for `serial` (what most clients send).
    pub fn cert_id(&self, serial: &Serial) -> Result<CertId, der::Error> {
        Ok(CertId {
            hash_algorithm: spki::AlgorithmIdentifierOwned {
                oid: ID_SHA1,
                parameters: Some(der::Any::from(der::asn1::Null)),
            },
            issuer_name_hash: OctetString::new(self.sha1_name.clone())?,
            issuer_key_hash: OctetString::new(self.sha1_key.clone())?,
            serial_number: x509_cert::serial_number::SerialNumber::new(
                &serial.der_integer_content(),
            )?,
        })
    }
}

/// A certificate's status for a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not revoked.
    Good,
    /// Revoked at a time, with a reason.
    Revoked {
        /// When.
        at: SystemTime,
        /// Why (`None` for unspecified).
        reason: Option<crate::revocation::RevocationReason>,
    },
    /// Not issued by this CA (or not known).
    Unknown,
}

fn generalized(t: SystemTime) -> Result<OcspGeneralizedTime, der::Error> {
    let secs = crate::clock::unix_seconds(t);
    Ok(OcspGeneralizedTime(GeneralizedTime::from_system_time(
        UNIX_EPOCH + Duration::from_secs(secs),
    )?))
}

/// One SingleResponse.
pub fn single_response(
    cert_id: CertId,
    status: Status,
    this_update: SystemTime,
    next_update: SystemTime,
) -> Result<SingleResponse, der::Error> {
    let cert_status = match status {
        Status::Good => CertStatus::good(),
        Status::Unknown => CertStatus::unknown(),
        Status::Revoked { at, reason } => CertStatus::revoked(RevokedInfo {
            revocation_time: generalized(at)?,
            revocation_reason: reason
                .filter(|r| *r != crate::revocation::RevocationReason::Unspecified)
                .map(|r| r.crl_reason()),
        }),
    };
    Ok(SingleResponse {
        cert_id,
        cert_status,
        this_update: generalized(this_update)?,
        next_update: Some(generalized(next_update)?),
        single_extensions: None,
    })
}

/// The ResponseData of a delegated responder identified by key hash.
pub fn response_data(
    responder: &Certificate,
    produced_at: SystemTime,
    responses: Vec<SingleResponse>,
) -> Result<ResponseData, der::Error> {
    let key = responder
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    Ok(ResponseData {
        version: Version::V1,
        responder_id: ResponderId::ByKey(OctetString::new(Sha1::digest(key).to_vec())?),
        produced_at: generalized(produced_at)?,
        responses,
        response_extensions: None,
    })
}

/// Assembles a successful OCSPResponse around signed ResponseData, including the
/// responder certificate.
pub fn assemble_response(
    data: ResponseData,
    algorithm: SignatureAlgorithm,
    signature: &[u8],
    responder: &Certificate,
) -> Result<Vec<u8>, der::Error> {
    let basic = BasicOcspResponse {
        tbs_response_data: data,
        signature_algorithm: algorithm.algorithm_identifier(),
        signature: BitString::from_bytes(signature)?,
        certs: Some(vec![responder.clone()]),
    };
    OcspResponse::successful(basic)?.to_der()
}

/// The unsigned `malformedRequest` answer.
pub fn malformed_request() -> Vec<u8> {
    OcspResponse::malformed_request()
        .to_der()
        .unwrap_or_else(|_| vec![0x30, 0x03, 0x0a, 0x01, 0x01])
}

/// The unsigned `internalError` answer.
pub fn internal_error() -> Vec<u8> {
    OcspResponse::internal_error()
        .to_der()
        .unwrap_or_else(|_| vec![0x30, 0x03, 0x0a, 0x01, 0x02])
}

/// The unsigned `unauthorized` answer: the responder does not answer for that
/// certificate (RFC 5019 section 2.2.3).
pub fn unauthorized() -> Vec<u8> {
    OcspResponse::unauthorized()
        .to_der()
        .unwrap_or_else(|_| vec![0x30, 0x03, 0x0a, 0x01, 0x06])
}

/// The unsigned `tryLater` answer.
pub fn try_later() -> Vec<u8> {
    OcspResponse::try_later()
        .to_der()
        .unwrap_or_else(|_| vec![0x30, 0x03, 0x0a, 0x01, 0x03])
}

/// How fresh the pre-signed answers of a responder are (`/metrics`, the monitoring page).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OcspFreshness {
    /// Certificates with a pre-signed answer.
    pub signed: u64,
    /// Certificates known without one yet (answered `tryLater` meanwhile).
    pub waiting: u64,
    /// The earliest nextUpdate among the answers: past it, a verifier asking for that
    /// certificate gets a stale answer. `None` without answers.
    pub earliest_next_update: Option<SystemTime>,
}

impl OcspFreshness {
    /// Counts one answer whose nextUpdate is `next_update` (`None`: none yet).
    pub fn count(&mut self, next_update: Option<SystemTime>) {
        match next_update {
            Some(next) => {
                self.signed += 1;
                self.earliest_next_update =
                    Some(self.earliest_next_update.map_or(next, |e| e.min(next)));
            }
            None => self.waiting += 1,
        }
    }
}

/// Answers OCSP requests from pre-signed answers. The CA side implements it; the
/// repository serves it.
#[async_trait::async_trait]
pub trait OcspResponder: Send + Sync {
    /// The DER OCSPResponse for a DER OCSPRequest; never fails (errors are OCSP statuses)
    /// and never signs, but may read an answer from storage.
    async fn respond(&self, request_der: &[u8]) -> Vec<u8>;

    /// The pre-signed answer, if the request can be answered from memory (cheap enough
    /// to call on an async worker before [`OcspResponder::respond`]).
    fn respond_from_cache(&self, _request_der: &[u8]) -> Option<std::sync::Arc<Vec<u8>>> {
        None
    }

    /// How fresh the answers are, where the responder knows (`None`: it answers nothing
    /// now, e.g. while sealed).
    fn freshness(&self) -> Option<OcspFreshness> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_malformed_and_error_answers_encode() {
        assert!(parse_request(b"").is_err());
        assert!(parse_request(&[0x30, 0x80]).is_err());
        assert!(parse_request(&vec![0x30; MAX_REQUEST_BYTES + 1]).is_err());
        assert_eq!(malformed_request(), vec![0x30, 0x03, 0x0a, 0x01, 0x01]);
        assert_eq!(internal_error(), vec![0x30, 0x03, 0x0a, 0x01, 0x02]);
    }
}
