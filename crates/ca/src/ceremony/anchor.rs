//! Anchoring a ceremony record in a ledger export: a record verifies on its own, but a
//! self-consistent forgery (new keys throughout) would too, and the fields no signature
//! covers (operator, times, attribute evidence) could be changed unseen. With
//! `ceremony verify --ledger-export DIR` the export is verified first (audit key,
//! checkpoints, tree), then the record must be exactly the one a `ceremony.completed`
//! entry holds, and each custodian key must be the one enrolled before it.

use super::error::{unanchored, CeremonyError, Context, Result};
use super::record::{canonical_bytes, Record};
use super::statement::sha256_hex;
use shuin_ledger::Entry;
use std::io::BufRead;
use std::path::Path;

/// Where the record was found.
#[derive(Debug, serde::Serialize)]
pub struct Anchor {
    /// Seq of the `ceremony.completed` entry.
    pub completed_seq: u64,
    /// Seqs of the custodians' `ceremony.custodian_enrolled` entries.
    pub enrolment_seqs: Vec<u64>,
    /// Entries in the verified export.
    pub export_entries: u64,
    /// SHA-256 of the audit key that signed the export's checkpoints.
    pub audit_key_sha256: String,
}

/// Verifies the export, then finds the record and the custodians' enrolments in it.
pub fn anchor(record: &Record, export: &Path) -> Result<Anchor> {
    let report = shuin_ledger::verify_export(export, None).map_err(CeremonyError::LedgerExport)?;
    let record_sha256 = sha256_hex(&canonical_bytes(record)?);
    let path = export.join(shuin_ledger::export::ENTRIES_FILE);
    let file = std::fs::File::open(&path).context(path.display())?;
    let mut completed = None;
    let mut enrolments: Vec<(String, String, u64)> = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.context(path.display())?;
        let entry = Entry::from_canonical(line.as_bytes())
            .map_err(|e| unanchored(format!("{}: {e}", path.display())))?;
        let text = |field: &str| {
            entry.payload[field]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_default()
        };
        match entry.kind.as_str() {
            "ceremony.custodian_enrolled" => {
                enrolments.push((text("name"), text("public_key"), entry.seq));
            }
            "ceremony.completed"
                if text("ceremony_id") == record.statement.ceremony_id
                    && text("record_sha256") == record_sha256 =>
            {
                let held = canonical_bytes(&entry.payload["record"])?;
                if sha256_hex(&held) == record_sha256 {
                    completed = Some(entry.seq);
                    break;
                }
            }
            _ => {}
        }
    }
    let completed_seq = completed.ok_or_else(|| {
        unanchored(format!(
            "no ceremony.completed entry of the ledger export holds this record (sha256 {record_sha256}): the record differs from the one in the facility book"
        ))
    })?;
    let mut enrolment_seqs = Vec::new();
    for custodian in &record.custodian_keys {
        let seq = enrolments
            .iter()
            .find(|(name, key, _)| *name == custodian.name && *key == custodian.public_key)
            .map(|(_, _, seq)| *seq)
            .ok_or_else(|| {
                unanchored(format!(
                    "the key of custodian {:?} was not enrolled in the organisation book before the ceremony",
                    custodian.name
                ))
            })?;
        enrolment_seqs.push(seq);
    }
    Ok(Anchor {
        completed_seq,
        enrolment_seqs,
        export_entries: report.size,
        audit_key_sha256: report.key_sha256_hex,
    })
}
