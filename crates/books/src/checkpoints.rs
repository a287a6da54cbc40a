//! The ledger's signed checkpoints as the books hold them (docs/ledger.md,
//! "Checkpoints"): the audit key the facility book records, the stored checkpoints
//! checked against the entries and that key, and an export of the ledger up to its
//! newest checkpoint, so every exported entry is signed.

use base64::Engine;
use shuin_ledger::counted;
use shuin_ledger::export::{ExportSummary, ExportWriter, WriteError};
use shuin_ledger::{
    merkle, Book, Checkpoint, CompactTree, Entry, ExportError, ExportReport, NoteKey, StoredEntry,
};
use shuin_store::{ApplicationStore, LedgerReader, LedgerStore, StoredCheckpoint};
use std::path::Path;

/// Why the stored checkpoints do not vouch for the entries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointsError {
    /// Checkpoints exist but no audit key is recorded to check them with.
    #[error("checkpoints are stored but the facility book records no audit key")]
    NoAuditKey,
    /// A stored checkpoint does not open with the audit key.
    #[error("stored checkpoint of size {size}: {source}")]
    Unreadable {
        /// Its tree size.
        size: u64,
        /// Why.
        #[source]
        source: shuin_ledger::CheckpointError,
    },
    /// A stored checkpoint signs another tree than the entries make.
    #[error("stored checkpoint of size {size} does not match the entries (root {signed} signed, {computed} computed)")]
    Mismatch {
        /// Its tree size.
        size: u64,
        /// The root it signs (hex).
        signed: String,
        /// The root the entries give (hex).
        computed: String,
    },
    /// A stored checkpoint covers more entries than are stored.
    #[error("stored checkpoint of size {size} covers more than the {stored} entries stored: entries were removed")]
    EntriesRemoved {
        /// Its tree size.
        size: u64,
        /// How many entries are stored.
        stored: u64,
    },
}

impl CheckpointsError {
    /// The stable reason code (snake_case) of this failure.
    pub fn code(&self) -> &'static str {
        match self {
            CheckpointsError::NoAuditKey => "no_audit_key",
            CheckpointsError::Unreadable { .. } => "checkpoint_invalid",
            CheckpointsError::Mismatch { .. } => "history_rewritten",
            CheckpointsError::EntriesRemoved { .. } => "entries_missing",
        }
    }
}

/// The setting holding the log's origin (the checkpoints' first line and key name).
pub const ORIGIN_SETTING: &str = "ledger.origin";

/// The audit key as the facility book records it (the last `key.generated` entry for
/// ledger checkpoints, or on an RA node the `key.adopted` entry naming the CA's audit
/// key, `crate::node_book`), if any.
pub fn audit_key_from_ledger(rows: &[StoredEntry]) -> Option<NoteKey> {
    rows.iter().rev().find_map(audit_key_of)
}

/// The audit key `row` records, if it is the facility book's record of one.
pub(crate) fn audit_key_of(row: &StoredEntry) -> Option<NoteKey> {
    let entry = Entry::from_canonical(&row.canonical).ok()?;
    let payload = &entry.payload;
    let recorded = entry.kind == "key.generated" || entry.kind == crate::node_book::KEY_ADOPTED;
    if entry.book != Book::Facility || !recorded || payload["purpose"] != "ledger_checkpoints" {
        return None;
    }
    let spki = base64::engine::general_purpose::STANDARD
        .decode(payload["public_key"].as_str()?)
        .ok()?;
    NoteKey::from_spki(payload["origin"].as_str()?, &spki).ok()
}

/// Each stored checkpoint is signed by `key` and matches the tree at its size.
pub fn check_stored_checkpoints(
    rows: &[StoredEntry],
    checkpoints: &[StoredCheckpoint],
    key: Option<&NoteKey>,
) -> Result<(), CheckpointsError> {
    if checkpoints.is_empty() {
        return Ok(());
    }
    let key = key.ok_or(CheckpointsError::NoAuditKey)?;
    let mut pending = checkpoints.iter().peekable();
    let mut tree = CompactTree::new();
    let check = |tree: &CompactTree, stored: &StoredCheckpoint| -> Result<(), CheckpointsError> {
        let checkpoint =
            Checkpoint::open(&stored.note, key).map_err(|source| CheckpointsError::Unreadable {
                size: stored.size,
                source,
            })?;
        if checkpoint.size != stored.size || checkpoint.root != tree.root() {
            return Err(CheckpointsError::Mismatch {
                size: stored.size,
                signed: checkpoint.root_hex(),
                computed: hex::encode(tree.root()),
            });
        }
        Ok(())
    };
    let mut rows = rows.iter();
    loop {
        while let Some(stored) = pending.next_if(|c| c.size == tree.size()) {
            check(&tree, stored)?;
        }
        match rows.next() {
            Some(row) => tree.append(merkle::leaf_hash(&row.canonical)),
            None => break,
        }
    }
    match pending.next() {
        Some(stored) => Err(CheckpointsError::EntriesRemoved {
            size: stored.size,
            stored: tree.size(),
        }),
        None => Ok(()),
    }
}

/// The stored checkpoints, checked with the audit key the facility book names (the
/// audit pack's [`crate::audit_pack::CheckpointCheck`]).
pub fn check_with_recorded_key(
    rows: &[StoredEntry],
    checkpoints: &[StoredCheckpoint],
) -> Result<(), crate::audit_pack::BoxError> {
    let key = audit_key_from_ledger(rows);
    check_stored_checkpoints(rows, checkpoints, key.as_ref()).map_err(Into::into)
}

/// Why the stored ledger does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerCheckError {
    /// The entries or the tree head.
    #[error(transparent)]
    Log(#[from] shuin_ledger::VerifyError),
    /// The stored checkpoints.
    #[error(transparent)]
    Checkpoints(#[from] CheckpointsError),
    /// The signed operator requests.
    #[error(transparent)]
    Requests(#[from] shuin_ledger::operator_audit::AuditError),
    /// The pin, the last signed head or the checkpoint interval.
    #[error(transparent)]
    Trust(#[from] shuin_ledger::TrustError),
    /// The store could not be read.
    #[error("reading the ledger: {0}")]
    Read(#[source] shuin_store::StoreError),
    /// A kept personal data record does not match its entry's commitment.
    #[error(transparent)]
    PersonalData(#[from] crate::personal_data::PersonalDataCheckError),
}

impl LedgerCheckError {
    /// The stable reason code (snake_case) of this failure.
    pub fn code(&self) -> &'static str {
        match self {
            LedgerCheckError::Log(e) => e.code(),
            LedgerCheckError::Checkpoints(e) => e.code(),
            LedgerCheckError::Requests(_) => "operator_request_invalid",
            LedgerCheckError::Trust(e) => e.code(),
            LedgerCheckError::Read(_) => "ledger_unreadable",
            LedgerCheckError::PersonalData(e) => e.code(),
        }
    }
}

/// What a verified ledger holds: the tree, and how many signed operator requests were
/// re-checked against their operators' certificates.
#[derive(Debug, Clone)]
pub struct VerifiedLedger {
    /// The entries and the tree head.
    pub log: shuin_ledger::VerifyReport,
    /// Signed operator requests re-checked.
    pub operator_requests: u64,
    /// Stored checkpoints checked.
    pub checkpoints: usize,
    /// The size of the newest stored checkpoint.
    pub latest_checkpoint_size: Option<u64>,
    /// The audit key's pin and the last signed head, as checked.
    pub trust: crate::ledger_trust::TrustFacts,
    /// Personal data records checked against their commitments (only when verified
    /// with the store at hand, [`verify_store`]).
    pub personal_data: crate::personal_data::PersonalDataFacts,
}

impl VerifiedLedger {
    /// The verified ledger as JSON, with `"ok": true`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ok": true,
            "size": self.log.size,
            "root": self.log.root_hex,
            "checkpoints": self.checkpoints,
            "latest_checkpoint_size": self.latest_checkpoint_size,
            "operator_requests_verified": self.operator_requests,
            "audit_key_sha256": self.trust.audit_key_sha256,
            "audit_key_pinned": self.trust.pinned,
            "last_signed_head_size": self.trust.last_head_size,
            "personal_data_records_checked": self.personal_data.checked,
            "personal_data_records_absent": self.personal_data.absent,
        })
    }

    /// The verified ledger in one line for a person.
    pub fn text(&self) -> String {
        let mut text = format!(
            "ledger OK: {}, tree head {}, {}, {} re-checked",
            counted(self.log.size, "entry", "entries"),
            self.log.root_hex,
            counted(self.checkpoints, "signed checkpoint", "signed checkpoints"),
            counted(
                self.operator_requests,
                "signed operator request",
                "signed operator requests"
            )
        );
        if let Some(sha256) = &self.trust.audit_key_sha256 {
            let pinned = if self.trust.pinned {
                "pinned"
            } else {
                "NOT PINNED: set [ledger] audit_key_sha256 in shuin.toml or give --audit-key-sha256"
            };
            text.push_str(&format!("\n  audit key SHA-256 {sha256} ({pinned})"));
        }
        // Its size is in the JSON: each node of a shared database keeps its own.
        if self.trust.last_head_size.is_some() {
            text.push_str("\n  extends the last signed head kept outside the database");
        }
        let personal = self.personal_data;
        if personal.checked + personal.absent > 0 {
            let checked = counted(
                personal.checked,
                "personal data record",
                "personal data records",
            );
            let verb = if personal.checked == 1 {
                "matches its commitment"
            } else {
                "match their commitments"
            };
            text.push_str(&format!("\n  {checked} {verb}, {} purged", personal.absent));
        }
        text
    }
}

/// Verifies the stored ledger: every entry hash and the tree head, every stored
/// checkpoint against the tree and the audit key the facility book records, every
/// signed operator request, then the key against the pin, the entries and checkpoints
/// against the last signed head, and the checkpoint interval
/// ([`crate::ledger_trust::check`]).
pub fn verify_stored(
    rows: &[StoredEntry],
    head: Option<&shuin_ledger::TreeHead>,
    checkpoints: &[StoredCheckpoint],
    trust: &crate::ledger_trust::LedgerTrust,
) -> Result<VerifiedLedger, LedgerCheckError> {
    let key = audit_key_from_ledger(rows);
    // Row by row: a copy of the whole ledger would double the memory it takes.
    let log = shuin_ledger::verify_log(rows.iter().cloned(), head)?;
    check_stored_checkpoints(rows, checkpoints, key.as_ref())?;
    let trust = crate::ledger_trust::check(rows, checkpoints, key.as_ref(), trust)?;
    let operator_requests =
        shuin_ledger::operator_audit::audit_canonical(rows.iter().map(|r| r.canonical.as_slice()))?;
    Ok(VerifiedLedger {
        log,
        operator_requests,
        checkpoints: checkpoints.len(),
        latest_checkpoint_size: checkpoints.last().map(|c| c.size),
        trust,
        personal_data: Default::default(),
    })
}

/// Reads the stored ledger (entries, tree head, checkpoints) from `store` and verifies it
/// ([`verify_stored`]), then the personal data records the store still keeps against
/// the entries' commitments ([`crate::personal_data::check_records`]).
///
/// # Errors
///
/// [`LedgerCheckError::Read`] when the store cannot be read, else as [`verify_stored`].
pub async fn verify_store<S: LedgerStore + LedgerReader + ApplicationStore + ?Sized>(
    store: &S,
    trust: &crate::ledger_trust::LedgerTrust,
) -> Result<VerifiedLedger, LedgerCheckError> {
    let rows = store.ledger_rows().await.map_err(LedgerCheckError::Read)?;
    let head = store.ledger_head().await.map_err(LedgerCheckError::Read)?;
    let checkpoints = store.checkpoints().await.map_err(LedgerCheckError::Read)?;
    let mut verified = verify_stored(&rows, head.as_ref(), &checkpoints, trust)?;
    verified.personal_data = crate::personal_data::check_records(store, &rows).await?;
    Ok(verified)
}

/// Why an export could not be written or does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignedExportError {
    /// There is no audit key to export against.
    #[error("the ledger records no audit key: nothing to export against")]
    NoAuditKey,
    /// The books could not be read.
    #[error("reading the ledger: {0}")]
    Read(#[source] shuin_store::StoreError),
    /// A row the checkpoints cover is not in storage.
    #[error("ledger row {seq} is missing from storage, though a stored checkpoint covers it")]
    Missing {
        /// The first row missing.
        seq: u64,
    },
    /// Writing failed.
    #[error("ledger export: {error}{source}", error = .0, source = source_text(.0))]
    Write(#[source] WriteError),
    /// What was written does not verify.
    #[error("the export just written does not verify: {0}")]
    Verify(#[source] ExportError),
    /// The audit key is not the pinned one.
    #[error("{0}")]
    Trust(#[source] shuin_ledger::TrustError),
}

impl SignedExportError {
    /// The stable reason code (snake_case) of this failure.
    pub fn code(&self) -> &'static str {
        match self {
            SignedExportError::NoAuditKey => "no_audit_key",
            SignedExportError::Read(_) => "ledger_unreadable",
            SignedExportError::Missing { .. } => "entries_missing",
            SignedExportError::Write(_) => "export_write_failed",
            SignedExportError::Verify(e) => e.code(),
            SignedExportError::Trust(e) => e.code(),
        }
    }
}

fn source_text(error: &dyn std::error::Error) -> String {
    error.source().map(|s| format!(": {s}")).unwrap_or_default()
}

/// Rows read from storage at a time while exporting: the export's memory stays bounded
/// by one page, whatever the size of the books.
const EXPORT_PAGE: u64 = 10_000;

/// Writes an export of the books in `store` to `out`, up to the newest of its stored
/// checkpoints (a server may append meanwhile), reading the rows in pages, and verifies
/// it. `key` is the audit key at hand, if any; otherwise the one the facility book
/// records, which must be the pinned one (`pin`, also named in the manifest).
pub async fn export_signed<S>(
    out: &Path,
    store: &S,
    key: Option<NoteKey>,
    pin: Option<&shuin_ledger::AuditKeyPin>,
    progress: &dyn shuin_ledger::export::Progress,
) -> Result<(ExportSummary, ExportReport), SignedExportError>
where
    S: LedgerStore + LedgerReader + ?Sized,
{
    export_signed_in_pages(out, store, key, pin, progress, EXPORT_PAGE).await
}

/// Writes rows `0..size` of `store` into `writer`, `page` at a time; with `find_key`,
/// returns the audit key the rows record last, if any.
async fn write_rows<S>(
    store: &S,
    writer: &mut ExportWriter,
    size: u64,
    page: u64,
    find_key: bool,
    progress: &dyn shuin_ledger::export::Progress,
) -> Result<Option<NoteKey>, SignedExportError>
where
    S: LedgerStore + ?Sized,
{
    let mut recorded_key = None;
    while writer.written() < size {
        let from = writer.written();
        let rows = store
            .ledger_rows_page(from, page.min(size - from))
            .await
            .map_err(SignedExportError::Read)?;
        if rows.is_empty() {
            return Err(SignedExportError::Missing { seq: from });
        }
        for row in &rows {
            if find_key {
                recorded_key = audit_key_of(row).or(recorded_key);
            }
            writer.append(row).map_err(SignedExportError::Write)?;
        }
        progress.advance(u64::try_from(rows.len()).unwrap_or(u64::MAX));
    }
    Ok(recorded_key)
}

/// [`export_signed`], reading `page` rows at a time (at least one).
pub async fn export_signed_in_pages<S>(
    out: &Path,
    store: &S,
    key: Option<NoteKey>,
    pin: Option<&shuin_ledger::AuditKeyPin>,
    progress: &dyn shuin_ledger::export::Progress,
    page: u64,
) -> Result<(ExportSummary, ExportReport), SignedExportError>
where
    S: LedgerStore + LedgerReader + ?Sized,
{
    let page_rows = page.max(1);
    if let (Some(key), Some(pin)) = (&key, pin) {
        pin.check(key).map_err(SignedExportError::Trust)?;
    }
    // The checkpoints first: every row they cover is stored before them.
    let stored = store.checkpoints().await.map_err(SignedExportError::Read)?;
    let head = store.ledger_head().await.map_err(SignedExportError::Read)?;
    let available = head.map_or(0, |h| h.size);
    let covered: Vec<StoredCheckpoint> =
        stored.into_iter().filter(|c| c.size <= available).collect();
    let size = covered.last().map_or(0, |c| c.size);
    let notes: Vec<String> = covered.into_iter().map(|c| c.note).collect();
    let mut writer = ExportWriter::create(out).map_err(SignedExportError::Write)?;
    progress.phase("writing entries", Some(size));
    let written = write_rows(store, &mut writer, size, page_rows, key.is_none(), progress).await;
    progress.end();
    // The key at hand, or the one the rows record (which must be the pinned one).
    let key = written.and_then(|recorded| match key {
        Some(key) => Ok(key),
        None => {
            let key = recorded.ok_or(SignedExportError::NoAuditKey)?;
            if let Some(pin) = pin {
                pin.check(&key).map_err(SignedExportError::Trust)?;
            }
            Ok(key)
        }
    });
    let key = match key {
        Ok(key) => key,
        Err(e) => {
            // Nothing incomplete is left to be taken for an export.
            writer.abandon();
            return Err(e);
        }
    };
    let summary = writer
        .finish(&notes, &key, pin)
        .map_err(SignedExportError::Write)?;
    let mut report = shuin_ledger::export::verify_export_with(out, None, progress)
        .map_err(SignedExportError::Verify)?;
    if let Some(pin) = pin {
        report.check_pin(pin).map_err(SignedExportError::Trust)?;
    }
    Ok((summary, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verified_ledger_reads_the_same_in_json_and_text() {
        let verified = VerifiedLedger {
            log: shuin_ledger::VerifyReport {
                size: 5,
                root_hex: "ab".into(),
                counts: shuin_ledger::BookCounts::default(),
            },
            operator_requests: 2,
            checkpoints: 1,
            latest_checkpoint_size: Some(4),
            trust: crate::ledger_trust::TrustFacts::default(),
            personal_data: crate::personal_data::PersonalDataFacts::default(),
        };
        assert_eq!(
            verified.text(),
            "ledger OK: 5 entries, tree head ab, 1 signed checkpoint, 2 signed operator requests re-checked"
        );
        let json = verified.to_json();
        assert_eq!(json["latest_checkpoint_size"], 4);
        assert_eq!(json["operator_requests_verified"], 2);
        assert_eq!(json["ok"], true);
    }
}
