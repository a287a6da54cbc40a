//! Re-verifying a stored JPKI-signed application at its decision's time, for the
//! periodic review (`crate::recheck`): the same verification as on arrival
//! (`shuin_jpki::Verifier::verify_application`: CMS signature, J-LIS chain, profile,
//! validity, revocation), with the decision's time in place of the clock.
//!
//! The RA keeps no earlier J-LIS CRL, only the ones loaded now. A card they do not list
//! was not listed at the decision either (a revocation is never undone). A card they do
//! list was listed at the decision only if the listing CRL was already in force then
//! (its thisUpdate at or before the decision); otherwise the answer is that revocation
//! at that time is unknown, never a pass.

use crate::config::{ConfigError, JpkiSection};
use crate::recheck::{EvidenceVerifier, Verification};
use crate::CrlSource;
use shuin_jpki::{JpkiCrlSet, JpkiError, Verifier};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

/// The configured J-LIS trust anchors and the CRLs loaded now.
#[derive(Debug, Clone)]
pub struct JpkiEvidence {
    verifier: Verifier,
    crls: Arc<JpkiCrlSet>,
}

impl JpkiEvidence {
    /// Verifies with `verifier` against `crls`.
    pub fn new(verifier: Verifier, crls: Arc<JpkiCrlSet>) -> JpkiEvidence {
        JpkiEvidence { verifier, crls }
    }

    /// The `[jpki]` section of the instance in `dir`, opened off the async workers (the
    /// CRL files are read and verified).
    pub async fn open(section: &JpkiSection, dir: &Path) -> Result<JpkiEvidence, ConfigError> {
        let (section, dir) = (section.clone(), dir.to_path_buf());
        let opened = tokio::task::spawn_blocking(move || section.open(&dir))
            .await
            .map_err(|e| ConfigError::Read {
                path: std::path::PathBuf::from("jpki.crl"),
                source: std::io::Error::other(e),
            })?;
        let (verifier, crls) = opened?;
        Ok(JpkiEvidence::new(verifier, crls.current()))
    }

    /// Whether a CRL loaded now that was already in force at `at` lists `serial_hex`.
    fn listed_then(&self, serial_hex: &str, at: SystemTime) -> bool {
        let Ok(serial) = hex::decode(serial_hex) else {
            return false;
        };
        self.crls
            .iter()
            .any(|crl| crl.this_update() <= at && crl.is_revoked(&serial))
    }
}

impl EvidenceVerifier for JpkiEvidence {
    fn verify(&self, cms_der: &[u8], at: SystemTime) -> Verification {
        match self.verifier.verify_application(cms_der, &self.crls, at) {
            Ok(verified) => Verification::Verified {
                jpki_fingerprint: verified.signer.fingerprint_sha256,
            },
            Err(JpkiError::Revoked { serial_hex }) if !self.listed_then(&serial_hex, at) => {
                Verification::RevocationUnknown(format!(
                    "JPKI serial {serial_hex} is listed only on a CRL newer than the decision"
                ))
            }
            Err(JpkiError::RevocationUnavailable { detail }) => {
                Verification::RevocationUnknown(detail)
            }
            Err(e) => Verification::DoesNotVerify(format!("{}: {e}", e.code().as_str())),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use shuin_jpki::{JpkiCrl, TrustAnchors, VerifierConfig};
    use shuin_testkit::{CardSpec, SimulatedJlisCa};
    use std::time::Duration;

    const DAY: Duration = Duration::from_secs(86_400);

    struct Fixture {
        ca: SimulatedJlisCa,
        anchors: TrustAnchors,
        cms: Vec<u8>,
        serial: Vec<u8>,
        decided: SystemTime,
    }

    fn fixture() -> Fixture {
        let decided = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let ca = SimulatedJlisCa::generate(decided - 30 * DAY).unwrap();
        let spec = CardSpec::signing("山田　太郎", "1990-01-02", "東京都", decided);
        let card = ca.issue_card(&spec).unwrap();
        let anchors = TrustAnchors::from_der_certs(vec![ca.cert_der().to_vec()]).unwrap();
        let cms = card.sign_application(b"{}").unwrap();
        let serial = card.serial().unwrap();
        Fixture {
            ca,
            anchors,
            cms,
            serial,
            decided,
        }
    }

    impl Fixture {
        fn evidence(&self, revoked: &[Vec<u8>], this_update: SystemTime) -> JpkiEvidence {
            let der = self
                .ca
                .crl_der(revoked, this_update, this_update + 400 * DAY)
                .unwrap();
            let crl = JpkiCrl::parse(&der, &self.anchors).unwrap();
            let config = VerifierConfig {
                allow_test_cards: true,
            };
            JpkiEvidence::new(
                Verifier::new(self.anchors.clone(), config),
                Arc::new(JpkiCrlSet::single(crl)),
            )
        }
    }

    #[test]
    fn evidence_verifies_at_the_decision_not_now() {
        let f = fixture();
        let later_crl = f.evidence(&[], f.decided + 300 * DAY);
        let answer = later_crl.verify(&f.cms, f.decided);
        assert!(
            matches!(answer, Verification::Verified { .. }),
            "{answer:?}"
        );
        // Ten years on the card has expired: the wall clock would refuse it.
        let expired = later_crl.verify(&f.cms, f.decided + 3650 * DAY);
        assert!(
            matches!(&expired, Verification::DoesNotVerify(why) if why.starts_with("jpki_certificate_expired")),
            "{expired:?}"
        );
    }

    #[test]
    fn a_card_listed_by_a_crl_in_force_then_does_not_verify() {
        let f = fixture();
        let answer = f
            .evidence(std::slice::from_ref(&f.serial), f.decided - DAY)
            .verify(&f.cms, f.decided);
        assert!(
            matches!(&answer, Verification::DoesNotVerify(why) if why.starts_with("jpki_certificate_revoked")),
            "{answer:?}"
        );
    }

    #[test]
    fn a_card_listed_only_later_is_unknown_never_a_pass() {
        let f = fixture();
        let answer = f
            .evidence(std::slice::from_ref(&f.serial), f.decided + DAY)
            .verify(&f.cms, f.decided);
        assert!(
            matches!(answer, Verification::RevocationUnknown(_)),
            "{answer:?}"
        );
        let none = JpkiEvidence::new(
            Verifier::new(
                f.anchors.clone(),
                VerifierConfig {
                    allow_test_cards: true,
                },
            ),
            Arc::new(JpkiCrlSet::empty()),
        );
        assert!(matches!(
            none.verify(&f.cms, f.decided),
            Verification::RevocationUnknown(_)
        ));
    }

    #[test]
    fn altered_bytes_do_not_verify() {
        let f = fixture();
        let mut cms = f.cms.clone();
        let last = cms.len() - 1;
        cms[last] ^= 1;
        let answer = f.evidence(&[], f.decided).verify(&cms, f.decided);
        assert!(
            matches!(answer, Verification::DoesNotVerify(_)),
            "{answer:?}"
        );
    }
}
