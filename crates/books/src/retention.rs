//! Retention of evidence (docs/ledger.md, "Retention").
//!
//! Ledger entries are never deleted by any interface. What is purged is raw evidence
//! (the signed application CMS stored by SHA-256) whose retention has ended: the related
//! certificate's notAfter (or a rejected application's arrival) plus the configured
//! number of years. Each batch is ledgered as `application.evidence_purged` durably
//! before anything is deleted; if the ledger cannot be written, nothing is deleted.
//! Then the personal data the applications' stored rows keep ([`PERSONAL_MEMBERS`]) is
//! forgotten as well: the books keep only commitments (docs/ledger.md, "Personal data").

use serde::Serialize;
use shuin_core::timefmt::rfc3339;
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{
    ApplicationStore, EvidenceRetention, EvidenceRetentionSummary, LedgerStore, RegistrationStore,
    StoreError,
};
use std::time::SystemTime;

/// The shortest retention accepted: the criteria keep the books for 10 years.
pub const MINIMUM_YEARS: u32 = 10;
/// The longest retention accepted.
pub const MAXIMUM_YEARS: u32 = 100;
/// How many pieces of evidence one ledger entry lists.
const BATCH: u32 = 256;

/// Why retention could not be computed or evidence purged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetentionError {
    /// The configured period is outside [`MINIMUM_YEARS`]..=[`MAXIMUM_YEARS`].
    #[error("retention.evidence_years_after_expiry must be {MINIMUM_YEARS}..=100 (the criteria keep the books for 10 years)")]
    InvalidPeriod {
        /// The configured years.
        years: u32,
    },
    /// A time or a period does not fit the calendar arithmetic.
    #[error("{what}")]
    OutOfRange {
        /// What is out of range.
        what: &'static str,
    },
    /// The calendar refused a date.
    #[error("{what}: {source}")]
    Calendar {
        /// What was being computed.
        what: &'static str,
        /// The calendar's error.
        #[source]
        source: time::error::ComponentRange,
    },
    /// Reading the stored evidence failed.
    #[error("reading the evidence: {0}")]
    Read(#[source] StoreError),
    /// The ledger entry of a batch could not be written; nothing of it was deleted.
    #[error("ledger (nothing was deleted): {0}")]
    Ledger(#[source] StoreError),
    /// Deleting a ledgered batch failed; the entry records the purge, run again.
    #[error("deleting evidence (the ledger entry records the purge; run again): {0}")]
    Delete(#[source] StoreError),
}

fn out_of_range(what: &'static str) -> RetentionError {
    RetentionError::OutOfRange { what }
}

/// How long evidence is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Years that evidence is kept after the related certificate expires (or after a
    /// rejected application arrived). At least [`MINIMUM_YEARS`].
    pub evidence_years_after_expiry: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            evidence_years_after_expiry: MINIMUM_YEARS,
        }
    }
}

impl RetentionPolicy {
    /// Refuses a period shorter than the criteria's or absurdly long.
    pub fn check(&self) -> Result<(), RetentionError> {
        if !(MINIMUM_YEARS..=MAXIMUM_YEARS).contains(&self.evidence_years_after_expiry) {
            return Err(RetentionError::InvalidPeriod {
                years: self.evidence_years_after_expiry,
            });
        }
        Ok(())
    }

    /// `now` minus the retention period in calendar years: evidence anchored at or
    /// before this has been kept long enough. 29 February becomes 28 February (earlier,
    /// so never shorter than the period).
    pub fn cutoff(&self, now: SystemTime) -> Result<SystemTime, RetentionError> {
        let secs = i64::try_from(shuin_core::clock::unix_seconds(now))
            .map_err(|_| out_of_range("the clock is out of range"))?;
        let now = time::OffsetDateTime::from_unix_timestamp(secs).map_err(|source| {
            RetentionError::Calendar {
                what: "the clock is out of range",
                source,
            }
        })?;
        let years = i32::try_from(self.evidence_years_after_expiry)
            .map_err(|_| out_of_range("retention out of range"))?;
        let year = now.year() - years;
        let then = now
            .replace_year(year)
            .or_else(|_| now.replace_day(28).and_then(|d| d.replace_year(year)))
            .map_err(|source| RetentionError::Calendar {
                what: "retention cutoff",
                source,
            })?;
        Ok(SystemTime::from(then))
    }
}

/// What a purge did (or would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PurgeReport {
    /// Whether it only listed.
    pub dry_run: bool,
    /// The cutoff (RFC 3339).
    pub cutoff: String,
    /// The period applied.
    pub evidence_years_after_expiry: u32,
    /// Hashes listed (and, unless a dry run, ledgered and deleted).
    pub purged: Vec<String>,
    /// How many rows were deleted (fewer than listed only if the store changed meanwhile).
    pub deleted: u64,
    /// The ledger entries written.
    pub ledger_seqs: Vec<u64>,
    /// Applications whose stored personal data was forgotten with their evidence.
    #[serde(default)]
    pub applications_forgotten: u64,
}

/// The members of an application's stored details that hold personal data (the basic
/// items, what the applicant entered, the subject name): set to `null` once its
/// evidence is purged. The status, serial and references stay. The identity of the
/// registration it used is forgotten too.
pub const PERSONAL_MEMBERS: [&str; 3] = ["basic", "entries", "subject_name"];

/// The stores whose rows keep copies of personal data.
pub trait PersonalRows: ApplicationStore + RegistrationStore {}
impl<T: ApplicationStore + RegistrationStore + ?Sized> PersonalRows for T {}

/// Forgets the personal data of the applications `ids` in their stored rows and in the
/// registrations they used; returns how many applications changed.
async fn forget_personal_data<S: PersonalRows + ?Sized>(
    store: &S,
    ids: &[String],
) -> Result<u64, RetentionError> {
    let mut forgotten = 0;
    for id in ids {
        store
            .forget_registration_identity(id)
            .await
            .map_err(RetentionError::Delete)?;
        store
            .forget_holder(id)
            .await
            .map_err(RetentionError::Delete)?;
        let Some(mut record) = store.application(id).await.map_err(RetentionError::Read)? else {
            continue;
        };
        let Some(details) = record.details.as_object_mut() else {
            continue;
        };
        let mut changed = false;
        for member in PERSONAL_MEMBERS {
            if details.get(member).is_some_and(|v| !v.is_null()) {
                details.insert(member.into(), serde_json::Value::Null);
                changed = true;
            }
        }
        if changed {
            store
                .update_application(&record)
                .await
                .map_err(RetentionError::Delete)?;
            forgotten += 1;
        }
    }
    Ok(forgotten)
}

impl PurgeReport {
    /// The report for a person: what is past retention (a dry run lists the hashes),
    /// or what was purged and ledgered.
    pub fn text(&self) -> String {
        if self.dry_run {
            let mut lines = vec![format!(
                "{} pieces of evidence are past retention (cutoff {}); nothing was changed",
                self.purged.len(),
                self.cutoff
            )];
            lines.extend(self.purged.iter().map(|hash| format!("  sha256:{hash}")));
            lines.join("\n")
        } else {
            let seqs: Vec<String> = self.ledger_seqs.iter().map(u64::to_string).collect();
            let recorded = match seqs.is_empty() {
                true => "nothing to record".to_owned(),
                false => format!("recorded as ledger entry {}", seqs.join(", ")),
            };
            format!(
                "purged {} pieces of evidence past retention (cutoff {}) and the personal data of {} application(s); {recorded}",
                self.deleted, self.cutoff, self.applications_forgotten
            )
        }
    }
}

/// An [`overview`] for a person, with the configured period of `years`.
pub fn overview_text(view: &serde_json::Value, years: u32) -> String {
    let evidence = &view["evidence"];
    let mut lines = vec![
        format!(
            "evidence is kept {years} years after the related certificate expires (ledger entries are never deleted)"
        ),
        format!("cutoff now: {}", view["cutoff"].as_str().unwrap_or("")),
        format!(
            "evidence stored {}, expired {}, held (undecided) {}, held (no application) {}",
            evidence["stored"],
            evidence["expired"],
            evidence["held_undecided"],
            evidence["held_unlinked"]
        ),
    ];
    if let Some(next) = evidence["next_expiry"].as_str() {
        lines.push(format!("next expiry: {next}"));
    }
    lines.join("\n")
}

/// The settings and the state of the stored evidence, as JSON.
pub async fn overview<S: EvidenceRetention + ?Sized>(
    store: &S,
    policy: &RetentionPolicy,
    now: SystemTime,
) -> Result<serde_json::Value, RetentionError> {
    let cutoff = policy.cutoff(now)?;
    let summary: EvidenceRetentionSummary = store
        .evidence_retention_summary(cutoff)
        .await
        .map_err(RetentionError::Read)?;
    // The next evidence to expire: its anchor plus the period.
    let next_due = summary
        .next_anchor
        .map(|anchor| add_years(anchor, policy.evidence_years_after_expiry).map(rfc3339))
        .transpose()?;
    Ok(serde_json::json!({
        "evidence_years_after_expiry": policy.evidence_years_after_expiry,
        "minimum_years": MINIMUM_YEARS,
        "ledger_entries_deletable": false,
        "policy": "raw evidence is kept until the related certificate's notAfter (or a rejected application's arrival) plus the period; evidence of undecided applications and evidence no application refers to is kept without limit; ledger entries are never deleted",
        "now": rfc3339(now),
        "cutoff": rfc3339(cutoff),
        "evidence": {
            "stored": summary.stored,
            "expired": summary.expired,
            "held_undecided": summary.undecided,
            "held_unlinked": summary.unlinked,
            "next_expiry": next_due,
        },
    }))
}

fn add_years(t: SystemTime, years: u32) -> Result<SystemTime, RetentionError> {
    let secs = i64::try_from(shuin_core::clock::unix_seconds(t))
        .map_err(|_| out_of_range("time out of range"))?;
    let dt = time::OffsetDateTime::from_unix_timestamp(secs).map_err(|source| {
        RetentionError::Calendar {
            what: "time out of range",
            source,
        }
    })?;
    let year =
        dt.year() + i32::try_from(years).map_err(|_| out_of_range("retention out of range"))?;
    let later = dt
        .replace_year(year)
        .or_else(|_| {
            dt.replace_day(28)
                .and_then(|d| d.replace_year(year))
                .map(|d| d + time::Duration::days(1))
        })
        .map_err(|source| RetentionError::Calendar {
            what: "retention",
            source,
        })?;
    Ok(SystemTime::from(later))
}

/// Purges the evidence expired at `now` (`actor: None` only lists it): for each batch,
/// the ledger entry first, then the deletion (which the store re-checks against the same
/// cutoff).
pub async fn purge<S: EvidenceRetention + LedgerStore + PersonalRows + ?Sized>(
    store: &S,
    actor: Option<Actor>,
    policy: &RetentionPolicy,
    now: SystemTime,
) -> Result<PurgeReport, RetentionError> {
    let cutoff = policy.cutoff(now)?;
    let mut report = PurgeReport {
        dry_run: actor.is_none(),
        cutoff: rfc3339(cutoff),
        evidence_years_after_expiry: policy.evidence_years_after_expiry,
        ..PurgeReport::default()
    };
    let Some(actor) = actor else {
        // A dry run lists everything expired, without writing.
        let expired = store
            .expired_evidence(cutoff, u32::MAX)
            .await
            .map_err(RetentionError::Read)?;
        report.purged = expired.into_iter().map(|e| e.sha256).collect();
        return Ok(report);
    };
    loop {
        let batch = store
            .expired_evidence(cutoff, BATCH)
            .await
            .map_err(RetentionError::Read)?;
        if batch.is_empty() {
            break;
        }
        let mut applications: Vec<String> =
            batch.iter().map(|e| e.application_id.clone()).collect();
        applications.sort();
        applications.dedup();
        let subjects: Vec<String> = applications
            .iter()
            .map(|id| format!("application:{id}"))
            .collect();
        let listed: Vec<serde_json::Value> = batch
            .iter()
            .map(|e| {
                serde_json::json!({
                    "sha256": e.sha256,
                    "retention_from": rfc3339(e.anchor),
                    "application": e.application_id,
                })
            })
            .collect();
        let entry = store
            .append(
                EntryDraft {
                    book: Book::Application,
                    kind: "application.evidence_purged".into(),
                    actor: actor.clone(),
                    subjects,
                    payload: serde_json::json!({
                        "evidence_years_after_expiry": policy.evidence_years_after_expiry,
                        "cutoff": rfc3339(cutoff),
                        "count": batch.len(),
                        "evidence": listed,
                    }),
                    evidence: vec![],
                },
                now,
            )
            .await
            .map_err(RetentionError::Ledger)?;
        report.ledger_seqs.push(entry.seq);
        // Forgotten before the evidence goes, so an interrupted purge forgets on retry.
        report.applications_forgotten += forget_personal_data(store, &applications).await?;
        let hashes: Vec<String> = batch.into_iter().map(|e| e.sha256).collect();
        let deleted = store
            .delete_expired_evidence(&hashes, cutoff)
            .await
            .map_err(RetentionError::Delete)?;
        report.deleted += deleted;
        report.purged.extend(hashes);
        if deleted == 0 {
            // Nothing could be deleted: stop rather than list the same batch again.
            break;
        }
    }
    Ok(report)
}

/// `[retention]` in shuin.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSection {
    /// Years that evidence is kept after the related certificate expires (or after a
    /// rejected application arrived). At least 10.
    #[serde(default = "default_years")]
    pub evidence_years_after_expiry: u32,
}

fn default_years() -> u32 {
    MINIMUM_YEARS
}

impl Default for RetentionSection {
    fn default() -> Self {
        Self {
            evidence_years_after_expiry: default_years(),
        }
    }
}

impl RetentionSection {
    /// The policy these settings give.
    pub fn policy(&self) -> RetentionPolicy {
        RetentionPolicy {
            evidence_years_after_expiry: self.evidence_years_after_expiry,
        }
    }

    /// Checked once at start-up.
    pub fn check(&self) -> Result<(), RetentionError> {
        self.policy().check()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use shuin_core::timefmt::parse_rfc3339;
    use shuin_core::Serial;
    use shuin_store::sqlite::SqliteStore;
    use shuin_store::{
        ApplicationRecord, ApplicationStatus, ApplicationStore, CertificateRecord,
        CertificateState, CertificateWriter,
    };

    fn t(text: &str) -> SystemTime {
        parse_rfc3339(text).unwrap()
    }

    #[test]
    fn reports_read_for_a_person() {
        let mut report = PurgeReport {
            dry_run: true,
            cutoff: "2020-01-01T00:00:00Z".into(),
            evidence_years_after_expiry: 10,
            purged: vec!["aa".into(), "bb".into()],
            deleted: 0,
            ledger_seqs: vec![],
            applications_forgotten: 0,
        };
        assert_eq!(
            report.text(),
            "2 pieces of evidence are past retention (cutoff 2020-01-01T00:00:00Z); nothing was changed\n  sha256:aa\n  sha256:bb"
        );
        report.dry_run = false;
        report.deleted = 2;
        report.ledger_seqs = vec![4];
        report.applications_forgotten = 1;
        assert_eq!(
            report.text(),
            "purged 2 pieces of evidence past retention (cutoff 2020-01-01T00:00:00Z) and the personal data of 1 application(s); recorded as ledger entry 4"
        );
        let view = serde_json::json!({"cutoff": "c", "evidence": {"stored": 3, "expired": 1,
            "held_undecided": 0, "held_unlinked": 2, "next_expiry": null}});
        let text = overview_text(&view, 7);
        assert!(text.starts_with("evidence is kept 7 years after"));
        assert!(text.ends_with(
            "evidence stored 3, expired 1, held (undecided) 0, held (no application) 2"
        ));
    }

    fn actor() -> Actor {
        Actor {
            name: "admin".into(),
            role: "ca_admin".into(),
            zone: "high_security".into(),
        }
    }

    /// One issued application whose certificate expires at `not_after`.
    async fn issued(store: &SqliteStore, id: &str, evidence: &str, not_after: &str) {
        store.put_evidence(evidence, b"cms").await.unwrap();
        store
            .insert_application(&ApplicationRecord {
                id: id.into(),
                status: ApplicationStatus::Issued,
                received_at: t("2025-01-01T00:00:00Z"),
                review_reasons: vec![],
                serial: None,
                rejection_reason: None,
                evidence_sha256: evidence.into(),
                details: serde_json::json!({
                    "basic": {"name": "山田　太郎", "birth_date": "1990-01-02"},
                    "entries": {"name": "山田　太郎"},
                    "subject_name": "山田　太郎",
                    "key_fingerprint": format!("key-{id}"),
                }),
            })
            .await
            .unwrap();
        let serial = Serial::from_hex(&format!("7a{id}")).unwrap();
        store
            .reserve(&CertificateRecord {
                serial: serial.clone(),
                application_id: id.into(),
                key_fingerprint: format!("key-{id}"),
                tbs_sha256: "00".repeat(32),
                state: CertificateState::Reserved,
                not_before: t("2025-01-01T00:00:00Z"),
                not_after: t(not_after),
                der: None,
            })
            .await
            .unwrap();
        store
            .complete(&serial, b"der", t("2025-01-01T00:00:00Z"))
            .await
            .unwrap();
    }

    #[test]
    fn retention_below_ten_years_is_refused_and_ten_is_the_default() {
        assert_eq!(RetentionPolicy::default().evidence_years_after_expiry, 10);
        RetentionPolicy::default().check().unwrap();
        let short = RetentionPolicy {
            evidence_years_after_expiry: 9,
        };
        assert!(short.check().is_err());
    }

    #[test]
    fn the_cutoff_is_calendar_years_back_and_never_shortens_the_period() {
        let ten = RetentionPolicy::default();
        assert_eq!(
            ten.cutoff(t("2040-03-01T12:00:00Z")).unwrap(),
            t("2030-03-01T12:00:00Z")
        );
        // 29 February of a leap year: the cutoff is the 28th, a day earlier.
        assert_eq!(
            ten.cutoff(t("2040-02-29T00:00:00Z")).unwrap(),
            t("2030-02-28T00:00:00Z")
        );
        assert_eq!(
            add_years(t("2028-02-29T00:00:00Z"), 10).unwrap(),
            t("2038-03-01T00:00:00Z")
        );
    }

    #[tokio::test]
    async fn nothing_within_retention_is_purged_and_a_purge_is_ledgered_first() {
        let store = SqliteStore::in_memory().await.unwrap();
        let (early, late) = ("1".repeat(64), "2".repeat(64));
        issued(&store, "01", &early, "2030-01-01T00:00:00Z").await;
        issued(&store, "02", &late, "2030-06-01T00:00:00Z").await;
        let section = RetentionPolicy::default();

        // One second before the first certificate's retention ends: nothing.
        let report = purge(&store, Some(actor()), &section, t("2039-12-31T23:59:59Z"))
            .await
            .unwrap();
        assert!(report.purged.is_empty() && report.ledger_seqs.is_empty());
        assert!(store.evidence(&early).await.unwrap().is_some());
        assert!(store.ledger_rows().await.unwrap().is_empty());

        // A dry run when the first has expired lists it and changes nothing.
        let now = t("2040-01-01T00:00:00Z");
        let dry = purge(&store, None, &section, now).await.unwrap();
        assert_eq!(dry.purged, vec![early.clone()]);
        assert!(store.evidence(&early).await.unwrap().is_some());
        assert!(store.ledger_rows().await.unwrap().is_empty());

        let view = overview(&store, &section, now).await.unwrap();
        assert_eq!(view["evidence"]["expired"], 1);
        assert_eq!(view["evidence"]["next_expiry"], "2040-06-01T00:00:00Z");

        // The purge: the entry, then the deletion; the later one stays.
        let report = purge(&store, Some(actor()), &section, now).await.unwrap();
        assert_eq!(
            (report.purged.clone(), report.deleted),
            (vec![early.clone()], 1)
        );
        assert!(store.evidence(&early).await.unwrap().is_none());
        assert!(store.evidence(&late).await.unwrap().is_some());
        // The application's stored personal data goes with it; the later one's stays.
        assert_eq!(report.applications_forgotten, 1);
        let forgotten = store.application("01").await.unwrap().unwrap().details;
        for member in PERSONAL_MEMBERS {
            assert!(forgotten[member].is_null(), "{member}: {forgotten}");
        }
        assert_eq!(forgotten["key_fingerprint"], "key-01");
        let kept = store.application("02").await.unwrap().unwrap().details;
        assert_eq!(kept["subject_name"], "山田　太郎");
        let rows = store.ledger_rows().await.unwrap();
        assert_eq!(rows.len(), 1);
        let entry = shuin_ledger::Entry::from_canonical(&rows[0].canonical).unwrap();
        assert_eq!(entry.kind, "application.evidence_purged");
        assert_eq!(entry.book, Book::Application);
        assert_eq!(entry.subjects, vec!["application:01".to_owned()]);
        assert_eq!(entry.payload["evidence"][0]["sha256"], early.as_str());
        assert_eq!(entry.payload["cutoff"], "2030-01-01T00:00:00Z");

        // Again at the same time: nothing more, no new entry.
        let again = purge(&store, Some(actor()), &section, now).await.unwrap();
        assert!(again.purged.is_empty());
        assert_eq!(store.ledger_rows().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_longer_retention_keeps_evidence_longer() {
        let store = SqliteStore::in_memory().await.unwrap();
        let evidence = "3".repeat(64);
        issued(&store, "03", &evidence, "2030-01-01T00:00:00Z").await;
        let section = RetentionPolicy {
            evidence_years_after_expiry: 15,
        };
        let report = purge(&store, Some(actor()), &section, t("2044-12-31T00:00:00Z"))
            .await
            .unwrap();
        assert!(report.purged.is_empty());
        assert!(store.evidence(&evidence).await.unwrap().is_some());
    }

    #[test]
    fn the_section_defaults_to_ten_years_and_refuses_fewer() {
        assert_eq!(RetentionSection::default().evidence_years_after_expiry, 10);
        let short = RetentionSection {
            evidence_years_after_expiry: 9,
        };
        assert!(short.check().is_err());
        let parsed: RetentionSection = toml::from_str("").unwrap();
        parsed.check().unwrap();
    }
}
