//! The J-LIS CRL (RFC 5280 section 5), read from a file that an outside job refreshes
//! (DESIGN.md section 3.7). Its signature must verify under a configured anchor whose
//! subject is the CRL issuer; freshness is checked per application by the verifier.
//!
//! ```text
//! CertificateList  ::=  SEQUENCE  {
//!      tbsCertList          TBSCertList,
//!      signatureAlgorithm   AlgorithmIdentifier,
//!      signatureValue       BIT STRING  }
//! ```

use crate::anchors::TrustAnchors;
use crate::error::JpkiError;
use const_oid::db::rfc5280::{
    ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_CRL_NUMBER, ID_CE_DELTA_CRL_INDICATOR,
    ID_CE_ISSUING_DISTRIBUTION_POINT,
};
use der::{Decode, Encode};
use std::collections::HashSet;
use std::time::SystemTime;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint;
use x509_cert::ext::pkix::crl::CrlNumber;

/// Largest CRL file accepted (a budget against inflated inputs).
pub const MAX_CRL_BYTES: usize = 256 * 1024 * 1024;

/// Why a J-LIS CRL was not taken. [`CrlRefusal::code`] is a stable `snake_case` reason
/// code for logs and status output (docs/registration.md, "J-LIS revocation data").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CrlRefusal {
    /// The file could not be read.
    Unreadable,
    /// Larger than [`MAX_CRL_BYTES`].
    Oversized,
    /// Not a well-formed DER CertificateList.
    Malformed,
    /// Its issuer is not a configured J-LIS signing CA.
    UntrustedIssuer,
    /// Its signature does not verify under the anchor its issuer names.
    SignatureInvalid,
    /// A delta CRL (deltaCRLIndicator): it lists only changes since a base CRL.
    Delta,
    /// A partitioned CRL (issuingDistributionPoint with a distributionPoint).
    Partitioned,
    /// Scoped to CA or attribute certificates, to some reasons, or indirect.
    ScopeLimited,
    /// A critical CRL extension this verifier does not know (RFC 5280 section 5.2).
    UnknownCriticalExtension,
    /// Older than the CRL loaded for the same issuer (lower cRLNumber, or earlier
    /// thisUpdate): taking it could un-revoke a card.
    OlderThanLoaded,
}

impl CrlRefusal {
    /// The stable reason code.
    pub fn code(self) -> &'static str {
        match self {
            CrlRefusal::Unreadable => "crl_unreadable",
            CrlRefusal::Oversized => "crl_oversized",
            CrlRefusal::Malformed => "crl_malformed",
            CrlRefusal::UntrustedIssuer => "crl_untrusted_issuer",
            CrlRefusal::SignatureInvalid => "crl_signature_invalid",
            CrlRefusal::Delta => "crl_delta",
            CrlRefusal::Partitioned => "crl_partitioned",
            CrlRefusal::ScopeLimited => "crl_scope_limited",
            CrlRefusal::UnknownCriticalExtension => "crl_unknown_critical_extension",
            CrlRefusal::OlderThanLoaded => "crl_older_than_loaded",
        }
    }
}

impl std::fmt::Display for CrlRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// A verified J-LIS CRL.
#[derive(Debug, Clone)]
pub struct JpkiCrl {
    issuer_der: Vec<u8>,
    anchor_fingerprint: String,
    this_update: SystemTime,
    next_update: Option<SystemTime>,
    /// The CRL number's magnitude (big-endian, no leading zeros), if it has one.
    number: Option<Vec<u8>>,
    revoked: HashSet<Vec<u8>>,
}

impl JpkiCrl {
    /// Parses `der` and verifies its signature under an anchor named as its issuer.
    ///
    /// A CRL that scopes itself to CA or attribute certificates, to some reasons, or that
    /// is indirect, cannot answer for a card and is refused. Unknown critical extensions
    /// are refused (RFC 5280 section 5.2). Only a complete CRL is taken: a delta CRL
    /// (deltaCRLIndicator) or a partitioned one (issuingDistributionPoint with a
    /// distributionPoint) lists only part of the revoked cards, and is refused rather
    /// than read as complete.
    pub fn parse(der: &[u8], anchors: &TrustAnchors) -> Result<Self, JpkiError> {
        use CrlRefusal::*;
        let refused = |refusal: CrlRefusal, detail: &str| JpkiError::CrlInvalid {
            refusal,
            detail: detail.to_owned(),
            source: None,
        };
        let malformed = |detail: &str| {
            let detail = detail.to_owned();
            move |e| JpkiError::CrlInvalid {
                refusal: Malformed,
                detail,
                source: Some(e),
            }
        };
        if der.len() > MAX_CRL_BYTES {
            return Err(refused(Oversized, "the CRL exceeds the size budget"));
        }
        let crl = CertificateList::from_der(der).map_err(malformed("not a DER CertificateList"))?;
        let tbs = &crl.tbs_cert_list;
        if tbs.signature != crl.signature_algorithm {
            return Err(refused(
                Malformed,
                "the inner and outer signature algorithms differ",
            ));
        }
        let issuer_der = tbs.issuer.to_der().map_err(malformed("issuer"))?;
        if !anchors.knows_subject(&issuer_der) {
            return Err(refused(
                UntrustedIssuer,
                "the CRL issuer is not a configured J-LIS signing CA",
            ));
        }
        let signature = crl
            .signature
            .as_bytes()
            .ok_or_else(|| refused(SignatureInvalid, "the signature BIT STRING has unused bits"))?;
        let anchor = anchors
            .verifying_anchor(&issuer_der, der, &crl.signature_algorithm, signature)
            .ok_or_else(|| {
                refused(
                    SignatureInvalid,
                    "the CRL signature does not verify under the named anchor",
                )
            })?;
        let mut number = None;
        for extension in tbs.crl_extensions.iter().flatten() {
            match extension.extn_id {
                ID_CE_AUTHORITY_KEY_IDENTIFIER => {}
                ID_CE_CRL_NUMBER => {
                    let value = CrlNumber::from_der(extension.extn_value.as_bytes())
                        .map_err(malformed("cRLNumber"))?;
                    number = Some(magnitude(value.0.as_bytes()).to_vec());
                }
                ID_CE_DELTA_CRL_INDICATOR => return Err(refused(
                    Delta,
                    "a delta CRL lists only the changes since a base CRL; give the complete CRL",
                )),
                ID_CE_ISSUING_DISTRIBUTION_POINT => {
                    let idp = IssuingDistributionPoint::from_der(extension.extn_value.as_bytes())
                        .map_err(malformed("issuingDistributionPoint"))?;
                    if idp.only_contains_ca_certs
                        || idp.only_contains_attribute_certs
                        || idp.only_some_reasons.is_some()
                        || idp.indirect_crl
                    {
                        return Err(refused(
                            ScopeLimited,
                            "the CRL's scope does not cover signing certificates",
                        ));
                    }
                    if idp.distribution_point.is_some() {
                        return Err(refused(
                            Partitioned,
                            "a partitioned CRL covers only its distribution point's certificates; give the complete CRL",
                        ));
                    }
                }
                _ if extension.critical => {
                    return Err(refused(
                        UnknownCriticalExtension,
                        "the CRL has an unknown critical extension",
                    ))
                }
                _ => {}
            }
        }
        let mut revoked = HashSet::new();
        for entry in tbs.revoked_certificates.iter().flatten() {
            revoked.insert(magnitude(entry.serial_number.as_bytes()).to_vec());
        }
        Ok(Self {
            issuer_der,
            anchor_fingerprint: anchor.fingerprint.clone(),
            this_update: tbs.this_update.to_system_time(),
            next_update: tbs.next_update.map(|t| t.to_system_time()),
            number,
            revoked,
        })
    }

    /// Whether this CRL is older than `loaded`, from the same issuer: a lower CRL number,
    /// or (numbers equal or absent) an earlier thisUpdate. An older CRL must never
    /// replace a newer one: it could un-revoke a card.
    pub fn is_older_than(&self, loaded: &JpkiCrl) -> bool {
        if self.issuer_der != loaded.issuer_der {
            return false;
        }
        let by_number = match (&self.number, &loaded.number) {
            (Some(ours), Some(theirs)) => ours.len().cmp(&theirs.len()).then(ours.cmp(theirs)),
            _ => std::cmp::Ordering::Equal,
        };
        by_number.is_lt() || (by_number.is_eq() && self.this_update < loaded.this_update)
    }

    /// thisUpdate.
    pub fn this_update(&self) -> SystemTime {
        self.this_update
    }

    /// nextUpdate, if the CRL has one (a CRL without one is never fresh).
    pub fn next_update(&self) -> Option<SystemTime> {
        self.next_update
    }

    /// Whether the serial (unsigned big-endian magnitude; leading zeros ignored) is listed.
    pub fn is_revoked(&self, serial_magnitude: &[u8]) -> bool {
        self.revoked.contains(magnitude(serial_magnitude))
    }

    /// How many serials are listed.
    pub fn revoked_count(&self) -> usize {
        self.revoked.len()
    }

    /// DER of the issuer Name.
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer_der
    }

    /// The fingerprint of the anchor whose key signed this CRL.
    pub fn anchor_fingerprint(&self) -> &str {
        &self.anchor_fingerprint
    }
}

/// Strips leading zero octets (a DER INTEGER's sign octet, or padding).
pub(crate) fn magnitude(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magnitudes_ignore_leading_zeros() {
        assert_eq!(magnitude(&[0, 0, 0x81]), &[0x81]);
        assert_eq!(magnitude(&[0x01, 0x00]), &[0x01, 0x00]);
        assert!(magnitude(&[0, 0]).is_empty());
    }

    #[test]
    fn garbage_is_not_a_crl() {
        let anchors = TrustAnchors::from_der_certs(Vec::new()).unwrap_or_else(|e| panic!("{e}"));
        let err = JpkiCrl::parse(b"\x30\x03\x02\x01\x00", &anchors).err();
        assert!(matches!(
            err,
            Some(JpkiError::CrlInvalid {
                refusal: CrlRefusal::Malformed,
                ..
            })
        ));
    }
}
