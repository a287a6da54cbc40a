//! The facts of certificates and CRLs that the repository page shows.

use der::Decode;
use sha2::{Digest, Sha256};
use std::time::SystemTime;

/// One CA certificate as the repository page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    /// The message key of its label (`certificate-root`, `certificate-issuing`).
    pub label_key: &'static str,
    /// Where it is downloaded (DER): an absolute URL under the public URL.
    pub href: String,
    /// The subject (RFC 4514).
    pub subject: String,
    /// notBefore (RFC 3339).
    pub not_before: String,
    /// notAfter (RFC 3339).
    pub not_after: String,
    /// The SHA-256 fingerprint of the DER, as colon-separated upper-case hex.
    pub sha256: String,
}

impl CertificateFacts {
    /// The facts of the certificate `der`, or `None` if it is not a certificate.
    pub fn from_der(label_key: &'static str, href: String, der: &[u8]) -> Option<Self> {
        let certificate = x509_cert::Certificate::from_der(der).ok()?;
        let tbs = &certificate.tbs_certificate;
        Some(CertificateFacts {
            label_key,
            href,
            subject: tbs.subject.to_string(),
            not_before: shuin_core::timefmt::rfc3339(tbs.validity.not_before.to_system_time()),
            not_after: shuin_core::timefmt::rfc3339(tbs.validity.not_after.to_system_time()),
            sha256: fingerprint(der),
        })
    }
}

/// One published CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlFacts {
    /// Where it is downloaded (`https://ca.example.jp/repository/ca.crl`).
    pub href: String,
    /// Its CRL number.
    pub number: u64,
    /// nextUpdate (RFC 3339).
    pub next_update: String,
}

impl CrlFacts {
    /// The CRL at `href` with `number`, valid until `next_update`.
    pub fn new(href: String, number: u64, next_update: SystemTime) -> Self {
        CrlFacts {
            href,
            number,
            next_update: shuin_core::timefmt::rfc3339(next_update),
        }
    }
}

/// `AB:CD:...`: the SHA-256 of `der` as verifiers compare it by eye.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
