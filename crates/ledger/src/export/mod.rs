//! The offline export of the ledger, for auditors (DESIGN.md section 5, "Verification").
//!
//! An export is a directory:
//!
//! ```text
//! X/manifest.json                 {"format": "shuin-ledger-export/1", "origin": "<origin>", ...}
//! X/entries.jsonl                 one entry per line, seq 0, 1, 2, ...: the entry's RFC 8785
//!                                 canonical JSON exactly as stored and hashed, then "\n"
//! X/checkpoints/<size>.note       C2SP signed checkpoints, <size> zero-padded to 20 digits;
//!                                 the last one covers every entry of the export
//! X/audit-key.pem                 the audit key's SubjectPublicKeyInfo ("PUBLIC KEY" PEM)
//! ```
//!
//! The manifest's other fields (entry count, key ID, verifier key string) are for
//! people; [`verify_export`] trusts only `format` and `origin` from it, and everything
//! it concludes rests on the checkpoint signatures. The key name of the audit key is the
//! origin.
//!
//! Writing and reading the directory is the only I/O in this crate; the checks
//! themselves ([`verify_export_parts`]) work on readers and strings.

mod cosigned;
mod lines;
mod progress;
mod verify;
mod writer;

pub use cosigned::{
    verify_export_cosignatures, CosignatureCheckError, CosignatureReport, PolicyReadError,
    QuorumError, WitnessPolicy,
};
pub use progress::{Progress, Quiet};
pub use verify::{verify_export_parts, verify_export_pinned, ExportError, ExportReport};
pub use writer::ExportWriter;

use std::path::{Path, PathBuf};

use crate::note::NoteKey;
use crate::StoredEntry;

/// The `format` of the manifest.
pub const FORMAT: &str = "shuin-ledger-export/1";
/// The manifest file name.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The entries file name.
pub const ENTRIES_FILE: &str = "entries.jsonl";
/// The checkpoints directory name.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// The audit public key file name.
pub const AUDIT_KEY_FILE: &str = "audit-key.pem";

/// The file name of the checkpoint of `size` entries inside [`CHECKPOINTS_DIR`].
pub fn checkpoint_file_name(size: u64) -> String {
    format!("{size:020}.note")
}

/// What [`write_export`] wrote.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ExportSummary {
    /// Entries written.
    pub entries: u64,
    /// Checkpoints written.
    pub checkpoints: usize,
}

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// A file could not be written.
    #[error("cannot write {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The target exists and is not an empty directory.
    #[error("{path} exists and is not empty; choose a new directory")]
    NotEmpty {
        /// The target.
        path: PathBuf,
    },
    /// A row holds a newline (never true of canonical JSON) or is out of order.
    #[error("ledger row {seq} cannot be exported: {reason}")]
    BadRow {
        /// The row.
        seq: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A stored checkpoint is not a signed checkpoint.
    #[error("stored checkpoint number {index} (from 0) is malformed")]
    BadCheckpoint {
        /// Its position in the list given.
        index: usize,
        /// The cause.
        #[source]
        source: crate::checkpoint::CheckpointError,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes an export of `rows` (in seq order) with the signed `checkpoints` (notes) into
/// the new or empty directory `dir`, naming the instance's `pin` of the audit key in the
/// manifest. The caller makes sure the last checkpoint covers every row.
///
/// # Errors
///
/// A [`WriteError`] naming the file or row.
pub fn write_export(
    dir: &Path,
    rows: impl IntoIterator<Item = StoredEntry>,
    checkpoints: &[String],
    key: &NoteKey,
    pin: Option<&crate::AuditKeyPin>,
) -> Result<ExportSummary, WriteError> {
    write_export_with(dir, rows, checkpoints, key, pin, &Quiet)
}

/// [`write_export`], telling `progress` of each entry written.
///
/// # Errors
///
/// A [`WriteError`] naming the file or row.
pub fn write_export_with(
    dir: &Path,
    rows: impl IntoIterator<Item = StoredEntry>,
    checkpoints: &[String],
    key: &NoteKey,
    pin: Option<&crate::AuditKeyPin>,
    progress: &dyn Progress,
) -> Result<ExportSummary, WriteError> {
    let mut writer = ExportWriter::create(dir)?;
    let rows = rows.into_iter();
    let total = rows.size_hint().1.and_then(|n| u64::try_from(n).ok());
    progress.phase("writing entries", total);
    for row in rows {
        writer.append(&row)?;
        progress.advance(1);
    }
    progress.end();
    writer.finish(checkpoints, key, pin)
}

/// Verifies the export in `dir` (see [`verify_export_parts`]), and, when given, that it
/// extends `since_checkpoint`, a signed checkpoint saved from an earlier export or from
/// `GET /ledger/v1/checkpoint`.
///
/// # Errors
///
/// The first [`ExportError`] found, naming the file, line, seq or checkpoint at fault.
pub fn verify_export(
    dir: &Path,
    since_checkpoint: Option<&str>,
) -> Result<ExportReport, ExportError> {
    verify_export_with(dir, since_checkpoint, &Quiet)
}

/// [`verify_export`], telling `progress` of the bytes of `entries.jsonl` checked, in
/// each of its two passes (the tree, then the signed operator requests).
///
/// # Errors
///
/// The first [`ExportError`] found, naming the file, line, seq or checkpoint at fault.
pub fn verify_export_with(
    dir: &Path,
    since_checkpoint: Option<&str>,
    progress: &dyn Progress,
) -> Result<ExportReport, ExportError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(|source| ExportError::Io { path, source })
    };
    let manifest = read(MANIFEST_FILE)?;
    let key_pem = read(AUDIT_KEY_FILE)?;
    let checkpoint_dir = dir.join(CHECKPOINTS_DIR);
    let listing = std::fs::read_dir(&checkpoint_dir).map_err(|source| ExportError::Io {
        path: checkpoint_dir.clone(),
        source,
    })?;
    let mut checkpoints = Vec::new();
    for item in listing {
        let item = item.map_err(|source| ExportError::Io {
            path: checkpoint_dir.clone(),
            source,
        })?;
        let name = item.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".note") {
            continue;
        }
        let text = std::fs::read_to_string(item.path()).map_err(|source| ExportError::Io {
            path: item.path(),
            source,
        })?;
        checkpoints.push((format!("{CHECKPOINTS_DIR}/{name}"), text));
    }
    checkpoints.sort();
    let entries_path = dir.join(ENTRIES_FILE);
    let entries = std::fs::File::open(&entries_path).map_err(|source| ExportError::Io {
        path: entries_path.clone(),
        source,
    })?;
    let size = entries.metadata().ok().map(|m| m.len());
    progress.phase("verifying entries", size);
    let report = verify_export_parts(
        &manifest,
        &key_pem,
        &checkpoints,
        progress::Counted::new(std::io::BufReader::new(entries), progress),
        since_checkpoint,
    );
    progress.end();
    let mut report = report?;
    progress.phase("re-checking operator requests", size);
    let requests = audit_operator_requests(&entries_path, progress);
    progress.end();
    report.operator_requests = requests?;
    Ok(report)
}

/// Second pass over verified entries: every signed operator request re-checked against
/// the operator's certificate ([`crate::operator_audit`]). Returns how many.
fn audit_operator_requests(path: &Path, progress: &dyn Progress) -> Result<u64, ExportError> {
    use std::io::BufRead;
    let io = |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut audit = crate::operator_audit::RequestAudit::new();
    for line in progress::Counted::new(std::io::BufReader::new(file), progress).split(b'\n') {
        audit
            .observe_canonical(&line.map_err(io)?)
            .map_err(|e| ExportError::OperatorRequest {
                seq: e.seq,
                reason: e.reason,
            })?;
    }
    Ok(audit.checked())
}
