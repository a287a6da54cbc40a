//! Interrupted application cycles, completed from the books. A decision is written in
//! two steps, the application record and then its ledger entry (`application.accepted`,
//! `application.pending_review`); an LRA's approval in two more, the entry
//! (`application.approved`) and then the record; issuance follows. A process can stop
//! between any two of them (`kill -9`, a failing HSM or database), so the upkeep loop
//! reads the application book incrementally and, for each application:
//!
//! - a record whose decision entry is missing gets it, marked `recorded_late`;
//! - a record still `pending_review` whose approval is in the books becomes `approved`,
//!   with the approver and time the books recorded;
//! - an `approved` record at least [`RESUME_AFTER`] old is issued, with the approver
//!   recorded at approval time (`details.approver`, `details.approved_at`), unless the
//!   CA already made its certificate (then the record is marked `issued` with it) or a
//!   reservation for it is still in flight (then it waits: the CA's reconciliation
//!   resolves stale ones).
//!
//! Every step is idempotent. A second certificate for the same key is impossible (the
//! CA reserves each key once), and `key_reused` is answered with a rejection only when
//! no certificate of this application exists.

use crate::review::{order_from, ReviewStore};
use crate::RULE_VERSION;
use shuin_core::issuance::{Approver, IssuanceError, Issuer};
use shuin_core::timefmt::{parse_rfc3339, rfc3339};
use shuin_ledger::{Actor, Book, Entry, EntryDraft};
use shuin_store::{
    ApplicationRecord, ApplicationStatus, CertificateReader, CertificateState, StoreError,
};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

/// How long an approval must be old before it is retried: issuance right after approval
/// takes well under a second, so anything older is no longer in flight.
pub const RESUME_AFTER: Duration = Duration::from_secs(60);

/// What resumption needs from storage.
pub trait ResumeStore: ReviewStore + CertificateReader + shuin_store::SettingsStore {}
impl<T: ReviewStore + CertificateReader + shuin_store::SettingsStore + ?Sized> ResumeStore for T {}

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
        details.insert("approved_at".into(), serde_json::Value::String(rfc3339(at)));
    }
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct Resumed {
    /// Applications now issued (the caller supersedes a replaced certificate).
    pub issued: Vec<ApplicationRecord>,
    /// Applications rejected because their key was certified meanwhile (`key_reused`).
    pub rejected: Vec<String>,
    /// Decision entries written late for records that lacked them.
    pub recorded: Vec<String>,
    /// Applications left as they are, with why.
    pub left: Vec<(String, String)>,
    /// Whether the pass stopped because the CA refused or failed (retry later, backing
    /// off: each retry is ledgered).
    pub ca_failed: bool,
}

/// Which decision the application book holds for an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decided {
    /// `application.pending_review`: waiting for an LRA.
    PendingReview,
    /// `application.accepted` (automatic) or `application.approved` (an LRA).
    Approved,
}

/// An LRA's approval as the books hold it.
#[derive(Debug, Clone)]
struct Approval {
    actor: Actor,
    at: SystemTime,
}

/// Ledger rows read per query: resuming never holds more of the books than this.
const BOOK_PAGE: u64 = 1_000;

/// The application book as far as it has been read: the decision of each application,
/// and the LRA approvals. Read from the start once per process, then only what was
/// appended since; what it holds of applications no longer open is forgotten after each
/// whole pass.
#[derive(Debug, Default)]
pub struct ApplicationBooks {
    next: u64,
    decided: HashMap<String, Decided>,
    approvals: HashMap<String, Approval>,
}

impl ApplicationBooks {
    /// Reads the entries appended since the last call, [`BOOK_PAGE`] rows per query.
    async fn catch_up<S: ResumeStore + ?Sized>(&mut self, store: &S) -> Result<(), StoreError> {
        shuin_store::book_reading::catch_up(store, self, BOOK_PAGE).await
    }

    /// Forgets the decisions and approvals of applications not in `open`, so that what
    /// is held follows the open applications, not every application ever made.
    fn forget_closed(&mut self, open: &HashSet<String>) {
        self.decided.retain(|id, _| open.contains(id));
        self.approvals.retain(|id, _| open.contains(id));
    }
}

impl shuin_store::book_reading::BookReader for ApplicationBooks {
    fn next_seq(&self) -> u64 {
        self.next
    }

    fn read(&mut self, rows: &[shuin_ledger::StoredEntry]) {
        for row in rows {
            self.next = self.next.max(row.seq.saturating_add(1));
            let Ok(entry) = Entry::from_canonical(&row.canonical) else {
                continue;
            };
            let decided = match entry.kind.as_str() {
                "application.accepted" | "application.approved" => Decided::Approved,
                "application.pending_review" => Decided::PendingReview,
                _ => continue,
            };
            let Some(id) = entry
                .subjects
                .iter()
                .find_map(|s| s.strip_prefix("application:"))
            else {
                continue;
            };
            if entry.kind == "application.approved" {
                if let Some(at) = parse_rfc3339(&entry.time) {
                    let actor = entry.actor.clone();
                    self.approvals.insert(id.to_owned(), Approval { actor, at });
                }
            }
            let slot = self.decided.entry(id.to_owned()).or_insert(decided);
            if decided == Decided::Approved {
                *slot = Decided::Approved;
            }
        }
    }
}

fn approval_of(record: &ApplicationRecord) -> Option<(Approver, SystemTime)> {
    let approver = &record.details["approver"];
    let at = record.details["approved_at"]
        .as_str()
        .and_then(parse_rfc3339)?;
    Some((
        Approver {
            name: approver["name"].as_str()?.to_owned(),
            role: approver["role"].as_str()?.to_owned(),
            automatic: approver["automatic"].as_bool()?,
        },
        at,
    ))
}

fn subjects(record: &ApplicationRecord) -> Vec<String> {
    let mut out = vec![format!("application:{}", record.id)];
    if let Some(fp) = record.details["jpki"]["fingerprint_sha256"].as_str() {
        out.push(format!("jpki:{fp}"));
    }
    out
}

/// Writes the decision entry a record lacks (its process stopped between the two).
async fn record_late<S: ResumeStore + ?Sized>(
    store: &S,
    record: &ApplicationRecord,
    now: SystemTime,
) -> Result<(), StoreError> {
    let (kind, actor, payload) = match record.status {
        ApplicationStatus::PendingReview => (
            "application.pending_review",
            crate::application::system_actor(),
            serde_json::json!({
                "review_reasons": record.review_reasons,
                "rule_version": RULE_VERSION,
                "received_at": rfc3339(record.received_at),
                "recorded_late": true,
            }),
        ),
        _ => {
            let approver = &record.details["approver"];
            let name = approver["name"].as_str().unwrap_or_default();
            let role = approver["role"].as_str().unwrap_or("responsible_person");
            (
                "application.accepted",
                Actor {
                    name: name.to_owned(),
                    role: role.to_owned(),
                    zone: "secure".into(),
                },
                serde_json::json!({
                    "decision": "approved",
                    "automatic": approver["automatic"],
                    "rule_version": RULE_VERSION,
                    "approver": name,
                    "decided_at": record.details["approved_at"],
                    "personal_data": crate::personal_data::payload_reference(&record.details),
                    "key_fingerprint": record.details["key_fingerprint"],
                    "recorded_late": true,
                }),
            )
        }
    };
    let draft = EntryDraft {
        book: Book::Application,
        kind: kind.into(),
        actor,
        subjects: subjects(record),
        payload,
        evidence: vec![format!("sha256:{}", record.evidence_sha256)],
    };
    store.append(draft, now).await?;
    Ok(())
}

/// One pass over the application book and the records (see the module documentation).
/// Stops issuing at the first sign that the CA is sealed or unavailable (the next pass
/// retries).
pub async fn resume_approved<S: ResumeStore + ?Sized>(
    store: &S,
    issuer: &dyn Issuer,
    books: &mut ApplicationBooks,
    now: SystemTime,
) -> Result<Resumed, StoreError> {
    let mut done = Resumed::default();
    books.catch_up(store).await?;
    let settled = |at: SystemTime| now.duration_since(at).unwrap_or_default() >= RESUME_AFTER;
    // The applications still open in this pass: after a whole pass, what the books say
    // of the others is never looked up again.
    let mut open = HashSet::new();
    for mut record in store
        .applications_with_status(ApplicationStatus::PendingReview)
        .await?
    {
        open.insert(record.id.clone());
        match books.decided.get(&record.id) {
            Some(Decided::Approved) => {
                let Some(approval) = books.approvals.get(&record.id) else {
                    continue;
                };
                // The LRA's approval is in the books; the record did not follow.
                let approver = Approver {
                    name: approval.actor.name.clone(),
                    role: approval.actor.role.clone(),
                    automatic: false,
                };
                record.status = ApplicationStatus::Approved;
                note_approval(&mut record, &approver, approval.at);
                store.update_application(&record).await?;
            }
            Some(Decided::PendingReview) => {}
            None if settled(record.received_at) => {
                record_late(store, &record, now).await?;
                books
                    .decided
                    .insert(record.id.clone(), Decided::PendingReview);
                done.recorded.push(record.id);
            }
            None => {}
        }
    }
    if issuer.ready().is_err() {
        done.ca_failed = true;
        return Ok(done);
    }
    for record in store
        .applications_with_status(ApplicationStatus::Approved)
        .await?
    {
        open.insert(record.id.clone());
        let Some((approver, approved_at)) = approval_of(&record) else {
            done.left.push((
                record.id.clone(),
                "no approver recorded; approve it again with `shuin review`".into(),
            ));
            continue;
        };
        if !settled(approved_at) {
            continue;
        }
        if books.decided.get(&record.id) != Some(&Decided::Approved) {
            record_late(store, &record, now).await?;
            books.decided.insert(record.id.clone(), Decided::Approved);
            done.recorded.push(record.id.clone());
        }
        if resume_one(store, issuer, record, approver, approved_at, now, &mut done).await? {
            // Not every open application was seen: nothing is forgotten this time.
            return Ok(done);
        }
    }
    // A record is written before its decision entry, and an approval entry while its
    // record is pending: an application in neither list is closed for good.
    books.forget_closed(&open);
    Ok(done)
}

/// Marks `record` issued with the certificate the CA already made for it, if any; true
/// when one exists or is still being made (so nothing must be asked of the CA).
async fn found_certificate<S: ResumeStore + ?Sized>(
    store: &S,
    record: &mut ApplicationRecord,
    done: &mut Resumed,
) -> Result<bool, StoreError> {
    let certificates = store.certificates_of_application(&record.id).await?;
    if let Some(issued) = certificates
        .iter()
        .find(|c| c.state == CertificateState::Issued)
    {
        record.status = ApplicationStatus::Issued;
        record.serial = Some(issued.serial.clone());
        store.update_application(record).await?;
        done.issued.push(record.clone());
        return Ok(true);
    }
    if certificates
        .iter()
        .any(|c| c.state == CertificateState::Reserved)
    {
        done.left.push((
            record.id.clone(),
            "a reservation for it is still open; the CA's reconciliation resolves it".into(),
        ));
        return Ok(true);
    }
    Ok(false)
}

/// Cancels an approved application the business ended before: the books say so (once,
/// keyed by the application) before the record does.
async fn cancel<S: ResumeStore + ?Sized>(
    store: &S,
    mut record: ApplicationRecord,
    now: SystemTime,
    done: &mut Resumed,
) -> Result<(), StoreError> {
    let reason = shuin_core::ReasonCode::BusinessTerminated;
    store
        .append_batch(
            vec![shuin_store::KeyedDraft {
                key: Some(format!("application.cancelled:{}", record.id)),
                draft: EntryDraft {
                    book: Book::Application,
                    kind: "application.cancelled".into(),
                    actor: crate::application::system_actor(),
                    subjects: vec![format!("application:{}", record.id)],
                    payload: serde_json::json!({"reason_code": reason}),
                    evidence: vec![],
                },
            }],
            now,
        )
        .await?;
    record.status = ApplicationStatus::Rejected;
    record.rejection_reason = Some(reason.as_str().into());
    store.update_application(&record).await?;
    done.rejected.push(record.id);
    Ok(())
}

/// Resumes one approved application; true when the CA failed (stop the pass).
async fn resume_one<S: ResumeStore + ?Sized>(
    store: &S,
    issuer: &dyn Issuer,
    mut record: ApplicationRecord,
    approver: Approver,
    approved_at: SystemTime,
    now: SystemTime,
    done: &mut Resumed,
) -> Result<bool, StoreError> {
    // The CA may have issued before the process stopped: never ask again then.
    if found_certificate(store, &mut record, done).await? {
        return Ok(false);
    }
    let order = match order_from(&record, approver) {
        Ok(order) => order,
        Err(e) => {
            done.left.push((record.id.clone(), e.to_string()));
            return Ok(false);
        }
    };
    // The business ended before it was issued (docs/termination.md).
    if store
        .setting(shuin_core::termination::TERMINATION_SETTING)
        .await?
        .is_some()
    {
        cancel(store, record, now, done).await?;
        return Ok(false);
    }
    store
        .append(
            EntryDraft {
                book: Book::Application,
                kind: "application.issuance_resumed".into(),
                actor: crate::application::system_actor(),
                subjects: vec![format!("application:{}", record.id)],
                payload: serde_json::json!({"approved_at": rfc3339(approved_at)}),
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
            // This application's own certificate (another process issued it meanwhile)
            // or another application's: re-read before deciding.
            if found_certificate(store, &mut record, done).await? {
                return Ok(false);
            }
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
        // The termination started while it was being resumed.
        Err(IssuanceError::Terminated) => cancel(store, record, now, done).await?,
        Err(e) => {
            done.left.push((record.id, e.to_string()));
            done.ca_failed = true;
            return Ok(true);
        }
    }
    Ok(false)
}

impl crate::RaService {
    /// One pass of [`resume_approved`] for the upkeep loop: completes interrupted
    /// decisions, issues what is due through the CA, supersedes the certificate a
    /// resumed reissue replaces, and logs what it did. True when the CA failed (the
    /// caller backs off).
    pub async fn resume_and_supersede(&self) -> bool {
        let now = self.clock.now();
        let mut books = self.application_books.lock().await;
        let done = match resume_approved(self.store.as_ref(), self.issuer.as_ref(), &mut books, now)
            .await
        {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(error = %e, "resuming approved applications failed");
                return true;
            }
        };
        for record in &done.issued {
            tracing::info!(application = %record.id, "resumed an interrupted issuance");
            if record.details["replaces"].is_null() {
                continue;
            }
            let superseded = match self.lifecycle() {
                Ok(lifecycle) => {
                    let store = lifecycle.store.as_ref();
                    let revoker = self.revoker.as_ref();
                    crate::supersede_replaced(store, revoker, record, now)
                        .await
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = superseded {
                tracing::error!(application = %record.id, error = %e, "superseding after a resumed reissue failed");
            }
        }
        for id in &done.recorded {
            tracing::warn!(application = %id, "wrote the decision entry an interrupted application lacked");
        }
        for id in &done.rejected {
            tracing::warn!(application = %id, "resumed issuance refused (key_reused or business_terminated)");
        }
        for (id, why) in &done.left {
            tracing::warn!(application = %id, why = %why, "approved application not issued yet");
        }
        done.ca_failed
    }
}

#[cfg(test)]
#[path = "resume_tests.rs"]
mod tests;
