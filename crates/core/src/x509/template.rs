//! `TBSCertificate` construction and certificate assembly (RFC 5280 section 4.1).
//!
//! ```text
//! TBSCertificate  ::=  SEQUENCE  {
//!      version         [0]  EXPLICIT Version DEFAULT v1,
//!      serialNumber         CertificateSerialNumber,
//!      signature            AlgorithmIdentifier,
//!      issuer               Name,
//!      validity             Validity,
//!      subject              Name,
//!      subjectPublicKeyInfo SubjectPublicKeyInfo,
//!      extensions      [3]  EXPLICIT Extensions OPTIONAL }
//! ```

use crate::serial::Serial;
use crate::signature::SignatureAlgorithm;
use crate::x509::time::rfc5280_time;
use der::asn1::BitString;
use der::Encode;
use spki::SubjectPublicKeyInfoOwned;
use std::time::SystemTime;
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

/// Everything that goes into a TBSCertificate except the signature algorithm.
#[derive(Debug, Clone)]
pub struct CertificateTemplate {
    /// The serial number.
    pub serial: Serial,
    /// The issuer's subject name.
    pub issuer: Name,
    /// The subject name.
    pub subject: Name,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity (inclusive, RFC 5280).
    pub not_after: SystemTime,
    /// The certified public key.
    pub subject_public_key_info: SubjectPublicKeyInfoOwned,
    /// Extensions in the order they are encoded.
    pub extensions: Vec<Extension>,
}

impl CertificateTemplate {
    /// The v3 TBSCertificate for signing with `algorithm`.
    pub fn to_tbs(&self, algorithm: SignatureAlgorithm) -> Result<TbsCertificate, der::Error> {
        Ok(TbsCertificate {
            version: Version::V3,
            serial_number: SerialNumber::new(&self.serial.der_integer_content())?,
            signature: algorithm.algorithm_identifier(),
            issuer: self.issuer.clone(),
            validity: Validity {
                not_before: rfc5280_time(self.not_before)?,
                not_after: rfc5280_time(self.not_after)?,
            },
            subject: self.subject.clone(),
            subject_public_key_info: self.subject_public_key_info.clone(),
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: if self.extensions.is_empty() {
                None
            } else {
                Some(self.extensions.clone())
            },
        })
    }
}

/// Puts a TBSCertificate and its signature together. The outer signatureAlgorithm is
/// copied from the TBS, as RFC 5280 section 4.1.1.2 requires them to match.
pub fn assemble_certificate(
    tbs: TbsCertificate,
    signature: &[u8],
) -> Result<Certificate, der::Error> {
    Ok(Certificate {
        signature_algorithm: tbs.signature.clone(),
        tbs_certificate: tbs,
        signature: BitString::from_bytes(signature)?,
    })
}

/// DER of a TBSCertificate: the exact bytes to be signed.
pub fn tbs_der(tbs: &TbsCertificate) -> Result<Vec<u8>, der::Error> {
    tbs.to_der()
}
