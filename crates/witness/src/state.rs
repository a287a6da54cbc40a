//! The witness's durable state: for each log, the latest checkpoint it cosigned.
//!
//! One file per log, `state/<SHA-256 of the origin, lowercase hex>.checkpoint`, holding
//! that checkpoint as a signed note (the log's signature lines that verified and the
//! witness's cosignature): exactly what `GET /<origin hash>/checkpoint` serves. Its size
//! and root hash are the state the next request must extend.
//!
//! A new state is written to a temporary file, flushed to disk, renamed over the old
//! one, and the directory is flushed, before the cosignature leaves the witness: after
//! a crash the file holds either the old or the new checkpoint, never a torn one, and
//! never an older one than a cosignature already returned.

use sha2::{Digest, Sha256};
use shuin_ledger::{Checkpoint, SignedNote};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The latest checkpoint cosigned for one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest {
    /// Its tree size.
    pub size: u64,
    /// Its root hash.
    pub root: [u8; 32],
    /// The checkpoint note with the log's and the witness's signatures.
    pub note: String,
}

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Reading or writing a state file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A state file does not hold a checkpoint of its log.
    #[error("{path}: not a checkpoint of {origin}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The log it should be of.
        origin: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// The lowercase hex SHA-256 of an origin, which names its state file and its
/// monitoring URL.
pub fn origin_hash(origin: &str) -> String {
    hex::encode(Sha256::digest(origin.as_bytes()))
}

/// The directory of state files.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// The state directory `dir` (made if missing).
    ///
    /// # Errors
    ///
    /// [`StateError::Io`] if it cannot be made.
    pub fn open(dir: &Path) -> Result<StateDir, StateError> {
        fs::create_dir_all(dir).map_err(|source| StateError::Io {
            path: dir.to_owned(),
            source,
        })?;
        Ok(StateDir {
            dir: dir.to_owned(),
        })
    }

    fn path(&self, origin: &str) -> PathBuf {
        self.dir.join(format!("{}.checkpoint", origin_hash(origin)))
    }

    /// The latest checkpoint cosigned for `origin`, if any.
    ///
    /// # Errors
    ///
    /// [`StateError::Io`] and [`StateError::Corrupt`]: a witness that cannot read its
    /// state must not start, or it would cosign from zero again.
    pub fn load(&self, origin: &str) -> Result<Option<Latest>, StateError> {
        let path = self.path(origin);
        let note = match fs::read_to_string(&path) {
            Ok(note) => note,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Io { path, source }),
        };
        let corrupt = |reason| StateError::Corrupt {
            path: path.clone(),
            origin: origin.to_owned(),
            reason,
        };
        let parsed = SignedNote::parse(&note).map_err(|_| corrupt("not a signed note"))?;
        let checkpoint =
            crate::request::checkpoint_of(&parsed.text).map_err(|_| corrupt("not a checkpoint"))?;
        if checkpoint.origin != origin {
            return Err(corrupt("another origin"));
        }
        Ok(Some(Latest {
            size: checkpoint.size,
            root: checkpoint.root,
            note,
        }))
    }

    /// Records `note` (a checkpoint of `checkpoint`) as the latest for its origin,
    /// durably.
    ///
    /// # Errors
    ///
    /// [`StateError::Io`]; the old state then stands.
    pub fn store(&self, checkpoint: &Checkpoint, note: &str) -> Result<Latest, StateError> {
        let path = self.path(&checkpoint.origin);
        write_durably(&self.dir, &path, note.as_bytes())
            .map_err(|source| StateError::Io { path, source })?;
        Ok(Latest {
            size: checkpoint.size,
            root: checkpoint.root,
            note: note.to_owned(),
        })
    }
}

/// Write to a temporary file, fsync it, rename it over `path`, fsync the directory.
fn write_durably(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temporary = path.with_extension("tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary, path)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    const NOTE: &str = "example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/log AAAAAAA=\n";

    #[test]
    fn a_stored_checkpoint_is_loaded_back_and_a_corrupt_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        assert_eq!(state.load("example.com/log").unwrap(), None);
        let text = &NOTE[..=NOTE.find("\n\n").unwrap()];
        let checkpoint = crate::request::checkpoint_of(text).unwrap();
        let stored = state.store(&checkpoint, NOTE).unwrap();
        let reopened = StateDir::open(dir.path()).unwrap();
        assert_eq!(reopened.load("example.com/log").unwrap(), Some(stored));
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        // A file of another origin under this origin's name is refused.
        fs::write(reopened.path("other.example/log"), NOTE).unwrap();
        assert!(matches!(
            reopened.load("other.example/log"),
            Err(StateError::Corrupt { .. })
        ));
        fs::write(reopened.path("example.com/log"), "garbage").unwrap();
        assert!(matches!(
            reopened.load("example.com/log"),
            Err(StateError::Corrupt { .. })
        ));
    }
}
