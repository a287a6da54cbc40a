//! Writing an export a row at a time, so that a caller can stream the books from storage
//! in pages and never hold them all in memory.

use super::{
    checkpoint_file_name, io_error, ExportSummary, WriteError, AUDIT_KEY_FILE, CHECKPOINTS_DIR,
    ENTRIES_FILE, FORMAT, MANIFEST_FILE,
};
use crate::checkpoint::Checkpoint;
use crate::note::{NoteKey, SignedNote};
use crate::StoredEntry;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// An export being written into its directory: rows in seq order with
/// [`ExportWriter::append`], then the checkpoints, the key and the manifest with
/// [`ExportWriter::finish`].
#[derive(Debug)]
pub struct ExportWriter {
    dir: PathBuf,
    entries_path: PathBuf,
    out: BufWriter<std::fs::File>,
    count: u64,
}

impl ExportWriter {
    /// Starts an export in the new or empty directory `dir`.
    ///
    /// # Errors
    ///
    /// [`WriteError::NotEmpty`] if `dir` holds anything, or the file that could not be
    /// made.
    pub fn create(dir: &Path) -> Result<Self, WriteError> {
        if dir.exists() {
            let mut listing = std::fs::read_dir(dir).map_err(io_error(dir))?;
            if listing.next().is_some() {
                return Err(WriteError::NotEmpty {
                    path: dir.to_owned(),
                });
            }
        }
        let checkpoint_dir = dir.join(CHECKPOINTS_DIR);
        std::fs::create_dir_all(&checkpoint_dir).map_err(io_error(&checkpoint_dir))?;
        let entries_path = dir.join(ENTRIES_FILE);
        let file = std::fs::File::create(&entries_path).map_err(io_error(&entries_path))?;
        Ok(Self {
            dir: dir.to_owned(),
            entries_path,
            out: BufWriter::new(file),
            count: 0,
        })
    }

    /// Entries written so far.
    pub fn written(&self) -> u64 {
        self.count
    }

    /// Writes the next row, which must have the next seq.
    ///
    /// # Errors
    ///
    /// [`WriteError::BadRow`] for a row out of order or holding a newline, or the write
    /// that failed.
    pub fn append(&mut self, row: &StoredEntry) -> Result<(), WriteError> {
        if row.seq != self.count {
            return Err(WriteError::BadRow {
                seq: row.seq,
                reason: "rows are not contiguous from 0",
            });
        }
        if row.canonical.contains(&b'\n') {
            return Err(WriteError::BadRow {
                seq: row.seq,
                reason: "it contains a newline",
            });
        }
        self.out
            .write_all(&row.canonical)
            .and_then(|()| self.out.write_all(b"\n"))
            .map_err(io_error(&self.entries_path))?;
        self.count += 1;
        Ok(())
    }

    /// Gives up: removes what was written, and the directory if that leaves it empty, so
    /// that an incomplete export is never mistaken for one and the same place can be
    /// used again.
    pub fn abandon(self) {
        drop(self.out);
        let _ = std::fs::remove_file(&self.entries_path);
        let _ = std::fs::remove_dir_all(self.dir.join(CHECKPOINTS_DIR));
        let _ = std::fs::remove_dir(&self.dir);
    }

    /// Makes the entries durable, then writes the signed `checkpoints` (notes; the last
    /// covers every row), the audit `key` and the manifest naming the instance's `pin`.
    ///
    /// # Errors
    ///
    /// A malformed checkpoint, or the file that could not be written.
    pub fn finish(
        self,
        checkpoints: &[String],
        key: &NoteKey,
        pin: Option<&crate::AuditKeyPin>,
    ) -> Result<ExportSummary, WriteError> {
        let Self {
            dir,
            entries_path,
            out,
            count,
        } = self;
        out.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|file| file.sync_all())
            .map_err(io_error(&entries_path))?;
        let checkpoint_dir = dir.join(CHECKPOINTS_DIR);
        for (index, note) in checkpoints.iter().enumerate() {
            let size = SignedNote::parse(note)
                .map_err(crate::checkpoint::CheckpointError::from)
                .and_then(|parsed| Checkpoint::parse_body(&parsed.text))
                .map_err(|source| WriteError::BadCheckpoint { index, source })?
                .size;
            let path = checkpoint_dir.join(checkpoint_file_name(size));
            std::fs::write(&path, note).map_err(io_error(&path))?;
        }
        let key_path = dir.join(AUDIT_KEY_FILE);
        let pem = der::pem::encode_string("PUBLIC KEY", der::pem::LineEnding::LF, key.spki_der())
            .map_err(|e| WriteError::Io {
            path: key_path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        std::fs::write(&key_path, pem).map_err(io_error(&key_path))?;
        let manifest = serde_json::json!({
            "format": FORMAT,
            "origin": key.name(),
            "entries": count,
            "checkpoints": checkpoints.len(),
            "audit_key": {
                "key_id": key.key_id_hex(),
                "algorithm": key.algorithm().name(),
                "verifier_key": key.verifier_key(),
                "sha256": crate::AuditKeyPin::of_key(key).hex(),
                "pinned_sha256": pin.map(crate::AuditKeyPin::hex),
            },
        });
        let manifest_path = dir.join(MANIFEST_FILE);
        let text = format!("{manifest:#}\n");
        std::fs::write(&manifest_path, text).map_err(io_error(&manifest_path))?;
        Ok(ExportSummary {
            entries: count,
            checkpoints: checkpoints.len(),
        })
    }
}
