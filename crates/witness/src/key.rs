//! The witness's Ed25519 cosigning key: a PKCS#8 file, readable by its owner only
//! (mode 0600), in the witness's data directory. `init` makes it; the witness refuses to
//! start if anyone else may read it.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use shuin_ledger::cosignature::{CosignatureError, SIGNATURE_BYTES};
use shuin_ledger::WitnessKey;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why the key could not be made or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing the key file failed (it exists already, for `init`).
    #[error("{path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Group or others may read or write the key file.
    #[error("{path}: mode {mode:o} lets others read the witness key; it must be 0600")]
    Permissions {
        /// The key file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// The file is not an Ed25519 PKCS#8 key.
    #[error("{path}: not an Ed25519 PKCS#8 key")]
    Malformed {
        /// The key file.
        path: PathBuf,
    },
    /// Generating a key failed.
    #[error("generating an Ed25519 key failed")]
    Generate,
    /// The witness name is not a valid key name.
    #[error(transparent)]
    Name(#[from] CosignatureError),
}

/// The cosigning key: the private key and the public [`WitnessKey`] it makes.
pub struct WitnessSigner {
    pair: Ed25519KeyPair,
    key: WitnessKey,
}

impl std::fmt::Debug for WitnessSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitnessSigner")
            .field("key", &self.key.verifier_key())
            .finish_non_exhaustive()
    }
}

impl WitnessSigner {
    /// Makes a new key for the witness `name` and writes it to `path` (mode 0600); the
    /// file must not exist.
    ///
    /// # Errors
    ///
    /// [`KeyError`].
    pub fn generate(path: &Path, name: &str) -> Result<WitnessSigner, KeyError> {
        let pair = Ed25519KeyPair::generate().map_err(|_| KeyError::Generate)?;
        let pkcs8 = pair.to_pkcs8().map_err(|_| KeyError::Generate)?;
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        file.write_all(pkcs8.as_ref()).map_err(io)?;
        file.sync_all().map_err(io)?;
        WitnessSigner::from_pair(pair, name)
    }

    /// Opens the key in `path` for the witness `name`.
    ///
    /// # Errors
    ///
    /// [`KeyError`], also when group or others have any access to the file.
    pub fn open(path: &Path, name: &str) -> Result<WitnessSigner, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        let mode = fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Permissions {
                path: path.to_owned(),
                mode,
            });
        }
        let pkcs8 = fs::read(path).map_err(io)?;
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| KeyError::Malformed {
            path: path.to_owned(),
        })?;
        WitnessSigner::from_pair(pair, name)
    }

    fn from_pair(pair: Ed25519KeyPair, name: &str) -> Result<WitnessSigner, KeyError> {
        let public =
            <[u8; 32]>::try_from(pair.public_key().as_ref()).map_err(|_| KeyError::Malformed {
                path: PathBuf::new(),
            })?;
        let key = WitnessKey::new(name, public)?;
        Ok(WitnessSigner { pair, key })
    }

    /// The public side: name, key ID, verifier key.
    pub fn key(&self) -> &WitnessKey {
        &self.key
    }

    /// The Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_BYTES] {
        let mut signature = [0u8; SIGNATURE_BYTES];
        // An Ed25519 signature is always 64 bytes.
        let made = self.pair.sign(message);
        if let Ok(bytes) = <[u8; SIGNATURE_BYTES]>::try_from(made.as_ref()) {
            signature = bytes;
        }
        signature
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn a_made_key_opens_again_and_an_exposed_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("witness.key");
        let made = WitnessSigner::generate(&path, "witness.example/w1").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let opened = WitnessSigner::open(&path, "witness.example/w1").unwrap();
        assert_eq!(opened.key(), made.key());
        assert!(matches!(
            WitnessSigner::generate(&path, "witness.example/w1"),
            Err(KeyError::Io { .. })
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            WitnessSigner::open(&path, "witness.example/w1"),
            Err(KeyError::Permissions { .. })
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, b"garbage").unwrap();
        assert!(matches!(
            WitnessSigner::open(&path, "witness.example/w1"),
            Err(KeyError::Malformed { .. })
        ));
    }
}
