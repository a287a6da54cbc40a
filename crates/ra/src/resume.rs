//! Approved applications whose issuance did not finish: the CA was sealed or unavailable
//! when they were approved, or the process stopped in between. The decision is already
//! in the ledger (`application.accepted` / `application.approved`), so nothing is lost:
//! the upkeep loop asks the CA again with the approver recorded at approval time
//! (`details.approver`, `details.approved_at`). A second certificate for the same key is
//! impossible (the CA reserves each key once), so a retry that races another issuance
//! fails at the reservation, before anything is signed, and leaves the record alone.

use crate::review::{order_from, ReviewStore};
use shuin_core::issuance::{Approver, IssuanceError, Issuer};
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{ApplicationRecord, ApplicationStatus, StoreError};
use std::time::{Duration, SystemTime};

/// How long an approval must be old before it is retried: issuance right after approval
/// takes well under a second, so anything older is no longer in flight.
pub const RESUME_AFTER: Duration = Duration::from_secs(60);

/// Records who approved and when, so an interrupted issuance can be resumed.
pub(crate) fn note_approval(record: &mut ApplicationRecord, approver: &Approver, at: SystemTime) {
    if let Some(details) = record.details.as_object_mut() {
        details.insert(
            "approver".into(),
            serde_json::json!({
                "name": approver.name,
                "role": approver.role,
                "automatic": approver.automatic,
            }),
        );
        details.insert(
            "approved_at".into(),
            serde_json::Value::String(shuin_core::timefmt::rfc3339(at)),
        );
    }
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct Resumed {
    /// Applications now issued (the caller supersedes a replaced certificate).
    pub issued: Vec<ApplicationRecord>,
    /// Applications rejected because their key was certified meanwhile (`key_reused`).
    pub rejected: Vec<String>,
    /// Applications left as they are, with why.
    pub left: Vec<(String, String)>,
    /// Whether the pass stopped because the CA refused or failed (retry later, backing
    /// off: each retry is ledgered).
    pub ca_failed: bool,
}

fn approval_of(record: &ApplicationRecord) -> Option<(Approver, SystemTime)> {
    let approver = &record.details["approver"];
    let at = record.details["approved_at"]
        .as_str()
        .and_then(shuin_core::timefmt::parse_rfc3339)?;
    Some((
        Approver {
            name: approver["name"].as_str()?.to_owned(),
            role: approver["role"].as_str()?.to_owned(),
            automatic: approver["automatic"].as_bool()?,
        },
        at,
    ))
}

/// Issues every application that has been `approved` for at least [`RESUME_AFTER`].
/// Stops at the first sign that the CA is sealed or unavailable (the next pass retries).
pub async fn resume_approved<S: ReviewStore + ?Sized>(
    store: &S,
    issuer: &dyn Issuer,
    now: SystemTime,
) -> Result<Resumed, StoreError> {
    let mut done = Resumed::default();
    if issuer.ready().is_err() {
        done.ca_failed = true;
        return Ok(done);
    }
    for mut record in store
        .applications_with_status(ApplicationStatus::Approved)
        .await?
    {
        let Some((approver, approved_at)) = approval_of(&record) else {
            done.left.push((
                record.id.clone(),
                "no approver recorded; approve it again with `shuin review`".into(),
            ));
            continue;
        };
        if now.duration_since(approved_at).unwrap_or_default() < RESUME_AFTER {
            continue;
        }
        let order = match order_from(&record, approver) {
            Ok(order) => order,
            Err(e) => {
                done.left.push((record.id.clone(), e.to_string()));
                continue;
            }
        };
        store
            .append(
                EntryDraft {
                    book: Book::Application,
                    kind: "application.issuance_resumed".into(),
                    actor: Actor {
                        name: "shuin-ra".into(),
                        role: "system".into(),
                        zone: "secure".into(),
                    },
                    subjects: vec![format!("application:{}", record.id)],
                    payload: serde_json::json!({
                        "approved_at": shuin_core::timefmt::rfc3339(approved_at),
                    }),
                    evidence: vec![format!("sha256:{}", record.evidence_sha256)],
                },
                now,
            )
            .await?;
        match issuer.issue(order).await {
            Ok(issued) => {
                record.status = ApplicationStatus::Issued;
                record.serial = Some(issued.serial);
                store.update_application(&record).await?;
                done.issued.push(record);
            }
            Err(IssuanceError::KeyReused) => {
                // Either certified for another application, or this one raced another
                // process's issuance of it: re-read before deciding.
                match store.application(&record.id).await? {
                    Some(current) if current.status == ApplicationStatus::Approved => {
                        record.status = ApplicationStatus::Rejected;
                        record.rejection_reason =
                            Some(shuin_core::ReasonCode::KeyReused.as_str().into());
                        store.update_application(&record).await?;
                        done.rejected.push(record.id);
                    }
                    _ => {}
                }
            }
            Err(e) => {
                done.left.push((record.id, e.to_string()));
                done.ca_failed = true;
                break;
            }
        }
    }
    Ok(done)
}

/// One pass of [`resume_approved`] for the upkeep loop: issues what is due through the
/// CA, supersedes the certificate a resumed reissue replaces, and logs what it did.
/// True when the CA failed (the caller backs off).
pub async fn resume_and_supersede<S, C>(
    store: &S,
    ca: &C,
    rng: &dyn shuin_core::RandomSource,
    now: SystemTime,
) -> bool
where
    S: ReviewStore + crate::LifecycleStore,
    C: Issuer + shuin_core::revocation::Revoker,
{
    match resume_approved(store, ca, now).await {
        Ok(done) => {
            for record in &done.issued {
                tracing::info!(application = %record.id, "resumed an interrupted issuance");
                if let Err(e) = crate::supersede_replaced(store, ca, record, rng, now).await {
                    tracing::error!(application = %record.id, error = %e, "superseding after a resumed reissue failed");
                }
            }
            for id in &done.rejected {
                tracing::warn!(application = %id, "resumed issuance refused: key_reused");
            }
            for (id, why) in &done.left {
                tracing::warn!(application = %id, why = %why, "approved application not issued yet");
            }
            done.ca_failed
        }
        Err(e) => {
            tracing::error!(error = %e, "resuming approved applications failed");
            true
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use shuin_core::issuance::{IssuanceOrder, IssuedCertificate};
    use shuin_core::Serial;
    use shuin_store::sqlite::SqliteStore;
    use shuin_store::{ApplicationStore, LedgerStore};
    use std::sync::Mutex;
    use std::time::UNIX_EPOCH;

    /// Answers from a script, one per call, and remembers the orders.
    struct Scripted {
        answers: Mutex<Vec<Result<IssuedCertificate, IssuanceError>>>,
        orders: Mutex<Vec<IssuanceOrder>>,
    }

    #[async_trait::async_trait]
    impl Issuer for Scripted {
        async fn issue(&self, order: IssuanceOrder) -> Result<IssuedCertificate, IssuanceError> {
            self.orders.lock().unwrap().push(order);
            self.answers.lock().unwrap().remove(0)
        }
    }

    fn scripted(answers: Vec<Result<IssuedCertificate, IssuanceError>>) -> Scripted {
        Scripted {
            answers: Mutex::new(answers),
            orders: Mutex::new(Vec::new()),
        }
    }

    fn issued(serial: &str) -> Result<IssuedCertificate, IssuanceError> {
        Ok(IssuedCertificate {
            serial: Serial::from_hex(serial).unwrap(),
            certificate_der: vec![0x30, 0x00],
            chain_der: vec![],
        })
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    async fn approved(store: &SqliteStore, id: &str, approved_at: SystemTime) {
        let mut record = ApplicationRecord {
            id: id.into(),
            status: ApplicationStatus::Approved,
            received_at: approved_at,
            review_reasons: vec![],
            serial: None,
            rejection_reason: None,
            evidence_sha256: "00".repeat(32),
            details: serde_json::json!({
                "spki_der": "MAA=",
                "subject_name": "山田　太郎",
                "not_after_cap": "2030-01-01T00:00:00Z",
            }),
        };
        let approver = Approver {
            name: "責任者 花子".into(),
            role: "responsible_person".into(),
            automatic: true,
        };
        note_approval(&mut record, &approver, approved_at);
        store.insert_application(&record).await.unwrap();
    }

    #[tokio::test]
    async fn an_interrupted_issuance_is_resumed_with_its_recorded_approver() {
        let store = SqliteStore::in_memory().await.unwrap();
        approved(&store, "a1", at(1_800_000_000)).await;

        // Too fresh: it may still be in flight.
        let issuer = scripted(vec![]);
        let done = resume_approved(&store, &issuer, at(1_800_000_030))
            .await
            .unwrap();
        assert!(done.issued.is_empty() && done.left.is_empty());
        assert!(issuer.orders.lock().unwrap().is_empty());

        // The CA fails: the record stays approved and the pass stops.
        let issuer = scripted(vec![Err(IssuanceError::Unavailable("hsm".into()))]);
        let done = resume_approved(&store, &issuer, at(1_800_000_100))
            .await
            .unwrap();
        assert_eq!(done.left.len(), 1);
        assert!(done.ca_failed);
        let record = store.application("a1").await.unwrap().unwrap();
        assert_eq!(record.status, ApplicationStatus::Approved);

        // The CA works again: issued, with the approver recorded at approval time.
        let issuer = scripted(vec![issued("7f01")]);
        let done = resume_approved(&store, &issuer, at(1_800_000_200))
            .await
            .unwrap();
        assert_eq!(done.issued.len(), 1);
        let order = issuer.orders.lock().unwrap().remove(0);
        assert_eq!(order.approver.name, "責任者 花子");
        assert!(order.approver.automatic);
        assert_eq!(order.application_id, "a1");
        let record = store.application("a1").await.unwrap().unwrap();
        assert_eq!(record.status, ApplicationStatus::Issued);
        assert_eq!(record.serial.unwrap().to_hex(), "7f01");
        let kinds: Vec<String> = store
            .ledger_rows()
            .await
            .unwrap()
            .iter()
            .map(|r| {
                shuin_ledger::Entry::from_canonical(&r.canonical)
                    .unwrap()
                    .kind
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                "application.issuance_resumed",
                "application.issuance_resumed"
            ]
        );

        // Nothing left to do.
        let issuer = scripted(vec![]);
        let done = resume_approved(&store, &issuer, at(1_800_000_300))
            .await
            .unwrap();
        assert!(done.issued.is_empty() && done.left.is_empty());
    }

    #[tokio::test]
    async fn a_key_certified_meanwhile_is_rejected_and_a_record_without_approver_is_left() {
        let store = SqliteStore::in_memory().await.unwrap();
        approved(&store, "a2", at(1_800_000_000)).await;
        let mut bare = store.application("a2").await.unwrap().unwrap();
        bare.id = "a3".into();
        bare.details = serde_json::json!({"spki_der": "MAA="});
        store.insert_application(&bare).await.unwrap();

        let issuer = scripted(vec![Err(IssuanceError::KeyReused)]);
        let done = resume_approved(&store, &issuer, at(1_800_000_100))
            .await
            .unwrap();
        assert_eq!(done.rejected, vec!["a2".to_owned()]);
        assert_eq!(done.left.len(), 1);
        assert_eq!(done.left[0].0, "a3");
        let record = store.application("a2").await.unwrap().unwrap();
        assert_eq!(record.status, ApplicationStatus::Rejected);
        assert_eq!(record.rejection_reason.as_deref(), Some("key_reused"));
    }
}
