//! The LRA review queue (DESIGN.md section 6, theme ❺): applications the machine could
//! not decide (substitute characters, an unknown era, automation suspended) wait as
//! `pending_review` until an LRA approves or rejects them.
//!
//! Approval follows the issuance cycle of `docs/issuance-cycle.md`: the decision is
//! ledgered as `application.approved` with the LRA as approver before the CA is asked.

use crate::operators::OperatorError;
use crate::RULE_VERSION;
use base64::Engine;
use shuin_core::issuance::{Approver, IssuanceError, IssuanceOrder, Issuer};
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{ApplicationRecord, ApplicationStatus, ApplicationStore, LedgerStore};
use std::time::SystemTime;

/// What the review queue needs from storage.
pub trait ReviewStore: ApplicationStore + LedgerStore {}
impl<T: ApplicationStore + LedgerStore + ?Sized> ReviewStore for T {}

/// The applications waiting for an LRA, oldest first.
pub async fn pending<S: ReviewStore + ?Sized>(
    store: &S,
) -> Result<Vec<ApplicationRecord>, OperatorError> {
    Ok(store
        .applications_with_status(ApplicationStatus::PendingReview)
        .await?)
}

/// One application by id.
pub async fn application<S: ReviewStore + ?Sized>(
    store: &S,
    id: &str,
) -> Result<ApplicationRecord, OperatorError> {
    store
        .application(id)
        .await?
        .ok_or_else(|| OperatorError::NotFound(format!("no application with id {id:?}")))
}

/// `text` with each character flagged `1` in `map` put in brackets, e.g. `山田[𠮷]太郎`.
pub fn mark_substitutes(text: &str, map: Option<&str>) -> String {
    let Some(map) = map else {
        return text.to_owned();
    };
    text.chars()
        .zip(map.chars().chain(std::iter::repeat('0')))
        .map(|(c, flag)| {
            if flag == '1' {
                format!("[{c}]")
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn positions(map: Option<&str>) -> Vec<usize> {
    map.map(|m| {
        m.chars()
            .enumerate()
            .filter(|(_, f)| *f == '1')
            .map(|(i, _)| i)
            .collect()
    })
    .unwrap_or_default()
}

/// The evidence an LRA reviews: the JPKI certificate, the 4 basic items with substitute
/// characters marked, what the applicant entered, and why it waits.
pub fn evidence(record: &ApplicationRecord) -> serde_json::Value {
    let details = &record.details;
    let basic = &details["basic"];
    let name_map = basic["name_substitutes"].as_str();
    let address_map = basic["address_substitutes"].as_str();
    let name = basic["name"].as_str().unwrap_or_default();
    let address = basic["address"].as_str().unwrap_or_default();
    serde_json::json!({
        "id": record.id,
        "status": record.status.as_str(),
        "received_at": shuin_core::timefmt::rfc3339(record.received_at),
        "review_reasons": record.review_reasons,
        "evidence_sha256": record.evidence_sha256,
        "kind": details["kind"],
        "jpki_certificate": details["jpki"],
        "basic_items": {
            "name": name,
            "name_marked": mark_substitutes(name, name_map),
            "name_substitutes": name_map,
            "name_substitute_positions": positions(name_map),
            "birth_date": basic["birth_date"],
            "birth_era": basic["era"],
            "address": address,
            "address_marked": mark_substitutes(address, address_map),
            "address_substitutes": address_map,
            "address_substitute_positions": positions(address_map),
            "gender": basic["gender"],
        },
        "entered": details["entries"],
        "key_fingerprint": details["key_fingerprint"],
        "serial": record.serial.as_ref().map(|s| s.to_hex()),
        "rejection_reason": record.rejection_reason,
    })
}

pub(crate) fn order_from(
    record: &ApplicationRecord,
    approver: Approver,
) -> Result<IssuanceOrder, OperatorError> {
    let details = &record.details;
    let missing = |what: &str| {
        OperatorError::InvalidState(format!(
            "application {} does not record {what}; it cannot be issued from the queue",
            record.id
        ))
    };
    let spki_der = details["spki_der"]
        .as_str()
        .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
        .ok_or_else(|| missing("spki_der"))?;
    let subject_name = details["subject_name"]
        .as_str()
        .ok_or_else(|| missing("subject_name"))?
        .to_owned();
    let not_after_cap = details["not_after_cap"]
        .as_str()
        .and_then(shuin_core::timefmt::parse_rfc3339)
        .ok_or_else(|| missing("not_after_cap"))?;
    Ok(IssuanceOrder {
        application_id: record.id.clone(),
        subject_name,
        spki_der,
        not_after_cap,
        approver,
    })
}

fn subjects(record: &ApplicationRecord) -> Vec<String> {
    let mut out = vec![format!("application:{}", record.id)];
    if let Some(fp) = record.details["jpki"]["fingerprint_sha256"].as_str() {
        out.push(format!("jpki:{fp}"));
    }
    out
}

async fn pending_one<S: ReviewStore + ?Sized>(
    store: &S,
    id: &str,
) -> Result<ApplicationRecord, OperatorError> {
    let record = application(store, id).await?;
    if record.status != ApplicationStatus::PendingReview {
        return Err(OperatorError::InvalidState(format!(
            "application {id} is {}, not pending_review",
            record.status.as_str()
        )));
    }
    Ok(record)
}

/// Approves a pending application as the LRA `lra` (an actor from
/// an admitted signed request) and has the CA issue it. Ledgers
/// `application.approved` first; the record ends `issued` (or `rejected` with
/// `key_reused` if the key was certified meanwhile). `note` is the LRA's optional remark.
///
/// For a reissue (`details.replaces`), the caller then supersedes the old certificate
/// with [`crate::supersede`] (new certificate first, as on the automatic path).
pub async fn approve<S: ReviewStore + ?Sized>(
    store: &S,
    issuer: &dyn Issuer,
    id: &str,
    lra: &Actor,
    note: Option<&str>,
    now: SystemTime,
) -> Result<ApplicationRecord, OperatorError> {
    let mut record = pending_one(store, id).await?;
    let order = order_from(
        &record,
        Approver {
            name: lra.name.clone(),
            role: "lra".into(),
            automatic: false,
        },
    )?;
    store
        .append(
            EntryDraft {
                book: Book::Application,
                kind: "application.approved".into(),
                actor: lra.clone(),
                subjects: subjects(&record),
                payload: serde_json::json!({
                    "decision": "approved",
                    "automatic": false,
                    "approver": lra.name,
                    "approver_role": "lra",
                    "rule_version": RULE_VERSION,
                    "review_reasons": record.review_reasons,
                    "personal_data": crate::personal_data::payload_reference(&record.details),
                    "key_fingerprint": record.details["key_fingerprint"],
                    "note": note,
                }),
                evidence: vec![format!("sha256:{}", record.evidence_sha256)],
            },
            now,
        )
        .await?;
    record.status = ApplicationStatus::Approved;
    crate::resume::note_approval(&mut record, &order.approver, now);
    store.update_application(&record).await?;
    match issuer.issue(order).await {
        Ok(issued) => {
            record.status = ApplicationStatus::Issued;
            record.serial = Some(issued.serial);
            store.update_application(&record).await?;
            Ok(record)
        }
        Err(IssuanceError::KeyReused) => {
            record.status = ApplicationStatus::Rejected;
            record.rejection_reason = Some(shuin_core::ReasonCode::KeyReused.as_str().into());
            store.update_application(&record).await?;
            Err(OperatorError::Issuance(IssuanceError::KeyReused))
        }
        Err(other) => Err(OperatorError::Issuance(other)),
    }
}

/// Rejects a pending application with the LRA's `reason`: ledgers
/// `application.rejected_by_lra`, then marks it `rejected`.
pub async fn reject<S: ReviewStore + ?Sized>(
    store: &S,
    id: &str,
    lra: &Actor,
    reason: &str,
    now: SystemTime,
) -> Result<ApplicationRecord, OperatorError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(OperatorError::InvalidInput(
            "a rejection needs a reason (--reason), at most 1000 characters".into(),
        ));
    }
    let mut record = pending_one(store, id).await?;
    store
        .append(
            EntryDraft {
                book: Book::Application,
                kind: "application.rejected_by_lra".into(),
                actor: lra.clone(),
                subjects: subjects(&record),
                payload: serde_json::json!({
                    "decision": "rejected",
                    "automatic": false,
                    "reason": reason,
                    "review_reasons": record.review_reasons,
                }),
                evidence: vec![format!("sha256:{}", record.evidence_sha256)],
            },
            now,
        )
        .await?;
    record.status = ApplicationStatus::Rejected;
    record.rejection_reason = Some(reason.to_owned());
    store.update_application(&record).await?;
    Ok(record)
}

/// The review queue (a JSON array of [`pending`] rows) for a person: one application a
/// line, or a sentence when none waits.
pub fn queue_text(list: &serde_json::Value) -> String {
    let rows = list.as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        return "no application waits for review".into();
    }
    rows.iter()
        .map(|r| {
            let reasons: Vec<&str> = r["review_reasons"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            format!(
                "{}  {}  {}  {}",
                r["id"].as_str().unwrap_or(""),
                r["received_at"].as_str().unwrap_or(""),
                r["subject_name"].as_str().unwrap_or(""),
                reasons.join(",")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The [`evidence`] of one application for an LRA: the JPKI certificate, the basic items
/// (substitute characters bracketed) beside what the applicant entered.
pub fn evidence_text(view: &serde_json::Value) -> String {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    };
    let basic = &view["basic_items"];
    let entered = &view["entered"];
    let jpki = &view["jpki_certificate"];
    let mut lines = vec![
        format!(
            "application  {}  ({})",
            text(&view["id"]),
            text(&view["status"])
        ),
        format!("received     {}", text(&view["received_at"])),
        format!("review       {}", text(&view["review_reasons"])),
        "JPKI certificate".to_owned(),
    ];
    for key in [
        "serial",
        "issuer",
        "fingerprint_sha256",
        "not_after",
        "test_card",
    ] {
        lines.push(format!("  {key:<20} {}", text(&jpki[key])));
    }
    lines.push(
        "basic items (substitute characters [bracketed])   | entered by the applicant".to_owned(),
    );
    for (label, card, typed) in [
        ("name", &basic["name_marked"], &entered["name"]),
        ("birth date", &basic["birth_date"], &entered["birth_date"]),
        ("address", &basic["address_marked"], &entered["address"]),
        ("gender", &basic["gender"], &entered["gender"]),
    ] {
        lines.push(format!(
            "  {label:<11} {:<36} | {}",
            text(card),
            text(typed)
        ));
    }
    lines.push(format!("  birth era   {}", text(&basic["birth_era"])));
    lines.push(format!(
        "evidence     sha256:{}",
        text(&view["evidence_sha256"])
    ));
    lines.join("\n")
}

/// The entry that records who read an application's evidence in the web console.
pub const EVIDENCE_VIEWED: &str = "application.evidence_viewed";

impl crate::RaService {
    /// The applications waiting for an LRA, oldest first (the web console's queue).
    pub async fn review_queue(&self) -> Result<Vec<ApplicationRecord>, OperatorError> {
        pending(self.store.as_ref()).await
    }

    /// One application's evidence for `viewer` in the console session opened at
    /// `session`: personal data, so the reading is ledgered before it is shown, as a
    /// CLI `review_show` request is. `None` when no application has that id.
    pub async fn review_evidence(
        &self,
        id: &str,
        viewer: Actor,
        session: u64,
    ) -> Result<Option<serde_json::Value>, OperatorError> {
        let Some(record) = self.store.application(id).await? else {
            return Ok(None);
        };
        let draft = EntryDraft {
            book: Book::Application,
            kind: EVIDENCE_VIEWED.into(),
            subjects: vec![format!("application:{}", record.id)],
            payload: serde_json::json!({
                "application": record.id,
                "operator": viewer.name,
                "session": session,
            }),
            actor: viewer,
            evidence: vec![],
        };
        self.store.append(draft, self.clock.now()).await?;
        Ok(Some(evidence(&record)))
    }
}

/// How many notices the queue depth counts at most (`RaService::queue_depths`).
pub const NOTICES_COUNTED: u32 = 1_000;

/// What waits: applications for an LRA, notices for their sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDepths {
    /// Applications waiting for an LRA's review.
    pub review: usize,
    /// Notices not sent yet, counted up to [`NOTICES_COUNTED`] (`None` without the
    /// life-cycle parts).
    pub notices: Option<usize>,
}

impl crate::RaService {
    /// The queues' depths now (`/metrics`).
    pub async fn queue_depths(&self) -> Result<QueueDepths, OperatorError> {
        let review = pending(self.store.as_ref()).await?.len();
        let notices = match &self.lifecycle {
            Some(lifecycle) => Some(
                lifecycle
                    .store
                    .pending_notices(NOTICES_COUNTED)
                    .await?
                    .len(),
            ),
            None => None,
        };
        Ok(QueueDepths { review, notices })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_are_marked() {
        assert_eq!(
            mark_substitutes("山田　次郎", Some("00100")),
            "山田[　]次郎"
        );
        assert_eq!(mark_substitutes("山田", None), "山田");
        assert_eq!(positions(Some("01001")), vec![1, 4]);
    }

    #[test]
    fn the_queue_and_the_evidence_read_for_an_lra() {
        assert_eq!(
            queue_text(&serde_json::json!([])),
            "no application waits for review"
        );
        let list = serde_json::json!([{"id": "a1", "received_at": "t", "subject_name": "n",
            "review_reasons": ["x", "y"]}]);
        assert_eq!(queue_text(&list), "a1  t  n  x,y");
        let view = serde_json::json!({"id": "a1", "status": "pending_review",
            "basic_items": {"name_marked": "山田　[太]郎"}, "entered": {"name": null}});
        let text = evidence_text(&view);
        assert!(text.starts_with("application  a1  (pending_review)\nreceived     -\n"));
        assert!(text.contains(&format!("  {:<11} {:<36} | -", "name", "山田　[太]郎")));
        assert!(text.ends_with("evidence     sha256:-"));
        assert_eq!(text.lines().count(), 16);
    }
}
