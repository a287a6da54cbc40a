//! Certificate revocation lists (RFC 5280 section 5), built by hand because x509-cert
//! 0.2 has no CRL builder.
//!
//! ```text
//! TBSCertList  ::=  SEQUENCE  {
//!      version                 Version OPTIONAL, -- if present, MUST be v2
//!      signature               AlgorithmIdentifier,
//!      issuer                  Name,
//!      thisUpdate              Time,
//!      nextUpdate              Time OPTIONAL,
//!      revokedCertificates     SEQUENCE OF SEQUENCE  { ... } OPTIONAL,
//!      crlExtensions           [0] EXPLICIT Extensions OPTIONAL }
//! ```

use crate::serial::Serial;
use crate::signature::SignatureAlgorithm;
use crate::x509::extensions::{authority_key_identifier, extension};
use crate::x509::time::rfc5280_time;
use der::asn1::{BitString, Uint};
use der::Encode;
use std::time::SystemTime;
use x509_cert::certificate::Version;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::crl::CrlNumber;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

/// One revoked certificate.
#[derive(Debug, Clone)]
pub struct RevokedEntry {
    /// Its serial.
    pub serial: Serial,
    /// When it was revoked.
    pub revoked_at: SystemTime,
    /// The RFC 5280 reason, if any (`unspecified` is never written, per RFC 5280 5.3.1).
    pub reason: Option<CrlReason>,
    /// invalidityDate (RFC 5280 section 5.3.2), when known.
    pub invalidity_date: Option<SystemTime>,
}

/// What a CRL says.
#[derive(Debug, Clone)]
pub struct CrlTemplate {
    /// The issuer's name.
    pub issuer: Name,
    /// The issuer's subject key identifier, copied into the CRL's AKI.
    pub issuer_key_id: Vec<u8>,
    /// thisUpdate.
    pub this_update: SystemTime,
    /// nextUpdate.
    pub next_update: SystemTime,
    /// The monotonic CRL number.
    pub number: u64,
    /// Revoked certificates.
    pub entries: Vec<RevokedEntry>,
}

impl CrlTemplate {
    /// The v2 TBSCertList.
    pub fn to_tbs(&self, algorithm: SignatureAlgorithm) -> Result<TbsCertList, der::Error> {
        let mut revoked = Vec::with_capacity(self.entries.len());
        for entry in &self.entries {
            let mut entry_extensions: Vec<Extension> = Vec::new();
            if let Some(reason) = entry.reason {
                if reason != CrlReason::Unspecified {
                    entry_extensions.push(extension(&reason, false)?);
                }
            }
            if let Some(invalidity) = entry.invalidity_date {
                // InvalidityDate ::= GeneralizedTime
                let secs = crate::clock::unix_seconds(invalidity);
                let time = der::asn1::GeneralizedTime::from_system_time(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
                )?;
                entry_extensions.push(Extension {
                    extn_id: const_oid::db::rfc5280::ID_CE_INVALIDITY_DATE,
                    critical: false,
                    extn_value: der::asn1::OctetString::new(time.to_der()?)?,
                });
            }
            revoked.push(RevokedCert {
                serial_number: SerialNumber::new(&entry.serial.der_integer_content())?,
                revocation_date: rfc5280_time(entry.revoked_at)?,
                crl_entry_extensions: if entry_extensions.is_empty() {
                    None
                } else {
                    Some(entry_extensions)
                },
            });
        }
        let number_bytes = Serial::from_magnitude(&self.number.to_be_bytes())
            .map(|s| s.der_integer_content())
            .unwrap_or_else(|| vec![0]);
        let number = CrlNumber(Uint::new(&number_bytes)?);
        Ok(TbsCertList {
            version: Version::V2,
            signature: algorithm.algorithm_identifier(),
            issuer: self.issuer.clone(),
            this_update: rfc5280_time(self.this_update)?,
            next_update: Some(rfc5280_time(self.next_update)?),
            revoked_certificates: if revoked.is_empty() {
                None
            } else {
                Some(revoked)
            },
            crl_extensions: Some(vec![
                authority_key_identifier(&self.issuer_key_id)?,
                extension(&number, false)?,
            ]),
        })
    }
}

/// Puts a TBSCertList and its signature together.
pub fn assemble_crl(tbs: TbsCertList, signature: &[u8]) -> Result<CertificateList, der::Error> {
    Ok(CertificateList {
        signature_algorithm: tbs.signature.clone(),
        tbs_cert_list: tbs,
        signature: BitString::from_bytes(signature)?,
    })
}

/// DER of the TBSCertList: the bytes to be signed.
pub fn tbs_der(tbs: &TbsCertList) -> Result<Vec<u8>, der::Error> {
    tbs.to_der()
}
