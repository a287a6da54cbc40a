//! The last signed head kept outside the database (docs/ledger.md, "Pinned audit key and
//! forward heads"): `DIR/ledger-head.checkpoint` in the instance directory holds the
//! newest checkpoint note the audit key signed, exactly as signed. It is replaced
//! atomically (a temporary file, flushed, renamed over it, then the directory flushed),
//! so a crash leaves the old head or the new one, never a torn file. Signers take the
//! lock file `DIR/ledger-head.lock` around reading, signing and writing, so two
//! processes signing at once (the server and `shuin ledger export`) never move it back.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file name of the last signed head in the instance directory.
pub const HEAD_FILE: &str = "ledger-head.checkpoint";
/// The lock file beside it.
pub const HEAD_LOCK_FILE: &str = "ledger-head.lock";

/// The last signed head's file in an instance directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadFile {
    dir: PathBuf,
    name: String,
    lock_name: String,
}

/// The lock on the head file, held until dropped.
#[derive(Debug)]
pub struct HeadLock(#[allow(dead_code)] File);

impl HeadFile {
    /// The head file of the instance in `dir`.
    pub fn in_dir(dir: &Path) -> HeadFile {
        HeadFile {
            dir: dir.to_owned(),
            name: HEAD_FILE.to_owned(),
            lock_name: HEAD_LOCK_FILE.to_owned(),
        }
    }

    /// Another head kept the same way: the file `name` in `dir`, locked by `name.lock`
    /// (the CA keeps one per RA node book it signs, `shuin_ca::node_books`).
    pub fn named(dir: &Path, name: &str) -> HeadFile {
        HeadFile {
            dir: dir.to_owned(),
            name: name.to_owned(),
            lock_name: format!("{name}.lock"),
        }
    }

    /// The file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    /// The note it holds; `None` when there is no file.
    ///
    /// # Errors
    ///
    /// Reading failed (other than a missing file).
    pub fn load(&self) -> std::io::Result<Option<String>> {
        match std::fs::read_to_string(self.path()) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the file with `note` atomically and durably.
    ///
    /// # Errors
    ///
    /// Writing, flushing or renaming failed; the old file is then unchanged.
    pub fn save(&self, note: &str) -> std::io::Result<()> {
        let temporary = self.dir.join(format!("{}.tmp", self.name));
        let mut file = File::create(&temporary)?;
        file.write_all(note.as_bytes())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, self.path())?;
        File::open(&self.dir)?.sync_all()
    }

    /// Takes the signers' lock, waiting for another holder (a blocking call).
    ///
    /// # Errors
    ///
    /// The lock file cannot be opened or locked.
    pub fn lock(&self) -> std::io::Result<HeadLock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(&self.lock_name))?;
        file.lock()?;
        Ok(HeadLock(file))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn the_head_is_replaced_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = HeadFile::in_dir(dir.path());
        assert_eq!(file.load().unwrap(), None);
        let _lock = file.lock().unwrap();
        file.save("one\n").unwrap();
        file.save("two\n").unwrap();
        assert_eq!(file.load().unwrap().as_deref(), Some("two\n"));
        assert!(!dir.path().join(format!("{HEAD_FILE}.tmp")).exists());
    }
}
