//! What the audit pack gathers from the instance itself: the configuration and status,
//! the books (ledger entries by kind), the verification of the ledger and of its export,
//! the latest checkpoint, CRL freshness, the operator registry and the retention state.

use super::AuditPackError;
use crate::retention::RetentionPolicy;
use sha2::{Digest, Sha256};
use shuin_core::timefmt::rfc3339;
use shuin_core::Role;
use shuin_ledger::{Book, Entry, StoredEntry};
use shuin_store::{
    ApplicationStatus, ApplicationStore, CertificateReader, CertificateState, CrlStore,
    EvidenceRetention, LedgerReader, LedgerStore, RevocationStore, StoredCheckpoint,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

/// What the audit pack reads from storage.
pub trait AuditStore:
    LedgerStore
    + LedgerReader
    + CrlStore
    + EvidenceRetention
    + ApplicationStore
    + CertificateReader
    + RevocationStore
{
}

impl<T> AuditStore for T where
    T: LedgerStore
        + LedgerReader
        + CrlStore
        + EvidenceRetention
        + ApplicationStore
        + CertificateReader
        + RevocationStore
        + ?Sized
{
}

/// Checks the stored checkpoints against the ledger rows (the caller knows how the audit
/// key is found in the facility book).
pub type CheckpointCheck<'a> =
    &'a (dyn Fn(&[StoredEntry], &[StoredCheckpoint]) -> Result<(), super::BoxError> + Send + Sync);

/// The instance's settings the pack cites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSettings {
    /// `instance.public_url`.
    pub public_url: String,
    /// `instance.development`.
    pub development: bool,
    /// `ca.issuing_key` (its URI).
    pub issuing_key: String,
    /// `ca.policy_oid`.
    pub policy_oid: String,
    /// `ca.subscriber_validity_days`.
    pub subscriber_validity_days: u32,
    /// `ra.responsible_person` as configured.
    pub responsible_person: String,
    /// `ra.automatic_approval`.
    pub automatic_approval: bool,
    /// `ra.nonce_ttl_seconds`.
    pub nonce_ttl_seconds: u64,
    /// How many outside publishers are configured.
    pub publishers: usize,
    /// The version of the automatic approval rule.
    pub rule_version: String,
    /// `[retention]`.
    pub retention: RetentionPolicy,
    /// `[ledger] audit_key_sha256`: the pinned audit key, if any.
    pub audit_key_sha256: Option<String>,
}

/// A registered operator, as the organisation book's registry holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredOperator {
    /// The name that goes into the ledger.
    pub name: String,
    /// Roles held.
    pub roles: Vec<Role>,
    /// When first registered (RFC 3339).
    pub added_at: String,
}

/// What the caller gathers from outside this crate: the configuration, `shuin status`,
/// the ledger export written into the pack, the files, and the operator registry.
#[derive(Debug, Clone)]
pub struct Gathered {
    /// The instance's settings.
    pub instance: InstanceSettings,
    /// `shuin status`: key backend (token facts, declared FIPS validation), FIPS mode,
    /// seal.
    pub status: serde_json::Value,
    /// The export written into the pack and its verification.
    pub export: serde_json::Value,
    /// Digests of the instance's files ([`file_digest`]), by name.
    pub files: serde_json::Value,
    /// The operator registry.
    pub operators: Vec<RegisteredOperator>,
    /// The responsible person the registry designates, if it has taken one in yet.
    pub responsible_person: Option<String>,
    /// The stored automation state (the setting's text), if any.
    pub automation_state: Option<String>,
}

/// The ledger entries of one kind.
#[derive(Debug, Clone, Default)]
pub struct KindRecord {
    /// How many.
    pub count: u64,
    /// The latest one.
    pub latest: Option<Entry>,
}

/// Everything the catalogue draws on.
#[derive(Debug)]
pub struct Facts {
    /// When the pack was made (RFC 3339).
    pub generated_at: String,
    /// The instance's settings.
    pub instance: InstanceSettings,
    /// `shuin status`: key backend (token facts, declared FIPS validation), FIPS mode, seal.
    pub status: serde_json::Value,
    /// The ledger entries by kind.
    pub kinds: BTreeMap<String, KindRecord>,
    /// Entries per book.
    pub books: BTreeMap<&'static str, u64>,
    /// Verification of the database's ledger.
    pub ledger_verification: serde_json::Value,
    /// The latest signed checkpoint (C2SP note text).
    pub latest_checkpoint: Option<serde_json::Value>,
    /// The export written into the pack and its verification.
    pub export: serde_json::Value,
    /// The latest CRL and its freshness.
    pub crl: serde_json::Value,
    /// `shuin_books::retention::overview`.
    pub retention: serde_json::Value,
    /// The operator registry and the designated responsible person.
    pub operators: serde_json::Value,
    /// The stored automation state.
    pub automation_state: Option<String>,
    /// Applications, certificates, revocations and ledger entries counted.
    pub counts: serde_json::Value,
    /// Digests of the instance's files.
    pub files: serde_json::Value,
}

impl Facts {
    /// The record of one kind (empty when there is none yet).
    pub fn kind(&self, kind: &str) -> KindRecord {
        self.kinds.get(kind).cloned().unwrap_or_default()
    }

    /// The records of every kind starting with `prefix`.
    pub fn kinds_with_prefix(&self, prefix: &str) -> Vec<(&str, &KindRecord)> {
        self.kinds
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v))
            .collect()
    }
}

/// The SHA-256 and size of `dir/path`, or the error reading it, as JSON.
pub fn file_digest(dir: &Path, path: &Path) -> serde_json::Value {
    let full = dir.join(path);
    match std::fs::read(&full) {
        Ok(bytes) => serde_json::json!({
            "path": path,
            "sha256": hex::encode(Sha256::digest(&bytes)),
            "bytes": bytes.len(),
        }),
        Err(e) => serde_json::json!({"path": path, "error": e.to_string()}),
    }
}

fn book_name(book: Book) -> &'static str {
    match book {
        Book::Application => "application",
        Book::Revocation => "revocation",
        Book::Organization => "organization",
        Book::Facility => "facility",
    }
}

/// Reads the books and verifies them against the stored tree head and checkpoints.
async fn books<S: AuditStore + ?Sized>(
    facts: &mut Facts,
    store: &S,
    check_checkpoints: CheckpointCheck<'_>,
) -> Result<(), AuditPackError> {
    let rows = store
        .ledger_rows()
        .await
        .map_err(read("reading the ledger"))?;
    let head = store
        .ledger_head()
        .await
        .map_err(read("reading the tree head"))?;
    let checkpoints = store
        .checkpoints()
        .await
        .map_err(read("reading the checkpoints"))?;
    for row in &rows {
        let entry =
            Entry::from_canonical(&row.canonical).map_err(|source| AuditPackError::Entry {
                seq: row.seq,
                source,
            })?;
        *facts.books.entry(book_name(entry.book)).or_default() += 1;
        let record = facts.kinds.entry(entry.kind.clone()).or_default();
        record.count += 1;
        record.latest = Some(entry);
    }
    let verified = shuin_ledger::verify_log(rows.clone(), head.as_ref())
        .map_err(|e| e.to_string())
        .and_then(|report| {
            check_checkpoints(&rows, &checkpoints)
                .map_err(|e| e.to_string())
                .map(|()| report)
        });
    // Kept personal data records against the entries' commitments.
    let personal = crate::personal_data::check_records(store, &rows)
        .await
        .map_err(|e| e.to_string());
    facts.ledger_verification = match verified.and_then(|report| Ok((report, personal?))) {
        Ok((report, personal)) => serde_json::json!({
            "ok": true,
            "entries": report.size,
            "root": report.root_hex,
            "checkpoints": checkpoints.len(),
            "personal_data_records_checked": personal.checked,
            "personal_data_records_absent": personal.absent,
        }),
        Err(error) => serde_json::json!({"ok": false, "error": error}),
    };
    facts.latest_checkpoint = checkpoints
        .last()
        .map(|c| serde_json::json!({"size": c.size, "note": c.note}));
    Ok(())
}

/// Reads the books and the store and gathers the facts, with what the caller gathered.
pub async fn gather<S: AuditStore + ?Sized>(
    store: &S,
    gathered: Gathered,
    check_checkpoints: CheckpointCheck<'_>,
    now: SystemTime,
) -> Result<Facts, AuditPackError> {
    let Gathered {
        instance,
        status,
        export,
        files,
        operators,
        responsible_person,
        automation_state,
    } = gathered;
    let mut facts = Facts {
        generated_at: rfc3339(now),
        instance,
        status,
        kinds: BTreeMap::new(),
        books: BTreeMap::new(),
        ledger_verification: serde_json::Value::Null,
        latest_checkpoint: None,
        export,
        crl: serde_json::Value::Null,
        retention: serde_json::Value::Null,
        operators: serde_json::Value::Null,
        automation_state,
        counts: serde_json::Value::Null,
        files,
    };
    books(&mut facts, store, check_checkpoints).await?;
    fill(&mut facts, store, &operators, responsible_person, now).await?;
    Ok(facts)
}

fn read(what: &'static str) -> impl Fn(shuin_store::StoreError) -> AuditPackError {
    move |source| AuditPackError::Read { what, source }
}

async fn fill<S: AuditStore + ?Sized>(
    facts: &mut Facts,
    store: &S,
    operators: &[RegisteredOperator],
    responsible_person: Option<String>,
    now: SystemTime,
) -> Result<(), AuditPackError> {
    facts.crl = match store
        .latest_crl("ca")
        .await
        .map_err(read("reading the CRL"))?
    {
        Some(crl) => serde_json::json!({
            "scope": "ca",
            "number": crl.number,
            "this_update": rfc3339(crl.this_update),
            "next_update": rfc3339(crl.next_update),
            "fresh": now < crl.next_update,
            "sha256": hex::encode(Sha256::digest(&crl.der)),
        }),
        None => serde_json::json!({"scope": "ca", "fresh": false, "note": "no CRL issued yet"}),
    };
    facts.retention = crate::retention::overview(store, &facts.instance.retention, now).await?;
    // The registry takes the designation in at the first operator command; before that,
    // the designation entry written at init names the person.
    let designated = match responsible_person {
        Some(name) => Some(name),
        None => facts
            .kind("organization.responsible_person_designated")
            .latest
            .and_then(|e| e.payload["responsible_person"].as_str().map(str::to_owned)),
    };
    facts.operators = serde_json::json!({
        "operators": operators.iter().map(|op| serde_json::json!({
            "name": op.name, "roles": op.roles, "added_at": op.added_at,
        })).collect::<Vec<_>>(),
        "designated_responsible_person": designated,
    });
    let mut applications = serde_json::Map::new();
    for status in [
        ApplicationStatus::PendingReview,
        ApplicationStatus::Approved,
        ApplicationStatus::Issued,
        ApplicationStatus::Rejected,
    ] {
        let n = store
            .applications_with_status(status)
            .await
            .map_err(read("reading the applications"))?
            .len();
        applications.insert(status.as_str().into(), n.into());
    }
    facts.counts = serde_json::json!({
        "applications": applications,
        "certificates_issued": store.issued_count().await.map_err(read("reading the certificates"))?,
        "certificates_undelivered": store
            .certificates_in_state(CertificateState::Undelivered)
            .await
            .map_err(read("reading the certificates"))?
            .len(),
        "revocations": store.revocations().await.map_err(read("reading the revocations"))?.len(),
        "ledger_size": store.ledger_size().await.map_err(read("reading the ledger"))?,
    });
    Ok(())
}
