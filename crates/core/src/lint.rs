//! Built-in lints run on every TBSCertificate before it is signed (record, lint, sign).
//!
//! They mirror the RFC 5280 checks of pkilint's certificate linter that apply to shuin's
//! profiles; the test suite runs pkilint itself on issued certificates to keep the two
//! in agreement.

use crate::x509::time::to_system_time;
use const_oid::db::rfc5280;
use std::collections::HashSet;
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::time::Time;

/// One lint failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintFinding {
    /// A stable identifier (`serial_too_long`, ...).
    pub id: &'static str,
    /// What is wrong.
    pub message: String,
}

fn finding(id: &'static str, message: impl Into<String>) -> LintFinding {
    LintFinding {
        id,
        message: message.into(),
    }
}

/// Lints a subscriber or CA TBSCertificate. An empty result means it may be signed.
pub fn lint_tbs(tbs: &TbsCertificate) -> Vec<LintFinding> {
    let mut out = Vec::new();
    if tbs.version != Version::V3 {
        out.push(finding(
            "version_not_v3",
            "certificates with extensions must be v3",
        ));
    }
    let serial = tbs.serial_number.as_bytes();
    if serial.len() > 20 {
        out.push(finding("serial_too_long", "serialNumber exceeds 20 octets"));
    }
    if serial.first().is_some_and(|b| b & 0x80 != 0) || serial.iter().all(|b| *b == 0) {
        out.push(finding(
            "serial_not_positive",
            "serialNumber must be positive",
        ));
    }
    for (label, time) in [
        ("notBefore", &tbs.validity.not_before),
        ("notAfter", &tbs.validity.not_after),
    ] {
        let year_2050 = std::time::UNIX_EPOCH + std::time::Duration::from_secs(2_524_608_000);
        let t = to_system_time(time);
        match time {
            Time::UtcTime(_) if t >= year_2050 => out.push(finding(
                "time_encoding",
                format!("{label} from 2050 must be GeneralizedTime"),
            )),
            Time::GeneralTime(_) if t < year_2050 => out.push(finding(
                "time_encoding",
                format!("{label} before 2050 must be UTCTime"),
            )),
            _ => {}
        }
    }
    if to_system_time(&tbs.validity.not_after) <= to_system_time(&tbs.validity.not_before) {
        out.push(finding(
            "validity_inverted",
            "notAfter must follow notBefore",
        ));
    }
    if tbs.subject.0.is_empty() {
        out.push(finding(
            "subject_empty",
            "subscriber certificates need a subject",
        ));
    }
    let extensions = tbs.extensions.as_deref().unwrap_or(&[]);
    let mut seen = HashSet::new();
    for extension in extensions {
        if !seen.insert(extension.extn_id) {
            out.push(finding(
                "extension_duplicate",
                format!("extension {} appears twice", extension.extn_id),
            ));
        }
    }
    let has = |oid| extensions.iter().find(|e| e.extn_id == oid);
    match has(rfc5280::ID_CE_KEY_USAGE) {
        Some(ku) if !ku.critical => out.push(finding(
            "key_usage_not_critical",
            "keyUsage should be critical",
        )),
        Some(_) => {}
        None => out.push(finding("key_usage_missing", "keyUsage is required")),
    }
    if has(rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER).is_none() {
        out.push(finding("ski_missing", "subjectKeyIdentifier is required"));
    }
    let self_issued = tbs.issuer == tbs.subject;
    if !self_issued && has(rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER).is_none() {
        out.push(finding("aki_missing", "authorityKeyIdentifier is required"));
    }
    if let Some(bc) = has(rfc5280::ID_CE_BASIC_CONSTRAINTS) {
        if !bc.critical {
            out.push(finding(
                "basic_constraints_not_critical",
                "basicConstraints must be critical in CA certificates",
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issuance::CaProfile;
    use crate::x509::name::NameBuilder;
    use crate::{Serial, SignatureAlgorithm};
    use der::Decode;

    #[test]
    fn a_root_template_is_clean() {
        // A fixed P-256 SPKI (the generator point is a valid public key).
        let spki_der = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5").unwrap_or_default();
        let spki =
            spki::SubjectPublicKeyInfoOwned::from_der(&spki_der).unwrap_or_else(|e| panic!("{e}"));
        let name = NameBuilder::new()
            .country("JP")
            .and_then(|b| b.common_name("Root"))
            .unwrap_or_else(|e| panic!("{e}"))
            .build();
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let serial = Serial::from_hex("01").unwrap_or_else(|| panic!("serial"));
        let template = CaProfile::root(
            name,
            spki,
            serial,
            now,
            std::time::Duration::from_secs(86_400),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let tbs = template
            .to_tbs(SignatureAlgorithm::EcdsaP256Sha256)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lint_tbs(&tbs), vec![]);
    }
}
