//! Offline verification of an export (see the [parent module](super) for the layout).
//!
//! [`verify_export_parts`] checks, trusting nothing but the audit key's signatures:
//!
//! 1. the manifest names the format and the origin;
//! 2. every checkpoint is a C2SP checkpoint of that origin signed by the audit key
//!    (key name = origin), and no two checkpoints of the same size differ;
//! 3. the saved checkpoint, if given, is signed by the same key for the same origin;
//! 4. `entries.jsonl` holds, line by line, the canonical entries seq 0, 1, 2, ... with
//!    no line deleted, duplicated or reordered and no field edited in a way that breaks
//!    the canonical form;
//! 5. streaming the leaf hashes `SHA-256(0x00 || line)` into a [`CompactTree`], the root
//!    at each checkpoint's size equals the signed root, which catches any edit that keeps
//!    the canonical form;
//! 6. the last checkpoint covers every line (nothing appended or truncated), and the
//!    saved checkpoint's root equals the export's tree at its size. Recomputing that root
//!    from the leaves is the strongest form of an RFC 9162 consistency check: a replaced
//!    or rewritten history cannot match a checkpoint saved before.
//!
//! Decoding each line and hashing it run on worker threads, one batch of lines each
//! ([`super::lines`]); the results are taken in line order, so the checks, and the first
//! error reported, are the same as a line-by-line pass. Memory stays O(log n +
//! checkpoints) plus a fixed window of lines, whatever the export size.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::note::{NoteError, NoteKey};
use crate::trust::{AuditKeyPin, TrustError};
use crate::{BookCounts, CompactTree, LedgerError};

use super::{lines, FORMAT};

/// What a successful verification established.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ExportReport {
    /// The log's origin.
    pub origin: String,
    /// Entries verified.
    pub size: u64,
    /// The root of all entries, lowercase hex (equal to the last checkpoint's).
    pub root_hex: String,
    /// Entries per book.
    pub counts: BookCounts,
    /// Checkpoints verified.
    pub checkpoints: usize,
    /// The audit key's note key ID, hex.
    pub key_id_hex: String,
    /// SHA-256 of the audit key's SubjectPublicKeyInfo, hex (compare it with the value
    /// published by the CA or recorded in the facility book).
    pub key_sha256_hex: String,
    /// The size of the saved checkpoint the export was shown to extend.
    pub since_size: Option<u64>,
    /// Signed operator requests whose signature and certificate were re-checked.
    pub operator_requests: u64,
    /// The pin the exporting instance had (`audit_key.pinned_sha256` in the manifest),
    /// checked to be the export's key.
    pub manifest_pin: Option<String>,
    /// Whether the key was also checked against a pin the verifier gave.
    pub pin_checked: bool,
}

/// Verifies the export in `dir` ([`super::verify_export`]), against the checkpoint saved
/// in the file `since` if given, and its audit key against `pin` (lowercase or
/// uppercase hex SHA-256 of the key) if given.
///
/// # Errors
///
/// The first [`ExportError`]; a wrong or unreadable pin is [`ExportError::Trust`].
pub fn verify_export_pinned(
    dir: &Path,
    since: Option<&Path>,
    pin: Option<&str>,
    progress: &dyn super::Progress,
) -> Result<ExportReport, ExportError> {
    let pin = pin
        .map(AuditKeyPin::parse)
        .transpose()
        .map_err(ExportError::Trust)?;
    let saved = since
        .map(|path| {
            std::fs::read_to_string(path).map_err(|source| ExportError::Io {
                path: path.to_owned(),
                source,
            })
        })
        .transpose()?;
    let mut report = super::verify_export_with(dir, saved.as_deref(), progress)?;
    if let Some(pin) = &pin {
        report.check_pin(pin).map_err(ExportError::Trust)?;
    }
    Ok(report)
}

impl ExportReport {
    /// Checks the export's audit key against `pin`, the fingerprint the verifier trusts
    /// (`--audit-key-sha256`), and records that it was.
    ///
    /// # Errors
    ///
    /// [`TrustError::AuditKeyMismatch`] naming both fingerprints.
    pub fn check_pin(&mut self, pin: &AuditKeyPin) -> Result<(), TrustError> {
        if pin.hex() != self.key_sha256_hex {
            return Err(TrustError::AuditKeyMismatch {
                expected: pin.hex(),
                found: self.key_sha256_hex.clone(),
            });
        }
        self.pin_checked = true;
        Ok(())
    }
}

/// Why an export failed verification. Each message names the file, line, seq or
/// checkpoint at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The manifest is unreadable or of another format.
    #[error("manifest.json: {reason}")]
    Manifest {
        /// What is wrong.
        reason: String,
    },
    /// The audit key file is not a usable public key.
    #[error("audit-key.pem: {reason}")]
    AuditKey {
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint is malformed or its signature does not verify.
    #[error("checkpoint {file}: {source}")]
    Checkpoint {
        /// The checkpoint's file.
        file: String,
        /// The cause.
        #[source]
        source: CheckpointError,
    },
    /// A checkpoint names another origin.
    #[error("checkpoint {file} is for origin {found:?}, not this export's {expected:?}")]
    CheckpointOrigin {
        /// The checkpoint's file.
        file: String,
        /// Its origin.
        found: String,
        /// The export's origin.
        expected: String,
    },
    /// Two checkpoints claim different roots for one size.
    #[error("checkpoints {first} and {second} both cover {size} entries but with different roots: the log was forked")]
    Fork {
        /// The size.
        size: u64,
        /// One checkpoint.
        first: String,
        /// The other.
        second: String,
    },
    /// The export has no checkpoint.
    #[error("the export holds no checkpoint, so nothing in it is signed")]
    NoCheckpoint,
    /// The audit key is not the pinned one.
    #[error("{0}")]
    Trust(#[source] TrustError),
    /// The saved checkpoint does not verify with the export's audit key.
    #[error("the saved checkpoint does not verify with this export's audit key (so the key or the log was replaced): {source}")]
    SavedCheckpoint {
        /// The cause.
        #[source]
        source: CheckpointError,
    },
    /// The saved checkpoint is for another origin.
    #[error("the saved checkpoint is for origin {found:?}, not this export's {expected:?}")]
    SavedOrigin {
        /// Its origin.
        found: String,
        /// The export's origin.
        expected: String,
    },
    /// The entries file could not be read.
    #[error("cannot read entries.jsonl: {source}")]
    ReadEntries {
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The last line of the entries file lacks its newline.
    #[error("entries.jsonl line {line} has no final newline: the export is truncated")]
    IncompleteLine {
        /// 1-based line number.
        line: u64,
    },
    /// A line is not a canonical entry.
    #[error("entries.jsonl line {line}: not a canonical ledger entry: {source}")]
    MalformedEntry {
        /// 1-based line number.
        line: u64,
        /// The cause.
        #[source]
        source: LedgerError,
    },
    /// A line holds a later seq than expected.
    #[error("entries.jsonl line {line} holds seq {found} where seq {expected} was expected: a line was deleted or lines are out of order")]
    MissingEntries {
        /// 1-based line number.
        line: u64,
        /// The seq expected.
        expected: u64,
        /// The seq found.
        found: u64,
    },
    /// A line holds an earlier seq than expected.
    #[error("entries.jsonl line {line} holds seq {found} where seq {expected} was expected: a line is duplicated or out of order")]
    DuplicateOrReordered {
        /// 1-based line number.
        line: u64,
        /// The seq expected.
        expected: u64,
        /// The seq found.
        found: u64,
    },
    /// The tree at a checkpoint's size differs from the signed root.
    #[error("checkpoint {file} (size {size}) does not match the entries: their root is {computed_hex}, the signed root is {signed_hex}; an entry from seq {from_seq} to seq {last_seq} (lines {from_line}-{size}) was altered")]
    RootMismatch {
        /// The checkpoint's file.
        file: String,
        /// Its size.
        size: u64,
        /// The first seq not covered by an earlier, matching checkpoint.
        from_seq: u64,
        /// The last seq the checkpoint covers.
        last_seq: u64,
        /// `from_seq + 1`.
        from_line: u64,
        /// The root of the entries.
        computed_hex: String,
        /// The root the checkpoint signs.
        signed_hex: String,
    },
    /// A checkpoint covers more entries than the export holds.
    #[error("checkpoint {file} covers {size} entries but entries.jsonl holds only {found}: the export is truncated")]
    Truncated {
        /// The checkpoint's file.
        file: String,
        /// Its size.
        size: u64,
        /// Lines found.
        found: u64,
    },
    /// Entries follow the last checkpoint.
    #[error("entries.jsonl holds {found} entries but the last checkpoint covers only {signed}: seq {signed} onwards is not signed (lines were appended)")]
    UnsignedTail {
        /// The last checkpoint's size.
        signed: u64,
        /// Lines found.
        found: u64,
    },
    /// The saved checkpoint covers more entries than the export holds.
    #[error("the saved checkpoint covers {size} entries but this export holds only {found}: the log was truncated or rolled back")]
    SavedBeyondExport {
        /// The saved size.
        size: u64,
        /// Lines found.
        found: u64,
    },
    /// A signed operator request (or the operator certificate it rests on) does not hold.
    #[error("operator request at seq {seq:?}: {reason}")]
    OperatorRequest {
        /// The entry at fault.
        seq: Option<u64>,
        /// What does not hold.
        reason: String,
    },
    /// The export's tree at the saved checkpoint's size differs from it.
    #[error("the saved checkpoint (size {size}, root {saved_hex}) is not a prefix of this export (root at size {size}: {computed_hex}): the history was replaced or rewritten")]
    SavedRootMismatch {
        /// The saved size.
        size: u64,
        /// The saved root.
        saved_hex: String,
        /// The export's root at that size.
        computed_hex: String,
    },
}

impl ExportError {
    /// The stable reason code (snake_case) of this failure.
    pub fn code(&self) -> &'static str {
        match self {
            ExportError::Io { .. } | ExportError::ReadEntries { .. } => "export_unreadable",
            ExportError::Manifest { .. } => "export_manifest_invalid",
            ExportError::AuditKey { .. } => "export_audit_key_invalid",
            ExportError::Checkpoint { .. } => "checkpoint_invalid",
            ExportError::CheckpointOrigin { .. } => "checkpoint_origin_mismatch",
            ExportError::Fork { .. } => "checkpoints_fork",
            ExportError::NoCheckpoint => "no_checkpoint",
            ExportError::Trust(trust) => trust.code(),
            ExportError::SavedCheckpoint { .. } => "saved_checkpoint_invalid",
            ExportError::SavedOrigin { .. } => "saved_checkpoint_origin_mismatch",
            ExportError::IncompleteLine { .. } => "entry_line_incomplete",
            ExportError::MalformedEntry { .. } => "entry_malformed",
            ExportError::MissingEntries { .. } => "entries_missing",
            ExportError::DuplicateOrReordered { .. } => "entries_reordered",
            ExportError::RootMismatch { .. } => "root_mismatch",
            ExportError::Truncated { .. } => "entries_truncated",
            ExportError::UnsignedTail { .. } => "entries_unsigned",
            ExportError::SavedBeyondExport { .. } => "saved_checkpoint_beyond_export",
            ExportError::OperatorRequest { .. } => "operator_request_invalid",
            ExportError::SavedRootMismatch { .. } => "history_rewritten",
        }
    }
}

/// One checkpoint to meet while streaming: its file and signed root.
struct Target {
    file: String,
    root: [u8; 32],
}

/// Verifies an export from its parts: the manifest text, the audit key PEM, the
/// checkpoint notes as `(file name, text)`, the entries as a reader, and an optional
/// saved checkpoint. It checks, trusting nothing but the audit key's signatures: the
/// manifest's format and origin; every checkpoint's origin and signature, and that no two
/// of one size differ; the saved checkpoint's signature and origin; that the lines are
/// the canonical entries seq 0, 1, 2, ...; that the tree of their leaf hashes has each
/// signed root at its checkpoint's size (and the saved root at its size); and that the
/// last checkpoint covers every line. Lines are decoded and hashed on worker threads and
/// taken in order, in bounded memory.
///
/// # Errors
///
/// The first [`ExportError`] found.
pub fn verify_export_parts(
    manifest: &str,
    key_pem: &str,
    checkpoints: &[(String, String)],
    mut entries: impl BufRead,
    since_checkpoint: Option<&str>,
) -> Result<ExportReport, ExportError> {
    let origin = manifest_origin(manifest)?;
    let key = audit_key(&origin, key_pem)?;
    let manifest_pin = manifest_pin(manifest, &key)?;
    let mut targets = signed_targets(&origin, &key, checkpoints)?;
    let last_signed = *targets
        .keys()
        .next_back()
        .ok_or(ExportError::NoCheckpoint)?;
    let saved = since_checkpoint
        .map(|note| saved_checkpoint(&origin, &key, note))
        .transpose()?;

    let mut tree = CompactTree::new();
    let mut counts = BookCounts::default();
    let mut verified_to = 0u64;
    meet_targets(&tree, &mut targets, &mut verified_to, saved.as_ref())?;
    lines::for_each_decoded(&mut entries, |line| {
        let seq = tree.size();
        let number = seq + 1;
        let (entry_seq, book, leaf) = line.map_err(|source| ExportError::MalformedEntry {
            line: number,
            source,
        })?;
        if entry_seq > seq {
            return Err(ExportError::MissingEntries {
                line: number,
                expected: seq,
                found: entry_seq,
            });
        }
        if entry_seq < seq {
            return Err(ExportError::DuplicateOrReordered {
                line: number,
                expected: seq,
                found: entry_seq,
            });
        }
        tree.append(leaf);
        counts.add(book);
        meet_targets(&tree, &mut targets, &mut verified_to, saved.as_ref())
    })?;
    let size = tree.size();
    if let Some((&beyond, target)) = targets.iter().next() {
        return Err(ExportError::Truncated {
            file: target.file.clone(),
            size: beyond,
            found: size,
        });
    }
    if let Some(saved) = &saved {
        if saved.size > size {
            return Err(ExportError::SavedBeyondExport {
                size: saved.size,
                found: size,
            });
        }
    }
    if size > last_signed {
        return Err(ExportError::UnsignedTail {
            signed: last_signed,
            found: size,
        });
    }
    Ok(ExportReport {
        origin,
        size,
        root_hex: hex::encode(tree.root()),
        counts,
        checkpoints: checkpoints.len(),
        key_id_hex: key.key_id_hex(),
        key_sha256_hex: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(key.spki_der())),
        since_size: saved.map(|s| s.size),
        operator_requests: 0,
        manifest_pin,
        pin_checked: false,
    })
}

/// Compares the tree with the checkpoint (and the saved checkpoint) of its size.
fn meet_targets(
    tree: &CompactTree,
    targets: &mut BTreeMap<u64, Target>,
    verified_to: &mut u64,
    saved: Option<&Checkpoint>,
) -> Result<(), ExportError> {
    let size = tree.size();
    let at_target = targets.first_key_value().is_some_and(|(&s, _)| s == size);
    let at_saved = saved.is_some_and(|s| s.size == size);
    if !at_target && !at_saved {
        return Ok(());
    }
    let root = tree.root();
    if let Some(saved) = saved.filter(|s| s.size == size) {
        if saved.root != root {
            return Err(ExportError::SavedRootMismatch {
                size,
                saved_hex: saved.root_hex(),
                computed_hex: hex::encode(root),
            });
        }
    }
    if let Some(target) = targets.remove(&size).filter(|_| at_target) {
        if target.root != root {
            return Err(ExportError::RootMismatch {
                file: target.file,
                size,
                from_seq: *verified_to,
                last_seq: size.saturating_sub(1),
                from_line: *verified_to + 1,
                computed_hex: hex::encode(root),
                signed_hex: hex::encode(target.root),
            });
        }
        *verified_to = size;
    }
    Ok(())
}

fn manifest_origin(manifest: &str) -> Result<String, ExportError> {
    let value: serde_json::Value =
        serde_json::from_str(manifest).map_err(|e| ExportError::Manifest {
            reason: format!("not JSON: {e}"),
        })?;
    let format = value.get("format").and_then(|f| f.as_str());
    if format != Some(FORMAT) {
        return Err(ExportError::Manifest {
            reason: format!("format is {format:?}, expected {FORMAT:?}"),
        });
    }
    value
        .get("origin")
        .and_then(|o| o.as_str())
        .map(str::to_owned)
        .ok_or_else(|| ExportError::Manifest {
            reason: "no origin".into(),
        })
}

/// The manifest's `audit_key.pinned_sha256`, if any, which must be the key's.
fn manifest_pin(manifest: &str, key: &NoteKey) -> Result<Option<String>, ExportError> {
    let value: serde_json::Value =
        serde_json::from_str(manifest).map_err(|e| ExportError::Manifest {
            reason: format!("not JSON: {e}"),
        })?;
    let Some(text) = value["audit_key"]["pinned_sha256"].as_str() else {
        return Ok(None);
    };
    let pin = AuditKeyPin::parse(text).map_err(ExportError::Trust)?;
    pin.check(key).map_err(ExportError::Trust)?;
    Ok(Some(pin.hex()))
}

fn audit_key(origin: &str, pem: &str) -> Result<NoteKey, ExportError> {
    let (label, der) = der::pem::decode_vec(pem.as_bytes()).map_err(|e| ExportError::AuditKey {
        reason: format!("not PEM: {e}"),
    })?;
    if label != "PUBLIC KEY" {
        return Err(ExportError::AuditKey {
            reason: format!("PEM label is {label:?}, expected \"PUBLIC KEY\""),
        });
    }
    NoteKey::from_spki(origin, &der).map_err(|e: NoteError| ExportError::AuditKey {
        reason: e.to_string(),
    })
}

fn signed_targets(
    origin: &str,
    key: &NoteKey,
    checkpoints: &[(String, String)],
) -> Result<BTreeMap<u64, Target>, ExportError> {
    let mut targets: BTreeMap<u64, Target> = BTreeMap::new();
    for (file, text) in checkpoints {
        let checkpoint = Checkpoint::open(text, key).map_err(|source| ExportError::Checkpoint {
            file: file.clone(),
            source,
        })?;
        if checkpoint.origin != origin {
            return Err(ExportError::CheckpointOrigin {
                file: file.clone(),
                found: checkpoint.origin,
                expected: origin.to_owned(),
            });
        }
        if let Some(existing) = targets.get(&checkpoint.size) {
            if existing.root != checkpoint.root {
                return Err(ExportError::Fork {
                    size: checkpoint.size,
                    first: existing.file.clone(),
                    second: file.clone(),
                });
            }
            continue;
        }
        targets.insert(
            checkpoint.size,
            Target {
                file: file.clone(),
                root: checkpoint.root,
            },
        );
    }
    Ok(targets)
}

fn saved_checkpoint(origin: &str, key: &NoteKey, note: &str) -> Result<Checkpoint, ExportError> {
    let saved =
        Checkpoint::open(note, key).map_err(|source| ExportError::SavedCheckpoint { source })?;
    if saved.origin != origin {
        return Err(ExportError::SavedOrigin {
            found: saved.origin,
            expected: origin.to_owned(),
        });
    }
    Ok(saved)
}
