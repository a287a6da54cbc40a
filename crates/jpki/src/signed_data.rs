//! Verification of the applicant's CMS `SignedData` (RFC 5652), steps 2 and 3 of the
//! order of checks (DESIGN.md section 3.4): structure, signer certificate, signature.
//!
//! ```text
//! ContentInfo ::= SEQUENCE { contentType id-signedData, content [0] EXPLICIT SignedData }
//! SignedData ::= SEQUENCE {
//!     version CMSVersion, digestAlgorithms SET OF AlgorithmIdentifier,
//!     encapContentInfo SEQUENCE { eContentType id-data, eContent [0] EXPLICIT OCTET STRING },
//!     certificates [0] IMPLICIT CertificateSet OPTIONAL,   -- at most MAX_CERTIFICATES
//!     crls [1] IMPLICIT RevocationInfoChoices OPTIONAL,    -- ignored
//!     signerInfos SET OF SignerInfo }                      -- exactly one
//! ```
//!
//! With signed attributes, contentType must be id-data and messageDigest must equal
//! SHA-256(eContent); the signature then covers the attributes as `SET OF`. Without them
//! it covers the content.

use crate::error::JpkiError;
use crate::raw;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use const_oid::db::rfc5911::{ID_CONTENT_TYPE, ID_DATA, ID_MESSAGE_DIGEST, ID_SIGNED_DATA};
use const_oid::ObjectIdentifier;
use der::asn1::ObjectIdentifier as Oid;
use der::{Decode, Encode, Tag, Tagged};
use sha2::{Digest as _, Sha256};
use shuin_core::signature::{
    ECDSA_WITH_SHA256, ECDSA_WITH_SHA384, EC_PUBLIC_KEY, RSA_ENCRYPTION, SHA256_WITH_RSA,
};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::Certificate;

/// Most certificates accepted in one SignedData (a budget against inflated inputs).
pub const MAX_CERTIFICATES: usize = 8;

/// `id-sha256`.
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

/// What a verified SignedData yields.
#[derive(Debug)]
pub(crate) struct VerifiedSignedData {
    /// The eContent octets.
    pub(crate) content: Vec<u8>,
    /// The signer certificate as received.
    pub(crate) signer_der: Vec<u8>,
    /// The same, decoded.
    pub(crate) signer: Certificate,
}

/// Which signatures a SignedData may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AllowedSignatures {
    /// RSA PKCS#1 v1.5 with SHA-256: what JPKI cards produce.
    JpkiRsa,
    /// Also ECDSA with SHA-256 or SHA-384 (subscriber keys, e.g. revocation requests).
    SubscriberKeys,
}

/// `id-sha384`.
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");

/// Checks structure, finds the signer certificate and verifies the signature (RSA only).
pub(crate) fn verify_signed_data(cms_der: &[u8]) -> Result<VerifiedSignedData, JpkiError> {
    verify_signed_data_with(cms_der, AllowedSignatures::JpkiRsa)
}

/// A SignedData verified under its own signer certificate only: no chain, no profile.
/// For requests signed with a subscriber's key (the certificate is checked by the caller
/// against what shuin issued).
#[derive(Debug)]
pub struct SelfSignedContent {
    /// The eContent octets.
    pub content: Vec<u8>,
    /// DER of the signer certificate as received.
    pub signer_der: Vec<u8>,
}

/// Verifies structure and signature of a SignedData signed by RSA (SHA-256) or ECDSA
/// (SHA-256/384), with the same budgets and rules as applications.
pub fn verify_subscriber_signed_data(cms_der: &[u8]) -> Result<SelfSignedContent, JpkiError> {
    let verified = verify_signed_data_with(cms_der, AllowedSignatures::SubscriberKeys)?;
    Ok(SelfSignedContent {
        content: verified.content,
        signer_der: verified.signer_der,
    })
}

fn verify_signed_data_with(
    cms_der: &[u8],
    allowed: AllowedSignatures,
) -> Result<VerifiedSignedData, JpkiError> {
    // Step 2: structure.
    let content_info = ContentInfo::from_der(cms_der)
        .map_err(|e| JpkiError::malformed_der("the body is not a DER ContentInfo", e))?;
    if content_info.content_type != ID_SIGNED_DATA {
        return Err(JpkiError::malformed(
            "the ContentInfo does not hold a SignedData",
        ));
    }
    let signed_data: SignedData = content_info
        .content
        .decode_as()
        .map_err(|e| JpkiError::malformed_der("the SignedData does not decode", e))?;
    if signed_data.encap_content_info.econtent_type != ID_DATA {
        return Err(JpkiError::malformed(
            "the encapsulated content is not id-data",
        ));
    }
    let econtent = signed_data
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| JpkiError::malformed("the content is detached; it must be attached"))?;
    if econtent.tag() != Tag::OctetString {
        return Err(JpkiError::malformed("the eContent is not an OCTET STRING"));
    }
    let content = econtent.value().to_vec();
    let signer_info = match signed_data.signer_infos.0.as_slice() {
        [one] => one,
        _ => {
            return Err(JpkiError::malformed(
                "the SignedData must have exactly one SignerInfo",
            ))
        }
    };
    let parts = raw::signed_data_parts(cms_der)
        .map_err(|e| JpkiError::malformed_der("the SignedData does not split", e))?;
    if parts.certificates.len() > MAX_CERTIFICATES {
        return Err(JpkiError::malformed(format!(
            "the SignedData carries more than {MAX_CERTIFICATES} certificates"
        )));
    }

    // Step 3: signer certificate, then signature and digest.
    let (signer_der, signer) = find_signer(&parts.certificates, &signer_info.sid)?;
    let verification_oid = check_algorithms(signer_info, &signer, allowed)?;
    let message = match (&signer_info.signed_attrs, parts.signed_attributes_as_set) {
        (Some(attributes), Some(as_set)) => {
            check_signed_attributes(attributes, &content, &signer_info.digest_alg)?;
            as_set
        }
        (None, None) => content.clone(),
        _ => return Err(JpkiError::malformed("the signed attributes do not split")),
    };
    let spki_der = signer
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| JpkiError::malformed_der("the signer key does not encode", e))?;
    shuin_core::signature::verify(
        &spki_der,
        verification_oid,
        &message,
        signer_info.signature.as_bytes(),
    )
    .map_err(|_| JpkiError::CmsSignatureInvalid {
        detail: "the signature does not verify under the signer certificate's key",
    })?;
    Ok(VerifiedSignedData {
        content,
        signer_der: signer_der.to_vec(),
        signer,
    })
}

fn find_signer<'a>(
    certificates: &[&'a [u8]],
    sid: &SignerIdentifier,
) -> Result<(&'a [u8], Certificate), JpkiError> {
    for raw_cert in certificates {
        // Other certificate formats ([3]) and undecodable entries cannot be the signer.
        let Ok(cert) = Certificate::from_der(raw_cert) else {
            continue;
        };
        let matches = match sid {
            SignerIdentifier::IssuerAndSerialNumber(id) => {
                cert.tbs_certificate.issuer == id.issuer
                    && cert.tbs_certificate.serial_number == id.serial_number
            }
            SignerIdentifier::SubjectKeyIdentifier(ski) => cert
                .tbs_certificate
                .get::<SubjectKeyIdentifier>()
                .ok()
                .flatten()
                .is_some_and(|(_, own)| own == *ski),
        };
        if matches {
            return Ok((raw_cert, cert));
        }
    }
    Err(JpkiError::SignerCertificateMissing)
}

/// Checks the digest and signature algorithms; returns the signature OID to verify with.
fn check_algorithms(
    signer_info: &SignerInfo,
    signer: &Certificate,
    allowed: AllowedSignatures,
) -> Result<ObjectIdentifier, JpkiError> {
    let digest = digest_of(&signer_info.digest_alg);
    let algorithm = &signer_info.signature_algorithm;
    let null_or_absent = algorithm
        .parameters
        .as_ref()
        .is_none_or(|p| p.tag() == Tag::Null && p.value().is_empty());
    let rsa =
        (algorithm.oid == SHA256_WITH_RSA || algorithm.oid == RSA_ENCRYPTION) && null_or_absent;
    let key_is_ec = signer.tbs_certificate.subject_public_key_info.algorithm.oid == EC_PUBLIC_KEY;
    match (allowed, digest, rsa) {
        (_, Some(Digest::Sha256), true) => Ok(SHA256_WITH_RSA),
        (AllowedSignatures::JpkiRsa, Some(Digest::Sha256), false) => {
            Err(JpkiError::CmsSignatureInvalid {
                detail: "the signature algorithm is not RSA PKCS#1 v1.5 with SHA-256",
            })
        }
        (AllowedSignatures::JpkiRsa, _, _) => Err(JpkiError::CmsSignatureInvalid {
            detail: "the digest algorithm is not SHA-256",
        }),
        (AllowedSignatures::SubscriberKeys, Some(d), false)
            if key_is_ec
                && (algorithm.oid == ECDSA_WITH_SHA256
                    || algorithm.oid == ECDSA_WITH_SHA384
                    || algorithm.oid == EC_PUBLIC_KEY) =>
        {
            Ok(match d {
                Digest::Sha256 => ECDSA_WITH_SHA256,
                Digest::Sha384 => ECDSA_WITH_SHA384,
            })
        }
        _ => Err(JpkiError::CmsSignatureInvalid {
            detail: "the signature is not RSA PKCS#1 v1.5 with SHA-256 or ECDSA with SHA-256/384",
        }),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Digest {
    Sha256,
    Sha384,
}

fn digest_of(algorithm: &AlgorithmIdentifierOwned) -> Option<Digest> {
    let null_or_absent = algorithm
        .parameters
        .as_ref()
        .is_none_or(|p| p.tag() == Tag::Null && p.value().is_empty());
    match algorithm.oid {
        ID_SHA256 if null_or_absent => Some(Digest::Sha256),
        ID_SHA384 if null_or_absent => Some(Digest::Sha384),
        _ => None,
    }
}

fn check_signed_attributes(
    attributes: &x509_cert::attr::Attributes,
    content: &[u8],
    digest_algorithm: &AlgorithmIdentifierOwned,
) -> Result<(), JpkiError> {
    let single = |oid: ObjectIdentifier| -> Result<&der::Any, JpkiError> {
        let mut found = attributes.iter().filter(|a| a.oid == oid);
        let attribute = found.next().ok_or(JpkiError::CmsSignatureInvalid {
            detail: "a required signed attribute (content-type, message-digest) is missing",
        })?;
        if found.next().is_some() {
            return Err(JpkiError::CmsSignatureInvalid {
                detail: "a signed attribute appears twice",
            });
        }
        match attribute.values.as_slice() {
            [value] => Ok(value),
            _ => Err(JpkiError::CmsSignatureInvalid {
                detail: "a signed attribute must have exactly one value",
            }),
        }
    };
    let content_type = single(ID_CONTENT_TYPE)?;
    if content_type.decode_as::<Oid>().ok() != Some(ID_DATA) {
        return Err(JpkiError::CmsSignatureInvalid {
            detail: "the content-type attribute is not id-data",
        });
    }
    let digest = single(ID_MESSAGE_DIGEST)?;
    let expected = match digest_of(digest_algorithm) {
        Some(Digest::Sha384) => sha2::Sha384::digest(content).to_vec(),
        _ => Sha256::digest(content).to_vec(),
    };
    if digest.tag() != Tag::OctetString || digest.value() != expected.as_slice() {
        return Err(JpkiError::CmsSignatureInvalid {
            detail: "the message digest does not match the content",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shuin_core::ReasonCode;

    fn code(input: &[u8]) -> Option<ReasonCode> {
        verify_signed_data(input).err().map(|e| e.code())
    }

    #[test]
    fn structural_garbage_is_malformed() {
        assert_eq!(code(b""), Some(ReasonCode::MalformedRequest));
        assert_eq!(code(b"\x30\x00"), Some(ReasonCode::MalformedRequest));
        assert_eq!(
            code(&[0x30, 0x80, 0, 0]),
            Some(ReasonCode::MalformedRequest),
            "BER indefinite length"
        );
        // ContentInfo with id-data instead of id-signedData.
        let data = ContentInfo {
            content_type: ID_DATA,
            content: der::Any::new(Tag::OctetString, b"hi".as_slice())
                .unwrap_or_else(|e| panic!("{e}")),
        };
        let der = data.to_der().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(code(&der), Some(ReasonCode::MalformedRequest));
    }
}
