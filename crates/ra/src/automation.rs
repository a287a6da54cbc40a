//! The responsible person's controls over automatic approval (theme ❺): suspend and
//! resume, and the periodic review of automatic decisions with its sign-off.
//!
//! The suspension is a settings row (`automation.state`) that the RA reads on every
//! decision, so a running server follows a `shuin automation suspend` run beside it at
//! once. The ledger entry is written before the row (record before effect).

use crate::operators::{OperatorError, OperatorStore};
use crate::recheck::Recheck;
use crate::{RaError, RaService};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shuin_ledger::{Actor, Book, Entry, EntryDraft};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// The settings row holding [`AutomationState`] as JSON.
pub const AUTOMATION_SETTING: &str = "automation.state";

/// Whether automatic approval is suspended, by whom and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutomationState {
    /// Suspended or running.
    pub suspended: bool,
    /// The responsible person's reason.
    pub reason: String,
    /// Who changed it.
    pub by: String,
    /// When (RFC 3339).
    pub at: String,
}

/// The stored state; `None` if never changed (automation runs as configured).
pub async fn state<S: OperatorStore + ?Sized>(
    store: &S,
) -> Result<Option<AutomationState>, OperatorError> {
    match store.setting(AUTOMATION_SETTING).await? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| OperatorError::InvalidState(format!("stored automation state: {e}"))),
    }
}

/// Suspends (`suspend = true`) or resumes automatic approval as the responsible person
/// `by` (the actor of an admitted signed request). Ledgers `automation.suspended`
/// or `automation.resumed` in the organisation book, then stores the state.
pub async fn set_suspended<S: OperatorStore + ?Sized>(
    store: &S,
    suspend: bool,
    by: &Actor,
    reason: &str,
    now: SystemTime,
) -> Result<AutomationState, OperatorError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(OperatorError::InvalidInput(
            "give a reason (--reason), at most 1000 characters".into(),
        ));
    }
    let currently = state(store).await?.is_some_and(|s| s.suspended);
    if currently == suspend {
        return Err(OperatorError::InvalidState(format!(
            "automatic approval is already {}",
            if suspend { "suspended" } else { "running" }
        )));
    }
    let kind = if suspend {
        "automation.suspended"
    } else {
        "automation.resumed"
    };
    store
        .append(
            EntryDraft {
                book: Book::Organization,
                kind: kind.into(),
                actor: by.clone(),
                subjects: vec!["automation:approval".into()],
                payload: serde_json::json!({"reason": reason}),
                evidence: vec![],
            },
            now,
        )
        .await?;
    let new = AutomationState {
        suspended: suspend,
        reason: reason.to_owned(),
        by: by.name.clone(),
        at: shuin_core::timefmt::rfc3339(now),
    };
    let text = serde_json::to_string(&new)
        .map_err(|e| OperatorError::InvalidState(format!("encoding automation state: {e}")))?;
    store.set_setting(AUTOMATION_SETTING, &text).await?;
    Ok(new)
}

impl RaService {
    /// Whether the responsible person has suspended automatic approval (read on every
    /// decision).
    pub(crate) async fn automation_suspended(&self) -> Result<bool, RaError> {
        state(self.store.as_ref())
            .await
            .map(|s| s.is_some_and(|s| s.suspended))
            .map_err(|e| RaError::Unavailable(Box::new(e)))
    }

    /// The approver of automatic decisions: the responsible person designated in the
    /// organisation book with the SHA-256 of their current operator certificate, or the
    /// display name from the configuration while no one is designated.
    pub(crate) async fn responsible_person(&self) -> Result<(String, Option<String>), RaError> {
        let roster = self
            .organisation
            .roster(self.store.as_ref())
            .await
            .map_err(|e| RaError::Unavailable(Box::new(e)))?;
        let now = self.clock.now();
        Ok(match roster.responsible_person() {
            Some(op) => (
                op.name.clone(),
                op.current_certificate(now).map(|c| c.sha256.clone()),
            ),
            None => (self.config().responsible_person.clone(), None),
        })
    }
}

/// Thresholds of the anomaly signals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Applications (any outcome) with one JPKI certificate at or above which it is flagged.
    pub applications_per_jpki_certificate: usize,
    /// Decisions within one clock hour at or above which the hour is flagged.
    pub decisions_per_hour: usize,
    /// Share of refusals with one reason code at or above which it is flagged …
    pub rejection_rate: f64,
    /// … once there are at least this many applications.
    pub rejection_rate_minimum_applications: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            applications_per_jpki_certificate: 3,
            decisions_per_hour: 30,
            rejection_rate: 0.5,
            rejection_rate_minimum_applications: 10,
        }
    }
}

/// One automatic decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutomaticDecision {
    /// Ledger sequence number of `application.accepted`.
    pub seq: u64,
    /// When.
    pub time: String,
    /// The application id.
    pub application: Option<String>,
    /// The JPKI certificate fingerprint.
    pub jpki: Option<String>,
    /// The approver named.
    pub approver: String,
    /// The rule version.
    pub rule_version: String,
}

/// The periodic review of automatic decisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutomationReview {
    /// Start of the period (inclusive).
    pub since: String,
    /// End of the period: the last entry looked at.
    pub until: String,
    /// Ledger size at the time of the review.
    pub ledger_size: u64,
    /// The automatic approvals.
    pub automatic_decisions: Vec<AutomaticDecision>,
    /// Applications sent to an LRA, by review reason.
    pub pending_review: BTreeMap<String, usize>,
    /// Applications refused by the rule, by reason code.
    pub rejections: BTreeMap<String, usize>,
    /// Applications looked at (approved, pending and refused).
    pub applications: usize,
    /// Anomaly signals.
    pub signals: Vec<serde_json::Value>,
    /// Thresholds used.
    pub thresholds: Thresholds,
    /// The re-check of every issuance in the period (`crate::recheck`).
    #[serde(default)]
    pub recheck: Recheck,
    /// When the next review is due.
    #[serde(default)]
    pub schedule: ReviewSchedule,
}

/// The default interval between reviews, in days (`[ra] review_interval_days`).
pub const DEFAULT_REVIEW_INTERVAL_DAYS: u32 = 30;

/// The kind of the responsible person's sign-off of a review.
pub const SIGNED_OFF: &str = "automation.review_signed_off";

/// When the next periodic review is due: the last sign-off plus the interval, or, before
/// any sign-off, the instance's first entry plus the interval.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewSchedule {
    /// The configured interval.
    pub review_interval_days: u32,
    /// When the last review was signed off (RFC 3339), if ever.
    pub last_signed_off: Option<String>,
    /// When the next review is due (RFC 3339); `None` on an empty ledger.
    pub next_review_due: Option<String>,
    /// Whether it is past due at the time of asking.
    pub overdue: bool,
}

/// The schedule as the books stand at `now` (the injected clock).
pub fn schedule(entries: &[Entry], interval_days: u32, now: SystemTime) -> ReviewSchedule {
    let last = entries.iter().rev().find(|e| e.kind == SIGNED_OFF);
    let start = last.or(entries.first()).map(|e| e.time.as_str());
    let due = start
        .and_then(shuin_core::timefmt::parse_rfc3339)
        .and_then(|t| t.checked_add(interval(interval_days)));
    ReviewSchedule {
        review_interval_days: interval_days,
        last_signed_off: last.map(|e| e.time.clone()),
        next_review_due: due.map(shuin_core::timefmt::rfc3339),
        overdue: due.is_some_and(|due| now > due),
    }
}

/// The schedule as `store`'s books stand at `now`, read a page at a time: only the first
/// entry and the last sign-off are kept (for `shuin status`).
///
/// # Errors
///
/// The books cannot be read.
pub async fn schedule_in<S: shuin_store::LedgerStore + ?Sized>(
    store: &S,
    interval_days: u32,
    now: SystemTime,
) -> Result<ReviewSchedule, shuin_store::StoreError> {
    let (first, last) = first_and_last_sign_off(store).await?;
    let kept: Vec<Entry> = first.into_iter().chain(last).collect();
    Ok(schedule(&kept, interval_days, now))
}

/// The books' first entry and last sign-off of the periodic review, read a page at a
/// time.
async fn first_and_last_sign_off<S: shuin_store::LedgerStore + ?Sized>(
    store: &S,
) -> Result<(Option<Entry>, Option<Entry>), shuin_store::StoreError> {
    let mut seen = SignOffs::default();
    seen.catch_up(store).await?;
    Ok((seen.first, seen.last))
}

/// The first entry and the last sign-off of the books read so far, and where reading
/// goes on.
#[derive(Debug, Default, Clone)]
struct SignOffs {
    first: Option<Entry>,
    last: Option<Entry>,
    next: u64,
}

impl SignOffs {
    /// Reads the rows after those seen, a page at a time.
    async fn catch_up<S: shuin_store::LedgerStore + ?Sized>(
        &mut self,
        store: &S,
    ) -> Result<(), shuin_store::StoreError> {
        shuin_store::book_reading::catch_up(store, self, 1_000).await
    }
}

impl shuin_store::book_reading::BookReader for SignOffs {
    fn next_seq(&self) -> u64 {
        self.next
    }

    fn read(&mut self, rows: &[shuin_ledger::StoredEntry]) {
        for row in rows {
            self.next = self.next.max(row.seq.saturating_add(1));
            let Ok(entry) = Entry::from_canonical(&row.canonical) else {
                continue;
            };
            if entry.kind == SIGNED_OFF {
                self.last = Some(entry);
            } else if self.first.is_none() {
                self.first = Some(entry);
            }
        }
    }
}

/// [`SignOffs`] kept between readings, so that each reads only the entries appended
/// since the one before (the responsible person's page is not a scan of the books).
#[derive(Debug, Default)]
pub struct SignOffWatch(tokio::sync::Mutex<SignOffs>);

impl SignOffWatch {
    /// The first entry and the last sign-off of `store`'s books now.
    async fn current<S: shuin_store::LedgerStore + ?Sized>(
        &self,
        store: &S,
    ) -> Result<(Option<Entry>, Option<Entry>), shuin_store::StoreError> {
        let mut seen = self.0.lock().await;
        seen.catch_up(store).await?;
        Ok((seen.first.clone(), seen.last.clone()))
    }
}

fn reference<'a>(entry: &'a Entry, prefix: &str) -> Option<&'a str> {
    entry.subjects.iter().find_map(|s| s.strip_prefix(prefix))
}

/// How a review's start is written, for the refusal of any other form.
pub const SINCE_FORMAT: &str = "--since must be YYYY-MM-DD or RFC 3339";

/// The start of a review: `YYYY-MM-DD` (UTC midnight) or RFC 3339.
pub fn parse_since(text: &str) -> Option<SystemTime> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    shuin_core::timefmt::parse_rfc3339(&full)
}

/// Reviews the application book from `since`: automatic decisions, referrals and
/// refusals, with anomaly signals.
pub fn review(entries: &[Entry], since: SystemTime, thresholds: Thresholds) -> AutomationReview {
    let since_text = shuin_core::timefmt::rfc3339(since);
    let mut out = AutomationReview {
        since: since_text.clone(),
        until: since_text.clone(),
        ledger_size: u64::try_from(entries.len()).unwrap_or(u64::MAX),
        automatic_decisions: Vec::new(),
        pending_review: BTreeMap::new(),
        rejections: BTreeMap::new(),
        applications: 0,
        signals: Vec::new(),
        thresholds,
        recheck: Recheck::default(),
        schedule: ReviewSchedule::default(),
    };
    let mut per_jpki: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_hour: BTreeMap<String, usize> = BTreeMap::new();
    for entry in entries {
        // Entry times are `YYYY-MM-DDTHH:MM:SSZ`, so text order is time order.
        if entry.book != Book::Application || entry.time < since_text {
            continue;
        }
        match entry.kind.as_str() {
            "application.accepted" if entry.payload["automatic"] == true => {
                out.automatic_decisions.push(AutomaticDecision {
                    seq: entry.seq,
                    time: entry.time.clone(),
                    application: reference(entry, "application:").map(str::to_owned),
                    jpki: reference(entry, "jpki:").map(str::to_owned),
                    approver: entry.payload["approver"]
                        .as_str()
                        .unwrap_or(&entry.actor.name)
                        .to_owned(),
                    rule_version: entry.payload["rule_version"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                });
            }
            "application.pending_review" => {
                for reason in entry.payload["review_reasons"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    *out.pending_review
                        .entry(reason.as_str().unwrap_or("unknown").to_owned())
                        .or_default() += 1;
                }
            }
            "application.rejected" => {
                let code = entry.payload["reason_code"].as_str().unwrap_or("unknown");
                *out.rejections.entry(code.to_owned()).or_default() += 1;
            }
            _ => continue,
        }
        out.applications += 1;
        out.until.clone_from(&entry.time);
        if let Some(jpki) = reference(entry, "jpki:") {
            *per_jpki.entry(jpki.to_owned()).or_default() += 1;
        }
        let hour = entry.time.get(..13).unwrap_or(&entry.time);
        *per_hour.entry(format!("{hour}:00:00Z")).or_default() += 1;
    }
    for (jpki, count) in per_jpki {
        if count >= thresholds.applications_per_jpki_certificate {
            out.signals.push(serde_json::json!({
                "signal": "jpki_certificate_reused",
                "jpki_fingerprint_sha256": jpki,
                "applications": count,
            }));
        }
    }
    for (hour, count) in per_hour {
        if count >= thresholds.decisions_per_hour {
            out.signals.push(serde_json::json!({
                "signal": "burst",
                "hour_starting": hour,
                "applications": count,
            }));
        }
    }
    if out.applications >= thresholds.rejection_rate_minimum_applications {
        for (code, count) in &out.rejections {
            let rate = rate(*count, out.applications);
            if rate >= thresholds.rejection_rate {
                out.signals.push(serde_json::json!({
                    "signal": "rejection_rate",
                    "reason_code": code,
                    "rejections": count,
                    "rate": rate,
                }));
            }
        }
    }
    out
}

impl AutomationState {
    /// The state for a person: who suspended or resumed automatic approval, and when.
    pub fn text(&self) -> String {
        if self.suspended {
            format!(
                "automatic approval suspended by {} at {}: valid applications now wait for an LRA",
                self.by, self.at
            )
        } else {
            format!("automatic approval resumed by {} at {}", self.by, self.at)
        }
    }
}

impl AutomationReview {
    /// The review for a person: the automatic decisions one a line, then what went to
    /// review, what was refused (with its share) and the anomaly signals.
    pub fn text(&self) -> String {
        let mut lines = vec![format!(
            "automatic decisions from {} to {}: {} (of {} applications)",
            self.since,
            self.until,
            self.automatic_decisions.len(),
            self.applications
        )];
        for d in &self.automatic_decisions {
            lines.push(format!(
                "  {:>6}  {}  application {}  approver {}",
                d.seq,
                d.time,
                d.application.as_deref().unwrap_or("-"),
                d.approver
            ));
        }
        for (reason, count) in &self.pending_review {
            lines.push(format!("  sent to review: {reason}: {count}"));
        }
        for (code, count) in &self.rejections {
            lines.push(format!(
                "  refused: {code}: {count} ({:.0}%)",
                rate(*count, self.applications) * 100.0
            ));
        }
        if self.signals.is_empty() {
            lines.push("no anomaly signals".to_owned());
        }
        for signal in &self.signals {
            lines.push(format!("  SIGNAL {signal}"));
        }
        lines.extend(self.recheck.lines());
        lines.push(self.schedule.line());
        lines.join("\n")
    }
}

impl ReviewSchedule {
    /// The schedule for a person.
    pub fn line(&self) -> String {
        format!(
            "next review due {} (every {} days; last signed off {}){}",
            self.next_review_due.as_deref().unwrap_or("-"),
            self.review_interval_days,
            self.last_signed_off.as_deref().unwrap_or("never"),
            if self.overdue { ": OVERDUE" } else { "" }
        )
    }
}

/// `part / whole` as a float, for display.
pub fn rate(part: usize, whole: usize) -> f64 {
    let part = u32::try_from(part).unwrap_or(u32::MAX);
    let whole = u32::try_from(whole).unwrap_or(u32::MAX).max(1);
    f64::from(part) / f64::from(whole)
}

/// The interval between reviews.
fn interval(days: u32) -> std::time::Duration {
    std::time::Duration::from_secs(u64::from(days) * 86_400)
}

/// When the review after one signed off at `at` is due (RFC 3339).
fn next_due_after(at: SystemTime, interval_days: u32) -> Option<String> {
    at.checked_add(interval(interval_days))
        .map(shuin_core::timefmt::rfc3339)
}

/// Records the responsible person's confirmation of `review` as
/// `automation.review_signed_off` in the organisation book.
pub async fn sign_off<S: OperatorStore + ?Sized>(
    store: &S,
    review: &AutomationReview,
    by: &Actor,
    now: SystemTime,
) -> Result<Entry, OperatorError> {
    let text = serde_json::to_vec(review)
        .map_err(|e| OperatorError::InvalidState(format!("encoding the review: {e}")))?;
    let entry = store
        .append(
            EntryDraft {
                book: Book::Organization,
                kind: SIGNED_OFF.into(),
                actor: by.clone(),
                subjects: vec!["automation:approval".into()],
                payload: serde_json::json!({
                    "since": review.since,
                    "until": review.until,
                    "ledger_size": review.ledger_size,
                    "automatic_decisions": review.automatic_decisions.len(),
                    "applications": review.applications,
                    "signals": review.signals,
                    "issuances_checked": review.recheck.issuances_checked,
                    "exceptions": review.recheck.exception_counts,
                    "review_interval_days": review.schedule.review_interval_days,
                    "next_review_due": next_due_after(now, review.schedule.review_interval_days),
                }),
                evidence: vec![format!("sha256:{}", hex::encode(Sha256::digest(&text)))],
            },
            now,
        )
        .await?;
    Ok(entry)
}

/// What the responsible person's page shows: the automation state and the review schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutomationStatus {
    /// Whether automatic approval is configured on (`[ra] automatic_approval`).
    pub configured: bool,
    /// The state the responsible person set, if ever.
    pub state: Option<AutomationState>,
    /// When the periodic review is due.
    pub schedule: ReviewSchedule,
    /// The last signed-off review as the books keep it (`automation.review_signed_off`).
    pub last_review: Option<Entry>,
}

impl crate::RaService {
    /// The automation state and the review schedule (the web console's responsible
    /// person's page). Reads the books a page at a time, from where the last call
    /// stopped.
    pub async fn automation_status(&self) -> Result<AutomationStatus, OperatorError> {
        let store = self.store.as_ref();
        let interval = self.config().review_interval_days;
        let (first, last) = self.sign_offs.current(store).await?;
        let kept: Vec<Entry> = first.into_iter().chain(last.clone()).collect();
        Ok(AutomationStatus {
            configured: self.config().automatic_approval,
            state: state(store).await?,
            schedule: schedule(&kept, interval, self.clock.now()),
            last_review: last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, time: &str, kind: &str) -> Entry {
        Entry {
            seq,
            time: time.into(),
            book: Book::Organization,
            kind: kind.into(),
            actor: crate::application::system_actor(),
            subjects: vec![],
            payload: serde_json::Value::Null,
            evidence: vec![],
        }
    }

    fn at(text: &str) -> SystemTime {
        shuin_core::timefmt::parse_rfc3339(text).unwrap_or(SystemTime::UNIX_EPOCH)
    }

    #[tokio::test]
    async fn the_sign_off_watch_reads_only_what_was_appended_since() {
        use shuin_store::LedgerStore;
        let store = shuin_store::sqlite::SqliteStore::in_memory().await.unwrap();
        let draft = |kind: &str| EntryDraft {
            book: Book::Organization,
            kind: kind.into(),
            actor: crate::application::system_actor(),
            subjects: vec![],
            payload: serde_json::Value::Null,
            evidence: vec![],
        };
        let now = at("2024-01-01T00:00:00Z");
        let watch = SignOffWatch::default();
        assert_eq!(watch.current(&store).await.unwrap(), (None, None));
        store.append(draft("operator.enrolled"), now).await.unwrap();
        store.append(draft(SIGNED_OFF), now).await.unwrap();
        let (first, last) = watch.current(&store).await.unwrap();
        assert_eq!(first.map(|e| e.seq), Some(0));
        assert_eq!(last.map(|e| e.seq), Some(1));
        store
            .append(draft("automation.suspended"), now)
            .await
            .unwrap();
        store.append(draft(SIGNED_OFF), now).await.unwrap();
        let (first, last) = watch.current(&store).await.unwrap();
        assert_eq!(first.map(|e| e.seq), Some(0));
        assert_eq!(last.map(|e| e.seq), Some(3));
        assert_eq!(watch.0.lock().await.next, 4, "read up to the head, once");
    }

    #[test]
    fn the_next_review_is_due_an_interval_after_the_last_sign_off() {
        let entries = vec![
            entry(0, "2024-01-01T00:00:00Z", "operator.enrolled"),
            entry(1, "2024-02-01T09:00:00Z", SIGNED_OFF),
            entry(2, "2024-03-01T09:00:00Z", SIGNED_OFF),
            entry(3, "2024-03-02T00:00:00Z", "automation.suspended"),
        ];
        let due = schedule(&entries, 30, at("2024-03-31T09:00:00Z"));
        assert_eq!(due.last_signed_off.as_deref(), Some("2024-03-01T09:00:00Z"));
        assert_eq!(due.next_review_due.as_deref(), Some("2024-03-31T09:00:00Z"));
        assert!(!due.overdue, "due, not yet overdue");
        let late = schedule(&entries, 30, at("2024-03-31T09:00:01Z"));
        assert!(late.overdue);
        assert!(schedule(&entries, 7, at("2024-03-09T00:00:00Z")).overdue);
    }

    #[test]
    fn before_any_sign_off_the_first_entry_starts_the_interval() {
        let entries = vec![entry(0, "2024-01-01T00:00:00Z", "operator.enrolled")];
        let due = schedule(&entries, 30, at("2024-02-01T00:00:00Z"));
        assert_eq!(due.last_signed_off, None);
        assert_eq!(due.next_review_due.as_deref(), Some("2024-01-31T00:00:00Z"));
        assert!(due.overdue);
        let empty = schedule(&[], 30, at("2024-02-01T00:00:00Z"));
        assert_eq!(empty.next_review_due, None);
        assert!(!empty.overdue);
        assert_eq!(
            next_due_after(at("2024-01-01T00:00:00Z"), 1).as_deref(),
            Some("2024-01-02T00:00:00Z")
        );
    }

    #[test]
    fn the_state_says_who_changed_it() {
        let mut state = AutomationState {
            suspended: true,
            reason: "audit".into(),
            by: "rp".into(),
            at: "t".into(),
        };
        assert!(state
            .text()
            .starts_with("automatic approval suspended by rp at t:"));
        state.suspended = false;
        assert_eq!(state.text(), "automatic approval resumed by rp at t");
    }

    #[test]
    fn the_review_reads_one_fact_a_line() {
        let review = AutomationReview {
            since: "a".into(),
            until: "b".into(),
            ledger_size: 9,
            automatic_decisions: vec![AutomaticDecision {
                seq: 4,
                time: "t".into(),
                application: None,
                jpki: None,
                approver: "auto".into(),
                rule_version: "1".into(),
            }],
            pending_review: BTreeMap::from([("substitute".to_owned(), 1)]),
            rejections: BTreeMap::from([("name_mismatch".to_owned(), 1)]),
            applications: 4,
            signals: vec![],
            thresholds: Thresholds::default(),
            recheck: Recheck::default(),
            schedule: ReviewSchedule {
                review_interval_days: 30,
                last_signed_off: None,
                next_review_due: Some("c".into()),
                overdue: true,
            },
        };
        assert_eq!(
            review.text(),
            "automatic decisions from a to b: 1 (of 4 applications)\n\
             \x20      4  t  application -  approver auto\n\
             \x20 sent to review: substitute: 1\n\
             \x20 refused: name_mismatch: 1 (25%)\n\
             no anomaly signals\n\
             issuances re-checked: 0 (0 automatic, 0 by an LRA), with exceptions: 0\n\
             next review due c (every 30 days; last signed off never): OVERDUE"
        );
    }
}
