//! Applicant-side CMS: a `SignedData` with attached `id-data` content (RFC 5652
//! section 5), as `POST /api/v1/applications` takes it (DESIGN.md section 3.2).
//!
//! ```text
//! ContentInfo ::= SEQUENCE {
//!     contentType  id-signedData,
//!     content      [0] EXPLICIT SignedData }
//! SignedData ::= SEQUENCE {
//!     version           CMSVersion,                -- 1
//!     digestAlgorithms  SET OF AlgorithmIdentifier, -- { sha256 }
//!     encapContentInfo  SEQUENCE { id-data, [0] EXPLICIT OCTET STRING },
//!     certificates      [0] IMPLICIT CertificateSet, -- the signer's certificate
//!     signerInfos       SET OF SignerInfo }          -- exactly one
//! SignerInfo ::= SEQUENCE {
//!     version            CMSVersion,                 -- 1: issuerAndSerialNumber
//!     sid                IssuerAndSerialNumber,
//!     digestAlgorithm    sha256,
//!     signedAttrs        [0] IMPLICIT SET OF Attribute, -- contentType, messageDigest, [signingTime]
//!     signatureAlgorithm sha256WithRSAEncryption | ecdsa-with-SHA256 | ecdsa-with-SHA384,
//!     signature          OCTET STRING }
//! ```
//!
//! The key stays with the caller: a closure receives the DER of the signed attributes
//! as `SET OF` (tag `0x31`, RFC 5652 section 5.4) and returns the signature over it, the
//! way `shuin_keys::Signer::sign` or a JPKI card (`CKM_SHA256_RSA_PKCS`) produces it.

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::db::rfc5911::{
    ID_CONTENT_TYPE, ID_DATA, ID_MESSAGE_DIGEST, ID_SIGNED_DATA, ID_SIGNING_TIME,
};
use const_oid::ObjectIdentifier;
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode, Tag};
use sha2::Digest;
use shuin_core::SignatureAlgorithm;
use spki::AlgorithmIdentifierOwned;
use std::time::SystemTime;
use x509_cert::attr::Attribute;
use x509_cert::Certificate;

/// `id-sha256` (RFC 5754 section 2.2).
pub const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// `id-sha384` (RFC 5754 section 2.3).
pub const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");

/// The signing callback: DER of the signed attributes (`SET OF`) in, signature out.
pub type SignFn<'a, E> = dyn Fn(&[u8]) -> Result<Vec<u8>, E> + 'a;

/// The signing closure's error, kept as the source.
pub type SignerFailure = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a SignedData could not be produced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CmsSignError {
    /// The signer certificate is not a DER X.509 certificate.
    #[error("the signer certificate is not a DER X.509 certificate")]
    SignerCertificate(#[source] der::Error),
    /// A structure could not be encoded.
    #[error("CMS encoding failed")]
    Encoding(#[source] der::Error),
    /// The signing closure failed (card removed, wrong PIN, HSM busy, ...).
    #[error("signing failed")]
    Signer(#[source] SignerFailure),
}

impl From<der::Error> for CmsSignError {
    fn from(e: der::Error) -> Self {
        CmsSignError::Encoding(e)
    }
}

/// Choices for [`sign_attached_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CmsSignOptions {
    /// What the closure produces. JPKI cards give `RsaPkcs1Sha256`.
    pub algorithm: SignatureAlgorithm,
    /// A signing-time attribute to add, if any.
    pub signing_time: Option<SystemTime>,
}

impl Default for CmsSignOptions {
    fn default() -> Self {
        Self {
            algorithm: SignatureAlgorithm::RsaPkcs1Sha256,
            signing_time: None,
        }
    }
}

/// Signs `content` with RSA PKCS#1 v1.5 / SHA-256 and no signing time; returns the DER
/// `ContentInfo`.
pub fn sign_attached<E>(
    content: &[u8],
    signer_cert_der: &[u8],
    sign: &SignFn<'_, E>,
) -> Result<Vec<u8>, CmsSignError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    sign_attached_with(content, signer_cert_der, CmsSignOptions::default(), sign)
}

/// As [`sign_attached`], with the algorithm and signing time chosen by the caller.
pub fn sign_attached_with<E>(
    content: &[u8],
    signer_cert_der: &[u8],
    options: CmsSignOptions,
    sign: &SignFn<'_, E>,
) -> Result<Vec<u8>, CmsSignError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let certificate =
        Certificate::from_der(signer_cert_der).map_err(CmsSignError::SignerCertificate)?;
    let (digest_oid, digest) = match options.algorithm {
        SignatureAlgorithm::EcdsaP384Sha384 => (ID_SHA384, sha2::Sha384::digest(content).to_vec()),
        _ => (ID_SHA256, sha2::Sha256::digest(content).to_vec()),
    };
    let digest_algorithm = AlgorithmIdentifierOwned {
        oid: digest_oid,
        parameters: None,
    };

    let mut attributes: SetOfVec<Attribute> = SetOfVec::new();
    attributes.insert(single_valued(
        ID_CONTENT_TYPE,
        Any::new(Tag::ObjectIdentifier, ID_DATA.as_bytes())?,
    )?)?;
    attributes.insert(single_valued(
        ID_MESSAGE_DIGEST,
        Any::new(Tag::OctetString, digest)?,
    )?)?;
    if let Some(at) = options.signing_time {
        let time = shuin_core::x509::time::rfc5280_time(at)?;
        attributes.insert(single_valued(
            ID_SIGNING_TIME,
            Any::from_der(&time.to_der()?)?,
        )?)?;
    }
    // The signature covers the attributes as a universal SET OF (0x31), not as [0].
    let to_be_signed = attributes.to_der()?;
    let signature = sign(&to_be_signed).map_err(|e| CmsSignError::Signer(Box::new(e)))?;

    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: certificate.tbs_certificate.issuer.clone(),
            serial_number: certificate.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: digest_algorithm.clone(),
        signed_attrs: Some(attributes),
        signature_algorithm: options.algorithm.algorithm_identifier(),
        signature: OctetString::new(signature)?,
        unsigned_attrs: None,
    };
    let mut digest_algorithms = SetOfVec::new();
    digest_algorithms.insert(digest_algorithm)?;
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: Some(Any::new(Tag::OctetString, content)?),
        },
        certificates: Some(CertificateSet::try_from(vec![
            CertificateChoices::Certificate(certificate),
        ])?),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![signer_info])?,
    };
    let content_info = ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::from_der(&signed_data.to_der()?)?,
    };
    Ok(content_info.to_der()?)
}

fn single_valued(oid: ObjectIdentifier, value: Any) -> Result<Attribute, der::Error> {
    let mut values = SetOfVec::new();
    values.insert(value)?;
    Ok(Attribute { oid, values })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("card removed")]
    struct CardRemoved;

    #[test]
    fn a_bad_certificate_or_a_failing_signer_is_an_error() {
        let never = |_: &[u8]| -> Result<Vec<u8>, CardRemoved> { Err(CardRemoved) };
        assert!(matches!(
            sign_attached(b"x", b"not a certificate", &never),
            Err(CmsSignError::SignerCertificate(_))
        ));
    }
}
