//! What the audit pack gathers from the instance itself: the configuration and status,
//! the books (ledger entries by kind), the verification of the ledger and of its export,
//! the latest checkpoint, CRL freshness, the operator registry and the retention state.

use crate::config::InstanceConfig;
use crate::failure::{Context, Result};
use sha2::{Digest, Sha256};
use shuin_core::timefmt::rfc3339;
use shuin_ledger::{Book, Entry};
use shuin_store::sqlite::SqliteStore;
use shuin_store::{
    ApplicationStatus, ApplicationStore, CertificateReader, CertificateState, CrlStore,
    LedgerReader, LedgerStore, RevocationStore, SettingsStore,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

/// The ledger entries of one kind.
#[derive(Debug, Clone, Default)]
pub(crate) struct KindRecord {
    /// How many.
    pub(crate) count: u64,
    /// The latest one.
    pub(crate) latest: Option<Entry>,
}

/// Everything the catalogue draws on.
#[derive(Debug)]
pub(crate) struct Facts {
    pub(crate) generated_at: String,
    pub(crate) config: InstanceConfig,
    /// `shuin status`: key backend (token facts, declared FIPS validation), FIPS mode, seal.
    pub(crate) status: serde_json::Value,
    pub(crate) kinds: BTreeMap<String, KindRecord>,
    pub(crate) books: BTreeMap<&'static str, u64>,
    /// Verification of the database's ledger.
    pub(crate) ledger_verification: serde_json::Value,
    /// The latest signed checkpoint (C2SP note text).
    pub(crate) latest_checkpoint: Option<serde_json::Value>,
    /// The export written into the pack and its verification.
    pub(crate) export: serde_json::Value,
    pub(crate) crl: serde_json::Value,
    pub(crate) retention: serde_json::Value,
    pub(crate) operators: serde_json::Value,
    pub(crate) automation_state: Option<String>,
    pub(crate) counts: serde_json::Value,
    pub(crate) files: serde_json::Value,
}

impl Facts {
    /// The record of one kind (empty when there is none yet).
    pub(crate) fn kind(&self, kind: &str) -> KindRecord {
        self.kinds.get(kind).cloned().unwrap_or_default()
    }

    /// The records of every kind starting with `prefix`.
    pub(crate) fn kinds_with_prefix(&self, prefix: &str) -> Vec<(&str, &KindRecord)> {
        self.kinds
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v))
            .collect()
    }
}

fn file_digest(dir: &Path, path: &Path) -> serde_json::Value {
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
async fn books(facts: &mut Facts, store: &SqliteStore) -> Result<()> {
    let rows = store.ledger_rows().await.context("reading the ledger")?;
    let head = store.ledger_head().await.context("reading the tree head")?;
    let checkpoints = store
        .checkpoints()
        .await
        .context("reading the checkpoints")?;
    for row in &rows {
        let entry = Entry::from_canonical(&row.canonical)
            .map_err(|e| crate::failure::msg(format!("ledger entry {}: {e}", row.seq)))?;
        *facts.books.entry(book_name(entry.book)).or_default() += 1;
        let record = facts.kinds.entry(entry.kind.clone()).or_default();
        record.count += 1;
        record.latest = Some(entry);
    }
    let key = crate::ledger_cmd::audit_key_from_ledger(&rows);
    let verified = shuin_ledger::verify_log(rows.clone(), head.as_ref())
        .map_err(|e| e.to_string())
        .and_then(|report| {
            crate::ledger_cmd::check_stored_checkpoints(&rows, &checkpoints, key.as_ref())
                .map_err(|e| e.to_string())
                .map(|()| report)
        });
    facts.ledger_verification = match verified {
        Ok(report) => serde_json::json!({
            "ok": true,
            "entries": report.size,
            "root": report.root_hex,
            "checkpoints": checkpoints.len(),
        }),
        Err(error) => serde_json::json!({"ok": false, "error": error}),
    };
    facts.latest_checkpoint = checkpoints
        .last()
        .map(|c| serde_json::json!({"size": c.size, "note": c.note}));
    Ok(())
}

/// Gathers the facts; `export` is the result of writing the ledger export into the pack.
pub(crate) async fn gather(
    dir: &Path,
    config: InstanceConfig,
    export: serde_json::Value,
    now: SystemTime,
) -> Result<Facts> {
    let status = crate::status_cmd::report(dir, &config).await?;
    let files = serde_json::json!({
        "terms": file_digest(dir, &config.ra.terms),
        "cps": file_digest(dir, &config.instance.cps),
        "root_certificate": file_digest(dir, &config.ca.root_certificate),
        "issuing_certificate": file_digest(dir, &config.ca.issuing_certificate),
        "jpki_crl": file_digest(dir, &config.jpki.crl),
    });
    let store = crate::runtime::open_store(dir).await?;
    let mut facts = Facts {
        generated_at: rfc3339(now),
        config,
        status,
        kinds: BTreeMap::new(),
        books: BTreeMap::new(),
        ledger_verification: serde_json::Value::Null,
        latest_checkpoint: None,
        export,
        crl: serde_json::Value::Null,
        retention: serde_json::Value::Null,
        operators: serde_json::Value::Null,
        automation_state: None,
        counts: serde_json::Value::Null,
        files,
    };
    let result = fill(&mut facts, &store, now).await;
    store.close().await;
    result?;
    Ok(facts)
}

async fn fill(facts: &mut Facts, store: &SqliteStore, now: SystemTime) -> Result<()> {
    books(facts, store).await?;
    facts.crl = match store.latest_crl("ca").await.context("reading the CRL")? {
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
    facts.retention =
        shuin_books::retention::overview(store, &facts.config.retention.policy(), now)
            .await
            .map_err(crate::retention_cmd::failed)?;
    let operators = shuin_ra::operators::operators(store)
        .await
        .map_err(|e| crate::failure::msg(e.to_string()))?;
    // The registry takes the designation in at the first operator command; before that,
    // the designation entry written at init names the person.
    let designated = match shuin_ra::operators::responsible_person(store)
        .await
        .map_err(|e| crate::failure::msg(e.to_string()))?
    {
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
    facts.automation_state = store
        .setting(shuin_ra::automation::AUTOMATION_SETTING)
        .await
        .context("reading the automation state")?;
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
            .context("reading the applications")?
            .len();
        applications.insert(status.as_str().into(), n.into());
    }
    facts.counts = serde_json::json!({
        "applications": applications,
        "certificates_issued": store.issued_count().await.context("reading the certificates")?,
        "certificates_undelivered": store
            .certificates_in_state(CertificateState::Undelivered)
            .await
            .context("reading the certificates")?
            .len(),
        "revocations": store.revocations().await.context("reading the revocations")?.len(),
        "ledger_size": store.ledger_size().await.context("reading the ledger")?,
    });
    Ok(())
}
