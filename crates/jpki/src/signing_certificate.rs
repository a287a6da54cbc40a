//! The JPKI signing certificate (署名用電子証明書), step 4 of the order of checks
//! (DESIGN.md section 3.4): trust anchor, profile, validity, revocation, basic items.
//!
//! Profile (DESIGN.md section 3.7):
//! ```text
//! keyUsage            critical  digitalSignature, nonRepudiation (exactly)
//! certificatePolicies critical  1.2.392.200149.8.5.1.1.20 (test cards: 1.2.392.200149.8.5.1.0.20)
//! subjectAltName                six otherName basic items (see basic_info)
//! ```
//! Checked here by hand rather than with rustls-webpki, which refuses the critical
//! certificatePolicies that real cards carry.

use crate::anchors::TrustAnchors;
use crate::basic_info::{basic_info, BasicInfo};
use crate::crl::magnitude;
use crate::crl_set::JpkiCrlSet;
use crate::error::JpkiError;
use const_oid::db::rfc5280::{
    ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_BASIC_CONSTRAINTS, ID_CE_CERTIFICATE_POLICIES,
    ID_CE_CRL_DISTRIBUTION_POINTS, ID_CE_EXT_KEY_USAGE, ID_CE_KEY_USAGE, ID_CE_SUBJECT_ALT_NAME,
    ID_CE_SUBJECT_KEY_IDENTIFIER, ID_PE_AUTHORITY_INFO_ACCESS,
};
use const_oid::ObjectIdentifier;
use der::Encode;
use sha2::{Digest, Sha256};
use std::time::SystemTime;
use x509_cert::ext::pkix::{BasicConstraints, CertificatePolicies, KeyUsage, KeyUsages};
use x509_cert::Certificate;

/// The JPKI signing-certificate policy.
pub const POLICY_SIGNING: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.1.1.20");
/// The JPKI test-card signing policy.
pub const POLICY_SIGNING_TEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.1.0.20");

/// A verified JPKI signing certificate and the basic items it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningCertificate {
    /// The certificate as received.
    pub der: Vec<u8>,
    /// Serial number, lowercase hex of the magnitude.
    pub serial_hex: String,
    /// The issuer in RFC 4514 string form.
    pub issuer: String,
    /// notBefore.
    pub not_before: SystemTime,
    /// notAfter.
    pub not_after: SystemTime,
    /// Hex SHA-256 of `der`.
    pub fingerprint_sha256: String,
    /// SHA-256 (hex) of the J-LIS CA certificate (trust anchor) whose key signed it: which
    /// generation's CRL answers for it.
    pub issuer_anchor_sha256: String,
    /// Whether it carries the test-card policy (only possible when test cards are allowed).
    pub test_card: bool,
    /// The basic items.
    pub basic: BasicInfo,
}

/// Inputs of the certificate checks.
pub(crate) struct CertificateCheck<'a> {
    pub(crate) anchors: &'a TrustAnchors,
    pub(crate) allow_test_cards: bool,
    pub(crate) crls: &'a JpkiCrlSet,
    pub(crate) now: SystemTime,
}

impl CertificateCheck<'_> {
    /// Runs the checks in the documented order; the first failure is the answer.
    pub(crate) fn run(
        &self,
        der: &[u8],
        cert: &Certificate,
    ) -> Result<SigningCertificate, JpkiError> {
        let tbs = &cert.tbs_certificate;
        let issuer = tbs.issuer.to_string();
        // Trust anchor: by name and by signature.
        let untrusted = || JpkiError::UntrustedIssuer {
            issuer: issuer.clone(),
        };
        let issuer_der = tbs.issuer.to_der().map_err(|_| untrusted())?;
        let signature = cert.signature.as_bytes().ok_or_else(untrusted)?;
        if tbs.signature != cert.signature_algorithm {
            return Err(untrusted());
        }
        let anchor = self
            .anchors
            .verifying_anchor(&issuer_der, der, &cert.signature_algorithm, signature)
            .ok_or_else(untrusted)?;

        // Profile.
        let test_card = self.check_profile(cert)?;

        // Validity.
        let not_before = tbs.validity.not_before.to_system_time();
        let not_after = tbs.validity.not_after.to_system_time();
        if self.now < not_before {
            return Err(JpkiError::NotYetValid {
                now: self.now,
                not_before,
            });
        }
        if self.now > not_after {
            return Err(JpkiError::Expired {
                now: self.now,
                not_after,
            });
        }

        // Revocation: fail closed.
        let serial = magnitude(tbs.serial_number.as_bytes());
        let serial_hex = hex::encode(serial);
        let crl = self
            .crls
            .for_issuer(&issuer_der, &anchor.fingerprint)
            .ok_or_else(|| JpkiError::RevocationUnavailable {
                detail: "no CRL of the certificate's issuing J-LIS CA is loaded".into(),
            })?;
        match crl.next_update() {
            Some(next_update) if self.now <= next_update => {}
            Some(_) => {
                return Err(JpkiError::RevocationUnavailable {
                    detail: "the J-LIS CRL is past its nextUpdate".into(),
                })
            }
            None => {
                return Err(JpkiError::RevocationUnavailable {
                    detail: "the J-LIS CRL has no nextUpdate".into(),
                })
            }
        }
        if crl.is_revoked(serial) {
            return Err(JpkiError::Revoked { serial_hex });
        }

        // Basic items.
        let basic = basic_info(tbs.extensions.as_ref())?;
        Ok(SigningCertificate {
            der: der.to_vec(),
            serial_hex,
            issuer,
            not_before,
            not_after,
            fingerprint_sha256: hex::encode(Sha256::digest(der)),
            issuer_anchor_sha256: anchor.fingerprint.clone(),
            test_card,
            basic,
        })
    }

    /// keyUsage, certificatePolicies, no CA flag, no unknown critical extension.
    /// Returns whether the certificate is a test card.
    fn check_profile(&self, cert: &Certificate) -> Result<bool, JpkiError> {
        let not_signing = |detail: &'static str| JpkiError::NotSigningCertificate { detail };
        let tbs = &cert.tbs_certificate;
        let key_usage = tbs
            .get::<KeyUsage>()
            .map_err(|_| not_signing("keyUsage does not decode or appears twice"))?;
        match key_usage {
            Some((true, usage))
                if usage.0 == (KeyUsages::DigitalSignature | KeyUsages::NonRepudiation) => {}
            Some((false, _)) => return Err(not_signing("keyUsage is not critical")),
            Some(_) => {
                return Err(not_signing(
                    "keyUsage is not exactly digitalSignature and nonRepudiation",
                ))
            }
            None => return Err(not_signing("keyUsage is missing")),
        }
        if let Ok(Some((_, constraints))) = tbs.get::<BasicConstraints>() {
            if constraints.ca {
                return Err(not_signing("the certificate is a CA certificate"));
            }
        }
        let policies = tbs
            .get::<CertificatePolicies>()
            .map_err(|_| not_signing("certificatePolicies does not decode or appears twice"))?
            .map(|(_, p)| p.0)
            .unwrap_or_default();
        let has = |oid: ObjectIdentifier| policies.iter().any(|p| p.policy_identifier == oid);
        let test_card = if has(POLICY_SIGNING) {
            false
        } else if has(POLICY_SIGNING_TEST) {
            if !self.allow_test_cards {
                return Err(JpkiError::TestCertificate);
            }
            true
        } else {
            return Err(not_signing("the JPKI signing policy is missing"));
        };
        let known = [
            ID_CE_KEY_USAGE,
            ID_CE_CERTIFICATE_POLICIES,
            ID_CE_SUBJECT_ALT_NAME,
            ID_CE_SUBJECT_KEY_IDENTIFIER,
            ID_CE_AUTHORITY_KEY_IDENTIFIER,
            ID_CE_BASIC_CONSTRAINTS,
            ID_CE_CRL_DISTRIBUTION_POINTS,
            ID_PE_AUTHORITY_INFO_ACCESS,
            ID_CE_EXT_KEY_USAGE,
        ];
        if tbs
            .extensions
            .iter()
            .flatten()
            .any(|e| e.critical && !known.contains(&e.extn_id))
        {
            return Err(not_signing(
                "the certificate has an unknown critical extension",
            ));
        }
        Ok(test_card)
    }
}
