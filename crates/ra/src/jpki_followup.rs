//! J-LIS revocation follow-up: when a newer J-LIS CRL lists the JPKI signing certificate
//! that proved a holder's identity at issuance (`details.jpki.serial` of the application),
//! the certificate issued on it is flagged for review or revoked, by the instance policy
//! `[jpki] on_jpki_revocation` (docs/revocation.md, "J-LIS follow-up").
//!
//! Revocation uses the reason `privilegeWithdrawn`: the JPKI certificate on which the
//! CA's verification of the holder rests has been withdrawn, and the CA does not know why
//! (a move, a name change, a lost card, death). `affiliationChanged` would claim that the
//! subject's details changed and `keyCompromise` that the subscriber's key leaked, neither
//! of which the CA knows; the recorded reason `jpki_certificate_revoked` says what it does.

use crate::application::system_actor;
use crate::registration::JpkiRevocationPolicy;
use crate::{RaError, RaService};
use shuin_core::revocation::{RevocationPortError, RevocationReason, RevocationRequest};
use shuin_core::Serial;
use shuin_ledger::{Book, EntryDraft};
use shuin_store::{CertificateFlag, CertificateState};
use std::sync::Arc;

/// The flag reason and the recorded revocation reason.
pub const JPKI_REVOKED: &str = "jpki_certificate_revoked";

/// What one follow-up round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowupReport {
    /// Whether a CRL not seen before was examined.
    pub examined: bool,
    /// Certificates newly flagged.
    pub flagged: Vec<Serial>,
    /// Certificates revoked.
    pub revoked: Vec<Serial>,
}

impl RaService {
    /// One round of life-cycle upkeep: older applications filed under their holders
    /// (once), a changed J-LIS CRL file loaded, the J-LIS follow-up when the J-LIS CRL
    /// changed, then up to 100 notices from the outbox through `sender`. Failures are
    /// logged; the next round retries.
    pub async fn upkeep(&self, sender: &dyn crate::NoticeSender) {
        self.file_holders().await;
        // A changed J-LIS CRL file is read and verified here, off the async workers.
        let crl = self.crl.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || crl.refresh()).await {
            tracing::error!(error = %e, "reloading the J-LIS CRL failed");
        }
        match self.follow_jpki_crl().await {
            Ok(report) if report.examined => tracing::info!(
                flagged = report.flagged.len(),
                revoked = report.revoked.len(),
                "followed up a new J-LIS CRL"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "the J-LIS follow-up failed; retrying"),
        }
        match self.queue_holder_notices().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(queued = n, "queued notices of issuance and revocation"),
            Err(e) => tracing::error!(error = %e, "queueing notices failed; retrying"),
        }
        if let Err(e) = self.send_notices(sender, 100).await {
            tracing::error!(error = %e, "sending notices failed");
        }
        match self.purge_expired_nonces().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(purged = n, "purged expired challenge nonces"),
            Err(e) => tracing::error!(error = %e, "purging expired nonces failed"),
        }
    }
}

impl RaService {
    /// Examines the current J-LIS CRL if it is not the one examined last. Cheap when the
    /// CRL has not changed; the upkeep loop calls it every tick.
    pub async fn follow_jpki_crl(&self) -> Result<FollowupReport, RaError> {
        let mut report = FollowupReport::default();
        let Some(lifecycle) = self.lifecycle.as_ref() else {
            return Ok(report);
        };
        let crls = self.crl.current();
        if crls.is_empty() {
            return Ok(report);
        }
        {
            let followed = lifecycle
                .followed_crl
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if followed.as_ref().is_some_and(|f| Arc::ptr_eq(f, &crls)) {
                return Ok(report);
            }
        }
        report.examined = true;
        let store = lifecycle.store.as_ref();
        for certificate in store
            .certificates_in_state(CertificateState::Issued)
            .await?
        {
            let Some(application) = store.application(&certificate.application_id).await? else {
                continue;
            };
            let Some(jpki_serial) = application
                .details
                .pointer("/jpki/serial")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
            else {
                continue;
            };
            if !listed_on_its_issuers_crl(&crls, &application.details, &jpki_serial) {
                continue;
            }
            if store.revocation(&certificate.serial).await?.is_some() {
                continue;
            }
            let serial = certificate.serial;
            match lifecycle.on_jpki_revocation {
                JpkiRevocationPolicy::Flag => {
                    let now = self.clock.now();
                    let flag = CertificateFlag {
                        serial: serial.clone(),
                        reason: JPKI_REVOKED.into(),
                        jpki_serial: jpki_serial.clone(),
                        flagged_at: now,
                    };
                    if store.flag_certificate(&flag).await? {
                        self.ledger_followup(
                            "certificate.flagged_jpki_revoked",
                            &serial,
                            &jpki_serial,
                            &application.id,
                            "flag",
                        )
                        .await?;
                        report.flagged.push(serial);
                    }
                }
                JpkiRevocationPolicy::Revoke => {
                    self.ledger_followup(
                        "certificate.revoking_jpki_revoked",
                        &serial,
                        &jpki_serial,
                        &application.id,
                        "revoke",
                    )
                    .await?;
                    let request = RevocationRequest {
                        serial: serial.clone(),
                        reason: RevocationReason::PrivilegeWithdrawn,
                        invalidity_date: None,
                        decided_by: "shuin-ra (J-LIS CRL follow-up)".into(),
                        role: "system".into(),
                        authorisation: JPKI_REVOKED.into(),
                    };
                    match self.revoker.revoke(request).await {
                        Ok(_) => report.revoked.push(serial),
                        Err(RevocationPortError::AlreadyRevoked { .. })
                        | Err(RevocationPortError::UnknownSerial) => {}
                        Err(e) => return Err(RaError::Unavailable(Box::new(e))),
                    }
                }
            }
        }
        // Only a complete round marks the CRL as followed; a failed one is retried.
        *lifecycle
            .followed_crl
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(crls);
        Ok(report)
    }

    async fn ledger_followup(
        &self,
        kind: &str,
        serial: &Serial,
        jpki_serial: &str,
        application_id: &str,
        policy: &str,
    ) -> Result<(), RaError> {
        self.store
            .append(
                EntryDraft {
                    book: Book::Revocation,
                    kind: kind.into(),
                    actor: system_actor(),
                    subjects: vec![
                        format!("serial:{serial}"),
                        format!("application:{application_id}"),
                    ],
                    payload: serde_json::json!({
                        "reason": JPKI_REVOKED,
                        "jpki_serial": jpki_serial,
                        "policy": policy,
                        "revocation_reason": (policy == "revoke").then_some(RevocationReason::PrivilegeWithdrawn.name()),
                    }),
                    evidence: vec![],
                },
                self.clock.now(),
            )
            .await?;
        Ok(())
    }

    /// The review list of flagged certificates.
    pub async fn certificate_flags(&self) -> Result<Vec<CertificateFlag>, RaError> {
        Ok(self.lifecycle()?.store.certificate_flags().await?)
    }
}

/// The review list (`shuin registration flags --json`): one object per flagged
/// certificate.
pub fn flags_json(flags: &[CertificateFlag]) -> serde_json::Value {
    flags
        .iter()
        .map(|f| {
            serde_json::json!({
                "serial": f.serial.to_hex(),
                "reason": f.reason,
                "jpki_serial": f.jpki_serial,
                "flagged_at": shuin_core::timefmt::rfc3339(f.flagged_at),
            })
        })
        .collect()
}

/// The review list for a person: one certificate a line, or a sentence when none is
/// flagged.
pub fn flags_text(flags: &[CertificateFlag]) -> String {
    if flags.is_empty() {
        return "no certificate is flagged".into();
    }
    flags
        .iter()
        .map(|f| {
            format!(
                "{}  {}  JPKI serial {}  flagged {}",
                f.serial.to_hex(),
                f.reason,
                f.jpki_serial,
                shuin_core::timefmt::rfc3339(f.flagged_at)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether the JPKI certificate recorded in `details` is on its issuing CA's CRL. The
/// issuing CA is the anchor recorded at application (`jpki.issuer_anchor_sha256`);
/// applications recorded before several CRLs were held name none, and are looked up on
/// every CRL held.
fn listed_on_its_issuers_crl(
    crls: &shuin_jpki::JpkiCrlSet,
    details: &serde_json::Value,
    jpki_serial: &str,
) -> bool {
    let Ok(magnitude) = hex::decode(jpki_serial) else {
        return false;
    };
    match details
        .pointer("/jpki/issuer_anchor_sha256")
        .and_then(|v| v.as_str())
    {
        Some(anchor) => crls
            .for_anchor(anchor)
            .is_some_and(|crl| crl.is_revoked(&magnitude)),
        None => crls.iter().any(|crl| crl.is_revoked(&magnitude)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn the_review_list_reads_in_json_and_text() {
        assert_eq!(flags_text(&[]), "no certificate is flagged");
        assert_eq!(flags_json(&[]), serde_json::json!([]));
        let flag = CertificateFlag {
            serial: Serial::from_hex("0a0b").expect("serial"),
            reason: JPKI_REVOKED.into(),
            jpki_serial: "99".into(),
            flagged_at: UNIX_EPOCH + Duration::from_secs(86_400),
        };
        assert_eq!(
            flags_text(std::slice::from_ref(&flag)),
            "0a0b  jpki_certificate_revoked  JPKI serial 99  flagged 1970-01-02T00:00:00Z"
        );
        let json = flags_json(&[flag]);
        assert_eq!(json[0]["serial"], "0a0b");
        assert_eq!(json[0]["flagged_at"], "1970-01-02T00:00:00Z");
    }

    #[test]
    fn a_card_is_looked_up_on_its_own_issuers_crl() {
        use shuin_jpki::{JpkiCrl, JpkiCrlSet, TrustAnchors};
        #[allow(clippy::disallowed_methods)] // tests stand outside the injected clock
        let t = std::time::SystemTime::now();
        let crl_of = |ca: &shuin_testkit::SimulatedJlisCa, anchors: &TrustAnchors| {
            let der = ca
                .crl_der(&[vec![0x07]], t, t + Duration::from_secs(86_400))
                .expect("crl");
            std::sync::Arc::new(JpkiCrl::parse(&der, anchors).expect("parse"))
        };
        let revoking = shuin_testkit::SimulatedJlisCa::generate(t).expect("ca");
        let other = shuin_testkit::SimulatedJlisCa::generate(t).expect("ca");
        let anchors = TrustAnchors::from_der_certs(vec![
            revoking.cert_der().to_vec(),
            other.cert_der().to_vec(),
        ])
        .expect("anchors");
        let fingerprints = anchors.fingerprints();
        let mut crls = JpkiCrlSet::empty();
        crls.admit(crl_of(&revoking, &anchors)).expect("admitted");
        let details = |anchor: &str| serde_json::json!({"jpki": {"issuer_anchor_sha256": anchor}});
        assert!(listed_on_its_issuers_crl(
            &crls,
            &details(&fingerprints[0]),
            "07"
        ));
        // The same serial from the other generation is not this CRL's to answer.
        assert!(!listed_on_its_issuers_crl(
            &crls,
            &details(&fingerprints[1]),
            "07"
        ));
        assert!(!listed_on_its_issuers_crl(
            &crls,
            &details(&fingerprints[0]),
            "08"
        ));
        // Records from before the anchor was recorded are looked up everywhere.
        let legacy = serde_json::json!({"jpki": {"serial": "07"}});
        assert!(listed_on_its_issuers_crl(&crls, &legacy, "07"));
    }
}
