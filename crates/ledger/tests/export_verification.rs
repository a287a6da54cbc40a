//! The offline export: a written export verifies, and every tamper class is detected
//! with a message naming where.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use shuin_keys::{KeySpec, Signer, SoftwareSigner};
use shuin_ledger::export::{
    checkpoint_file_name, write_export, AUDIT_KEY_FILE, CHECKPOINTS_DIR, ENTRIES_FILE,
};
use shuin_ledger::{
    merkle, verify_export, Actor, Book, Checkpoint, EntryDraft, ExportError, NoteKey, StoredEntry,
};
use std::path::{Path, PathBuf};

const ORIGIN: &str = "shuin.example/ledger";

struct Log {
    rows: Vec<StoredEntry>,
    signer: SoftwareSigner,
    key: NoteKey,
}

impl Log {
    fn new(size: u64) -> Log {
        let (signer, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
        let key = NoteKey::from_spki(ORIGIN, signer.public_key_der()).unwrap();
        let rows = (0..size)
            .map(|seq| {
                let entry = EntryDraft {
                    book: Book::ALL[usize::try_from(seq % 4).unwrap()],
                    kind: "test.noted".into(),
                    actor: Actor {
                        name: "shuin-ca".into(),
                        role: "system".into(),
                        zone: "high_security".into(),
                    },
                    subjects: vec![format!("serial:{seq:04X}")],
                    payload: serde_json::json!({ "n": seq }),
                    evidence: vec![],
                }
                .into_entry(seq, "2025-04-01T09:30:00Z".into());
                StoredEntry {
                    seq,
                    canonical: entry.canonical_bytes().unwrap(),
                    leaf_hash_hex: hex::encode(entry.leaf_hash().unwrap()),
                }
            })
            .collect();
        Log { rows, signer, key }
    }

    fn checkpoint(&self, size: u64) -> String {
        let leaves: Vec<[u8; 32]> = self.rows[..usize::try_from(size).unwrap()]
            .iter()
            .map(|r| merkle::leaf_hash(&r.canonical))
            .collect();
        Checkpoint {
            origin: ORIGIN.into(),
            size,
            root: merkle::root(&leaves),
        }
        .sign(&self.key, |m| self.signer.sign(m))
        .unwrap()
    }

    fn export(&self, dir: &Path, sizes: &[u64]) {
        let notes: Vec<String> = sizes.iter().map(|&s| self.checkpoint(s)).collect();
        write_export(dir, self.rows.clone(), &notes, &self.key, None).unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let target = to.join(item.file_name());
        if item.file_type().unwrap().is_dir() {
            copy_dir(&item.path(), &target);
        } else {
            std::fs::copy(item.path(), target).unwrap();
        }
    }
}

/// A tampered copy of `original`: `edit` changes the lines of entries.jsonl.
fn with_lines(
    original: &Path,
    work: &Path,
    name: &str,
    edit: impl FnOnce(&mut Vec<String>),
) -> PathBuf {
    let copy = work.join(name);
    copy_dir(original, &copy);
    let text = std::fs::read_to_string(copy.join(ENTRIES_FILE)).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    edit(&mut lines);
    let mut out = lines.join("\n");
    out.push('\n');
    std::fs::write(copy.join(ENTRIES_FILE), out).unwrap();
    copy
}

fn failure(dir: &Path, since: Option<&str>) -> ExportError {
    verify_export(dir, since).expect_err("tampering must be detected")
}

#[test]
fn an_export_verifies_and_every_tamper_class_is_detected() {
    let work = tempfile::tempdir().unwrap();
    let log = Log::new(12);
    let original = work.path().join("export");
    log.export(&original, &[0, 3, 7, 12]);
    let report = verify_export(&original, None).unwrap();
    assert_eq!(report.size, 12);
    assert_eq!(report.checkpoints, 4);
    assert_eq!(report.origin, ORIGIN);
    assert_eq!(report.counts.get(Book::Application), 3);
    assert_eq!(report.key_id_hex, log.key.key_id_hex());

    // A checkpoint saved earlier (size 7) is extended by the export.
    let saved = log.checkpoint(7);
    assert_eq!(
        verify_export(&original, Some(&saved)).unwrap().since_size,
        Some(7)
    );

    // Deleting a line.
    let dir = with_lines(&original, work.path(), "deleted", |l| {
        l.remove(4);
    });
    let error = failure(&dir, None);
    assert!(
        matches!(
            error,
            ExportError::MissingEntries {
                line: 5,
                expected: 4,
                found: 5
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("line 5"), "{error}");

    // Duplicating a line.
    let dir = with_lines(&original, work.path(), "duplicated", |l| {
        let copy = l[2].clone();
        l.insert(3, copy);
    });
    let error = failure(&dir, None);
    assert!(
        matches!(
            error,
            ExportError::DuplicateOrReordered {
                line: 4,
                expected: 3,
                found: 2
            }
        ),
        "{error}"
    );

    // Reordering two lines.
    let dir = with_lines(&original, work.path(), "reordered", |l| l.swap(8, 9));
    let error = failure(&dir, None);
    assert!(
        matches!(error, ExportError::MissingEntries { line: 9, .. }),
        "{error}"
    );
    assert_eq!(error.code(), "entries_missing");

    // Editing a field, keeping the canonical form: the root at the next checkpoint fails.
    let dir = with_lines(&original, work.path(), "edited", |l| {
        l[5] = l[5].replace("shuin-ca", "shuin-cb");
    });
    let error = failure(&dir, None);
    assert!(
        matches!(
            &error,
            ExportError::RootMismatch {
                size: 7,
                from_seq: 3,
                last_seq: 6,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("seq 3 to seq 6"), "{error}");

    // Editing a field so that the line is no longer canonical.
    let dir = with_lines(&original, work.path(), "noncanonical", |l| {
        l[1] = l[1].replace("\"n\":1", "\"n\": 1");
    });
    let error = failure(&dir, None);
    assert!(
        matches!(error, ExportError::MalformedEntry { line: 2, .. }),
        "{error}"
    );

    // Truncating the export (the last lines).
    let dir = with_lines(&original, work.path(), "truncated", |l| l.truncate(10));
    let error = failure(&dir, None);
    assert!(
        matches!(
            error,
            ExportError::Truncated {
                size: 12,
                found: 10,
                ..
            }
        ),
        "{error}"
    );

    // Truncating mid-line.
    let dir = work.path().join("cut");
    copy_dir(&original, &dir);
    let bytes = std::fs::read(dir.join(ENTRIES_FILE)).unwrap();
    std::fs::write(dir.join(ENTRIES_FILE), &bytes[..bytes.len() - 5]).unwrap();
    assert!(matches!(
        failure(&dir, None),
        ExportError::IncompleteLine { line: 12 }
    ));

    // Appending a line after the last checkpoint.
    let dir = with_lines(&original, work.path(), "appended", |l| {
        let mut extra = l[11].replace("\"seq\":11", "\"seq\":12");
        extra = extra.replace("\"n\":11", "\"n\":12");
        l.push(extra);
    });
    assert!(matches!(
        failure(&dir, None),
        ExportError::UnsignedTail {
            signed: 12,
            found: 13
        }
    ));

    // Altering a checkpoint's signature.
    let dir = work.path().join("badsig");
    copy_dir(&original, &dir);
    let path = dir.join(CHECKPOINTS_DIR).join(checkpoint_file_name(7));
    let note = std::fs::read_to_string(&path).unwrap();
    let mut parsed = shuin_ledger::SignedNote::parse(&note).unwrap();
    parsed.signatures[0].signature[10] ^= 0x40;
    std::fs::write(&path, parsed.encode()).unwrap();
    let error = failure(&dir, None);
    assert!(
        matches!(&error, ExportError::Checkpoint { file, .. } if file.ends_with("00000000000000000007.note")),
        "{error}"
    );
    assert!(error.to_string().contains("does not verify"), "{error}");

    // Replacing the whole export with another history, signed by another key: the
    // saved checkpoint does not verify with the new key.
    let mut other = Log::new(12);
    for row in &mut other.rows {
        let text = String::from_utf8(row.canonical.clone()).unwrap();
        row.canonical = text.replace("shuin-ca", "shuin-xx").into_bytes();
    }
    let dir = work.path().join("replaced-new-key");
    other.export(&dir, &[12]);
    assert!(
        verify_export(&dir, None).is_ok(),
        "a self-consistent forgery verifies alone"
    );
    let error = failure(&dir, Some(&saved));
    assert!(
        matches!(error, ExportError::SavedCheckpoint { .. }),
        "{error}"
    );

    // A rewritten history signed with the real key (an insider): the saved checkpoint
    // verifies but is not a prefix.
    let mut rewritten = Log::new(12);
    rewritten.signer = log.signer;
    rewritten.key = log.key.clone();
    for row in &mut rewritten.rows[..4] {
        let text = String::from_utf8(row.canonical.clone()).unwrap();
        row.canonical = text.replace("shuin-ca", "shuin-zz").into_bytes();
    }
    let dir = work.path().join("rewritten");
    rewritten.export(&dir, &[12]);
    assert!(verify_export(&dir, None).is_ok());
    let error = failure(&dir, Some(&saved));
    assert!(
        matches!(error, ExportError::SavedRootMismatch { size: 7, .. }),
        "{error}"
    );
    assert_eq!(error.code(), "history_rewritten");

    // Rolled back to before the saved checkpoint.
    let dir = work.path().join("rolled-back");
    let mut short = Log::new(5);
    short.signer = rewritten.signer;
    short.key = rewritten.key.clone();
    short.export(&dir, &[5]);
    let error = failure(&dir, Some(&saved));
    assert!(
        matches!(error, ExportError::SavedBeyondExport { size: 7, found: 5 }),
        "{error}"
    );

    // The audit key replaced while the checkpoints stay: no checkpoint verifies.
    let dir = work.path().join("key-replaced");
    copy_dir(&original, &dir);
    std::fs::copy(
        work.path().join("replaced-new-key").join(AUDIT_KEY_FILE),
        dir.join(AUDIT_KEY_FILE),
    )
    .unwrap();
    assert!(matches!(
        failure(&dir, None),
        ExportError::Checkpoint { .. }
    ));
}

#[test]
fn an_export_without_checkpoints_or_with_a_fork_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let log = Log::new(4);
    let dir = work.path().join("none");
    write_export(&dir, log.rows.clone(), &[], &log.key, None).unwrap();
    assert!(matches!(failure(&dir, None), ExportError::NoCheckpoint));

    let dir = work.path().join("fork");
    log.export(&dir, &[4]);
    let mut other = Log::new(4);
    other.rows[0].canonical = String::from_utf8(other.rows[0].canonical.clone())
        .unwrap()
        .replace("shuin-ca", "shuin-cz")
        .into_bytes();
    other.signer = log.signer;
    other.key = log.key.clone();
    std::fs::write(
        dir.join(CHECKPOINTS_DIR).join("forked.note"),
        other.checkpoint(4),
    )
    .unwrap();
    assert!(matches!(
        failure(&dir, None),
        ExportError::Fork { size: 4, .. }
    ));
}

/// Lines are decoded in batches on worker threads: errors in a later batch, at a batch
/// boundary and at the very end are still reported at their line, and the first error in
/// line order wins.
#[test]
fn errors_beyond_the_first_batch_of_lines_are_reported_in_place() {
    let work = tempfile::tempdir().unwrap();
    let log = Log::new(10_000);
    let original = work.path().join("export");
    log.export(&original, &[4096, 8192, 10_000]);
    assert_eq!(verify_export(&original, None).unwrap().size, 10_000);

    // Lines 4096 and 4097 (seq 4095 and 4096) swapped, across the first batch boundary.
    let dir = with_lines(&original, work.path(), "swapped", |l| l.swap(4095, 4096));
    assert!(matches!(
        failure(&dir, None),
        ExportError::MissingEntries {
            line: 4096,
            expected: 4095,
            found: 4096
        }
    ));

    // A malformed line late in the file, and a later malformed one: the first is named.
    let dir = with_lines(&original, work.path(), "malformed", |l| {
        l[9000].push(' ');
        l[9500] = "{}".into();
    });
    assert!(matches!(
        failure(&dir, None),
        ExportError::MalformedEntry { line: 9001, .. }
    ));

    // An edited entry that stays canonical fails the checkpoint of its range only.
    let dir = with_lines(&original, work.path(), "edited", |l| {
        l[8500] = l[8500].replace("\"shuin-ca\"", "\"shuin-xx\"");
    });
    assert!(matches!(
        failure(&dir, None),
        ExportError::RootMismatch {
            size: 10_000,
            from_seq: 8192,
            ..
        }
    ));

    // The final newline removed, after several batches.
    let dir = work.path().join("no-newline");
    copy_dir(&original, &dir);
    let path = dir.join(ENTRIES_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.pop();
    std::fs::write(&path, bytes).unwrap();
    assert!(matches!(
        failure(&dir, None),
        ExportError::IncompleteLine { line: 10_000 }
    ));
}
