//! The audit pack (docs/audit-pack.md): maps each survey item of docs/criteria.md and
//! each modernisation condition to the evidence the instance gathers itself, or marks it
//! organisational. [`gather`] reads the books and the store; [`Pack`] is `pack.json` and
//! `index.html`. The caller writes the files and the ledger export beside them.

mod catalogue;
mod facts;
mod html;
mod keys;

pub use catalogue::{Evidence, Item};
pub use facts::{
    file_digest, gather, AuditStore, CheckpointCheck, Facts, Gathered, InstanceSettings,
    KindRecord, RegisteredOperator,
};

use serde_json::{json, Value};

/// The pack's format name.
pub const FORMAT: &str = "shuin-audit-pack/1";

/// A boxed error from the caller (its checkpoint check).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why the facts could not be gathered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditPackError {
    /// Reading the store failed.
    #[error("{what}: {source}")]
    Read {
        /// What was being read.
        what: &'static str,
        /// The storage error.
        #[source]
        source: shuin_store::StoreError,
    },
    /// A stored ledger entry does not decode.
    #[error("ledger entry {seq}: {source}")]
    Entry {
        /// Its sequence number.
        seq: u64,
        /// Why.
        #[source]
        source: shuin_ledger::LedgerError,
    },
    /// The retention overview failed.
    #[error("{0}")]
    Retention(#[from] crate::retention::RetentionError),
}

/// The pack: its document (`pack.json`), and the items and conditions it lists.
#[derive(Debug, Clone)]
pub struct Pack {
    /// `pack.json`.
    pub document: Value,
    /// The survey items.
    pub items: Vec<Item>,
    /// The modernisation conditions.
    pub conditions: Vec<Item>,
}

impl Pack {
    /// The pack of `facts`, made by `shuin_version`.
    pub fn new(facts: &Facts, shuin_version: &str) -> Pack {
        let (items, conditions) = catalogue::catalogue(facts);
        let count = |status: &str| {
            items
                .iter()
                .chain(conditions.iter())
                .filter(|i| i.status == status)
                .count()
        };
        let document = json!({
            "format": FORMAT,
            "generated_at": facts.generated_at,
            "shuin_version": shuin_version,
            "criteria": "docs/criteria.md",
            "instance": {
                "public_url": facts.instance.public_url,
                "development": facts.instance.development,
            },
            "summary": {
                "items": items.len(),
                "conditions": conditions.len(),
                "evidence": count("evidence"),
                "partial": count("partial"),
                "organisational": count("organisational"),
            },
            "items": items,
            "conditions": conditions,
            "key_backend": {
                "status": facts.status,
                "issuing_key": facts.instance.issuing_key,
            },
            "keys": keys::section(facts),
            "seal": facts.status["seal"],
            "zone_policy": catalogue::zone_policy(),
            "crl": facts.crl,
            "retention": facts.retention,
            "ledger": {
                "books": facts.books,
                "verification": facts.ledger_verification,
                "latest_checkpoint": facts.latest_checkpoint,
                "export": facts.export,
            },
            "counts": facts.counts,
            "files": facts.files,
        });
        Pack {
            document,
            items,
            conditions,
        }
    }

    /// How many items and conditions have `status` (`evidence`, `partial`,
    /// `organisational`).
    pub fn count(&self, status: &str) -> usize {
        self.items
            .iter()
            .chain(self.conditions.iter())
            .filter(|i| i.status == status)
            .count()
    }

    /// `index.html`: one self-contained static page, every text escaped.
    pub fn html(&self) -> String {
        html::render(&self.document, &self.items, &self.conditions)
    }

    /// What `shuin audit pack --json` prints once the pack is written to `out`.
    pub fn summary_json(&self, out: &str) -> Value {
        json!({
            "ok": true,
            "out": out,
            "summary": self.document["summary"],
            "ledger_export_verified": self.document["ledger"]["export"]["verified"]["ok"],
        })
    }

    /// What `shuin audit pack` prints once the pack is written to `out`, whose page is
    /// `index`.
    pub fn summary_text(&self, out: &str, index: &str) -> String {
        format!(
            "audit pack written to {out}: {} survey items and {} conditions ({} with evidence, {} partial, {} organisational)\nopen {index}",
            self.items.len(),
            self.conditions.len(),
            self.count("evidence"),
            self.count("partial"),
            self.count("organisational")
        )
    }
}

/// The pack's facts about its ledger export in `ledger-export/`, verified after writing.
pub fn export_verified(
    summary: &shuin_ledger::export::ExportSummary,
    report: &shuin_ledger::ExportReport,
) -> Value {
    json!({
        "dir": "ledger-export",
        "entries": summary.entries,
        "checkpoints": summary.checkpoints,
        "verified": {
            "ok": true,
            "origin": report.origin,
            "size": report.size,
            "root": report.root_hex,
            "audit_key_id": report.key_id_hex,
            "audit_key_sha256": report.key_sha256_hex,
        },
        "verify_with": "shuin ledger verify --export ledger-export",
    })
}

/// The pack's facts when no export could be written (a sealed instance cannot sign a
/// fresh checkpoint): the pack says so.
pub fn export_failed(error: &dyn std::fmt::Display) -> Value {
    json!({"dir": null, "verified": {"ok": false, "error": error.to_string()}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_facts_say_whether_it_verified() {
        let failed = export_failed(&"sealed");
        assert_eq!(failed["verified"], json!({"ok": false, "error": "sealed"}));
        assert!(failed["dir"].is_null());
        let summary = shuin_ledger::export::ExportSummary {
            entries: 3,
            checkpoints: 1,
        };
        let report = shuin_ledger::ExportReport {
            origin: "o".into(),
            size: 3,
            root_hex: "ab".into(),
            counts: shuin_ledger::BookCounts::default(),
            checkpoints: 1,
            key_id_hex: "01".into(),
            key_sha256_hex: "cd".into(),
            since_size: None,
            operator_requests: 0,
            manifest_pin: None,
            pin_checked: false,
        };
        let verified = export_verified(&summary, &report);
        assert_eq!(verified["verified"]["ok"], true);
        assert_eq!(verified["entries"], 3);
        assert_eq!(verified["dir"], "ledger-export");
    }
}
