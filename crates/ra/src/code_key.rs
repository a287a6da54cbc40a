//! The instance's code key on disk (`DIR/registration-code.key`): 32 random bytes in
//! hex, made owner-only on first use and refused when others can read it.

use crate::CodeKey;
use shuin_core::RandomSource;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Why the code key file could not be made or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodeKeyError {
    /// No randomness for a new key.
    #[error("making the code key: {0}")]
    Randomness(#[source] shuin_core::random::RandomError),
    /// The file could not be made, read or looked at.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Group or others may read it.
    #[error("{} must be readable by its owner only (chmod 600)", path.display())]
    NotPrivate {
        /// The file.
        path: PathBuf,
    },
    /// It does not hold a key.
    #[error("{} does not hold 32 hex bytes", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
    },
}

impl CodeKey {
    /// The code key in `path`: made (0600) on first use, refused if others can read it.
    pub fn open_or_create(path: &Path, rng: &dyn RandomSource) -> Result<CodeKey, CodeKeyError> {
        use std::io::Write;
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let io = |source| CodeKeyError::Io {
            path: path.to_owned(),
            source,
        };
        if !path.exists() {
            let mut bytes = Zeroizing::new([0u8; 32]);
            rng.fill(bytes.as_mut_slice())
                .map_err(CodeKeyError::Randomness)?;
            let created = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path);
            match created {
                Ok(mut file) => {
                    file.write_all(Zeroizing::new(hex::encode(bytes.as_slice())).as_bytes())
                        .and_then(|()| file.sync_all())
                        .map_err(io)?;
                }
                // Another process made it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(e)),
            }
        }
        let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(CodeKeyError::NotPrivate {
                path: path.to_owned(),
            });
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
        let mut key = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), key.as_mut_slice()).map_err(|_| {
            CodeKeyError::Malformed {
                path: path.to_owned(),
            }
        })?;
        Ok(CodeKey::from_bytes(*key))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_key_is_made_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registration-code.key");
        CodeKey::open_or_create(&path, &shuin_core::OsRandom).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        CodeKey::open_or_create(&path, &shuin_core::OsRandom).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = CodeKey::open_or_create(&path, &shuin_core::OsRandom).unwrap_err();
        assert!(error.to_string().contains("chmod 600"), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "not hex").unwrap();
        assert!(CodeKey::open_or_create(&path, &shuin_core::OsRandom).is_err());
    }
}
