#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use shuin_core::issuance::{IssuanceOrder, IssuedCertificate};
use shuin_core::Serial;
use shuin_store::sqlite::SqliteStore;
use shuin_store::{ApplicationStore, CertificateRecord, CertificateWriter, LedgerStore};
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

fn record(id: &str, status: ApplicationStatus, received_at: SystemTime) -> ApplicationRecord {
    ApplicationRecord {
        id: id.into(),
        status,
        received_at,
        review_reasons: vec![],
        serial: None,
        rejection_reason: None,
        evidence_sha256: "00".repeat(32),
        details: serde_json::json!({
            "spki_der": "MAA=",
            "subject_name": "山田　太郎",
            "key_fingerprint": format!("key-{id}"),
            "not_after_cap": "2030-01-01T00:00:00Z",
        }),
    }
}

/// An approved record, as `decide` stores it before its entry.
async fn approved(store: &SqliteStore, id: &str, approved_at: SystemTime) {
    let mut record = record(id, ApplicationStatus::Approved, approved_at);
    let approver = Approver {
        name: "責任者 花子".into(),
        role: "responsible_person".into(),
        automatic: true,
    };
    note_approval(&mut record, &approver, approved_at);
    store.insert_application(&record).await.unwrap();
}

async fn ledger(store: &SqliteStore, kind: &str, id: &str, actor: &str, time: SystemTime) {
    let draft = EntryDraft {
        book: Book::Application,
        kind: kind.into(),
        actor: Actor {
            name: actor.into(),
            role: if kind == "application.approved" {
                "lra"
            } else {
                "responsible_person"
            }
            .into(),
            zone: "secure".into(),
        },
        subjects: vec![format!("application:{id}")],
        payload: serde_json::json!({}),
        evidence: vec![],
    };
    store.append(draft, time).await.unwrap();
}

async fn kinds(store: &SqliteStore) -> Vec<String> {
    store
        .ledger_rows()
        .await
        .unwrap()
        .iter()
        .map(|r| Entry::from_canonical(&r.canonical).unwrap().kind)
        .collect()
}

/// A certificate the CA stored for `id` (`issued`) or is still making (`reserved`).
async fn certificate(store: &SqliteStore, serial: &str, id: &str, issued: bool) {
    let serial = Serial::from_hex(serial).unwrap();
    store
        .reserve(&CertificateRecord {
            serial: serial.clone(),
            application_id: id.into(),
            key_fingerprint: format!("key-{id}"),
            tbs_sha256: "00".repeat(32),
            state: CertificateState::Reserved,
            not_before: at(1_800_000_000),
            not_after: at(1_900_000_000),
            der: None,
        })
        .await
        .unwrap();
    if issued {
        store
            .complete(&serial, b"der", at(1_800_000_001))
            .await
            .unwrap();
    }
}

/// Case (a): the process stopped between the record of an automatic decision and
/// its `application.accepted` entry. The entry is written, then the certificate.
#[tokio::test]
async fn a_decision_interrupted_before_its_entry_is_recorded_and_issued() {
    let store = SqliteStore::in_memory().await.unwrap();
    let mut books = ApplicationBooks::default();
    approved(&store, "a1", at(1_800_000_000)).await;

    // Too fresh: it may still be in flight.
    let issuer = scripted(vec![]);
    let done = resume_approved(&store, &issuer, &mut books, at(1_800_000_030))
        .await
        .unwrap();
    assert!(done.issued.is_empty() && done.left.is_empty() && done.recorded.is_empty());
    assert!(issuer.orders.lock().unwrap().is_empty());

    // The CA fails: the decision is recorded, the record stays approved, the pass stops.
    let issuer = scripted(vec![Err(IssuanceError::Unavailable("hsm".into()))]);
    let done = resume_approved(&store, &issuer, &mut books, at(1_800_000_100))
        .await
        .unwrap();
    assert_eq!(done.recorded, vec!["a1".to_owned()]);
    assert_eq!(done.left.len(), 1);
    assert!(done.ca_failed);
    let record = store.application("a1").await.unwrap().unwrap();
    assert_eq!(record.status, ApplicationStatus::Approved);
    assert!(books.decided.contains_key("a1"), "still open: remembered");

    // The CA works again: issued, with the approver recorded at approval time; the
    // decision entry is not written twice.
    let issuer = scripted(vec![issued("7f01")]);
    let done = resume_approved(&store, &issuer, &mut books, at(1_800_000_200))
        .await
        .unwrap();
    assert_eq!(done.issued.len(), 1);
    assert!(done.recorded.is_empty());
    let order = issuer.orders.lock().unwrap().remove(0);
    assert_eq!(order.approver.name, "責任者 花子");
    assert!(order.approver.automatic);
    assert_eq!(order.application_id, "a1");
    let record = store.application("a1").await.unwrap().unwrap();
    assert_eq!(record.status, ApplicationStatus::Issued);
    assert_eq!(record.serial.unwrap().to_hex(), "7f01");
    // Closed for good: what the books said of it is not held any longer.
    let issuer = scripted(vec![]);
    resume_approved(&store, &issuer, &mut books, at(1_800_000_250))
        .await
        .unwrap();
    assert!(books.decided.is_empty() && books.approvals.is_empty());
    assert_eq!(
        kinds(&store).await,
        vec![
            "application.accepted",
            "application.issuance_resumed",
            "application.issuance_resumed"
        ]
    );
    let rows = store.ledger_rows().await.unwrap();
    let accepted = Entry::from_canonical(&rows[0].canonical).unwrap();
    assert_eq!(accepted.actor.name, "責任者 花子");
    assert_eq!(accepted.payload["recorded_late"], true);
    assert_eq!(accepted.payload["decided_at"], "2027-01-15T08:00:00Z");

    // Nothing left to do, whichever process looks next (books read afresh).
    let issuer = scripted(vec![]);
    let mut fresh = ApplicationBooks::default();
    let done = resume_approved(&store, &issuer, &mut fresh, at(1_800_000_300))
        .await
        .unwrap();
    assert!(done.issued.is_empty() && done.left.is_empty() && done.recorded.is_empty());
}

/// Case (b): the CA issued (`certificate.issued`), then the process stopped before
/// the record was updated. Resume used to ask again, get `key_reused` and reject the
/// application while its certificate stayed valid.
#[tokio::test]
async fn a_certificate_issued_before_the_record_was_updated_is_found_not_reissued() {
    let store = SqliteStore::in_memory().await.unwrap();
    let mut books = ApplicationBooks::default();
    approved(&store, "b1", at(1_800_000_000)).await;
    ledger(
        &store,
        "application.accepted",
        "b1",
        "責任者 花子",
        at(1_800_000_000),
    )
    .await;
    certificate(&store, "7f0b", "b1", true).await;

    // Were the CA asked, it would answer key_reused.
    let issuer = scripted(vec![Err(IssuanceError::KeyReused)]);
    let done = resume_approved(&store, &issuer, &mut books, at(1_800_000_100))
        .await
        .unwrap();
    assert!(
        issuer.orders.lock().unwrap().is_empty(),
        "the CA is not asked again"
    );
    assert!(done.rejected.is_empty());
    assert_eq!(done.issued.len(), 1);
    let record = store.application("b1").await.unwrap().unwrap();
    assert_eq!(record.status, ApplicationStatus::Issued);
    assert_eq!(record.serial.unwrap().to_hex(), "7f0b");
    assert_eq!(kinds(&store).await, vec!["application.accepted"]);
}

/// Case (b), raced: the CA answers key_reused because another process issued this
/// very application meanwhile. The record is marked issued, not rejected.
#[tokio::test]
async fn key_reused_by_the_application_itself_marks_it_issued() {
    struct IssuedElsewhere<'a>(&'a SqliteStore);
    #[async_trait::async_trait]
    impl Issuer for IssuedElsewhere<'_> {
        async fn issue(&self, order: IssuanceOrder) -> Result<IssuedCertificate, IssuanceError> {
            certificate(self.0, "7f0c", &order.application_id, true).await;
            Err(IssuanceError::KeyReused)
        }
    }
    let store = SqliteStore::in_memory().await.unwrap();
    let mut books = ApplicationBooks::default();
    approved(&store, "b2", at(1_800_000_000)).await;
    ledger(
        &store,
        "application.accepted",
        "b2",
        "責任者 花子",
        at(1_800_000_000),
    )
    .await;
    let done = resume_approved(
        &store,
        &IssuedElsewhere(&store),
        &mut books,
        at(1_800_000_100),
    )
    .await
    .unwrap();
    assert!(done.rejected.is_empty());
    let record = store.application("b2").await.unwrap().unwrap();
    assert_eq!(record.status, ApplicationStatus::Issued);
    assert_eq!(record.serial.unwrap().to_hex(), "7f0c");
}

#[tokio::test]
async fn a_reservation_still_open_is_waited_for() {
    let store = SqliteStore::in_memory().await.unwrap();
    let mut books = ApplicationBooks::default();
    approved(&store, "b3", at(1_800_000_000)).await;
    ledger(
        &store,
        "application.accepted",
        "b3",
        "責任者 花子",
        at(1_800_000_000),
    )
    .await;
    certificate(&store, "7f0d", "b3", false).await;
    let issuer = scripted(vec![]);
    let done = resume_approved(&store, &issuer, &mut books, at(1_800_000_100))
        .await
        .unwrap();
    assert!(issuer.orders.lock().unwrap().is_empty());
    assert_eq!(done.left.len(), 1);
    let record = store.application("b3").await.unwrap().unwrap();
    assert_eq!(record.status, ApplicationStatus::Approved);
}

/// Pending reviews, the same order: the record, then `application.pending_review`;
/// an LRA's `application.approved`, then the record. Either half is completed.
#[tokio::test]
async fn pending_reviews_are_completed_from_either_half() {
    let store = SqliteStore::in_memory().await.unwrap();
    let mut books = ApplicationBooks::default();
    // Stopped before `application.pending_review`.
    store
        .insert_application(&record(
            "p1",
            ApplicationStatus::PendingReview,
            at(1_800_000_000),
        ))
        .await
        .unwrap();
    // Approved by an LRA in the books; stopped before the record followed.
    store
        .insert_application(&record(
            "p2",
            ApplicationStatus::PendingReview,
            at(1_800_000_000),
        ))
        .await
        .unwrap();
    ledger(
        &store,
        "application.pending_review",
        "p2",
        "shuin-ra",
        at(1_800_000_000),
    )
    .await;
    ledger(
        &store,
        "application.approved",
        "p2",
        "窓口 一郎",
        at(1_800_000_050),
    )
    .await;

    let issuer = scripted(vec![issued("7f02")]);
    let done = resume_approved(&store, &issuer, &mut books, at(1_800_000_200))
        .await
        .unwrap();
    assert_eq!(done.recorded, vec!["p1".to_owned()]);
    let p1 = store.application("p1").await.unwrap().unwrap();
    assert_eq!(p1.status, ApplicationStatus::PendingReview);
    let order = issuer.orders.lock().unwrap().remove(0);
    assert_eq!(order.application_id, "p2");
    assert_eq!(order.approver.name, "窓口 一郎");
    assert_eq!(order.approver.role, "lra");
    assert!(!order.approver.automatic);
    let p2 = store.application("p2").await.unwrap().unwrap();
    assert_eq!(p2.status, ApplicationStatus::Issued);
    assert_eq!(p2.details["approved_at"], "2027-01-15T08:00:50Z");
    assert_eq!(
        kinds(&store).await,
        vec![
            "application.pending_review",
            "application.approved",
            "application.pending_review",
            "application.issuance_resumed"
        ]
    );
    // Idempotent.
    let issuer = scripted(vec![]);
    let done = resume_approved(&store, &issuer, &mut books, at(1_800_000_300))
        .await
        .unwrap();
    assert!(done.recorded.is_empty() && done.issued.is_empty());
}

#[tokio::test]
async fn a_key_certified_meanwhile_is_rejected_and_a_record_without_approver_is_left() {
    let store = SqliteStore::in_memory().await.unwrap();
    let mut books = ApplicationBooks::default();
    approved(&store, "a2", at(1_800_000_000)).await;
    ledger(
        &store,
        "application.accepted",
        "a2",
        "責任者 花子",
        at(1_800_000_000),
    )
    .await;
    let mut bare = store.application("a2").await.unwrap().unwrap();
    bare.id = "a3".into();
    bare.details = serde_json::json!({"spki_der": "MAA="});
    store.insert_application(&bare).await.unwrap();

    let issuer = scripted(vec![Err(IssuanceError::KeyReused)]);
    let done = resume_approved(&store, &issuer, &mut books, at(1_800_000_100))
        .await
        .unwrap();
    assert_eq!(done.rejected, vec!["a2".to_owned()]);
    assert_eq!(done.left.len(), 1);
    assert_eq!(done.left[0].0, "a3");
    let record = store.application("a2").await.unwrap().unwrap();
    assert_eq!(record.status, ApplicationStatus::Rejected);
    assert_eq!(record.rejection_reason.as_deref(), Some("key_reused"));
}
