//! One `shuin serve` per instance directory: an exclusive lock on `DIR/serve.lock`,
//! holding the process id, taken before anything is opened and released with the
//! process (a kill -9 included: the kernel releases it).

use std::path::Path;

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeLockError {
    /// Another server holds it.
    #[error("another `shuin serve` is running on {dir} (process {holder}); stop it first, or serve another instance")]
    Held {
        /// The instance directory.
        dir: String,
        /// The holder's process id, as it wrote it.
        holder: String,
    },
    /// The lock file could not be opened, locked or written.
    #[error("{0}")]
    Io(String),
}

/// The file that says one `shuin serve` runs on an instance.
pub const SERVE_LOCK: &str = "serve.lock";

/// Takes the instance's serve lock (an exclusive lock on DIR/serve.lock, holding the
/// process id), or says which process holds it.
pub fn take(dir: &Path) -> Result<std::fs::File, ServeLockError> {
    use std::io::{Read, Seek, Write};
    let path = dir.join(SERVE_LOCK);
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .map_err(|e| ServeLockError::Io(format!("{}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            if holder.trim().is_empty() {
                // Taken a moment ago; its holder has not written its id yet.
                holder = "just started".into();
            }
            return Err(ServeLockError::Held {
                dir: dir.display().to_string(),
                holder: holder.trim().to_owned(),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(ServeLockError::Io(format!("{}: {e}", path.display())))
        }
    }
    let written = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| write!(file, "{}", std::process::id()));
    written.map_err(|e| ServeLockError::Io(format!("{}: {e}", path.display())))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_second_taker_is_refused_and_told_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = take(dir.path()).unwrap();
        let refused = take(dir.path()).unwrap_err();
        let text = refused.to_string();
        assert!(matches!(refused, ServeLockError::Held { .. }), "{text}");
        assert!(text.contains(&std::process::id().to_string()), "{text}");
        drop(first);
        take(dir.path()).unwrap();
    }
}
