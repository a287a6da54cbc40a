//! Sealing at `init --custodians N --threshold M --shares-out DIR`: the token PIN is
//! sealed under a random wrapping key, the key is split into N shares
//! (`shuin_keys::activation`), and each share is written to `DIR/share-<i>.txt` (0600)
//! for its custodian (`shuin_keys::share_files`). The instance keeps no PIN file.

use shuin_core::RandomSource;
use shuin_keys::activation::{self, ActivationError, SealConfig};
use shuin_keys::config::{KeyBackendConfig, PinFileError};
use shuin_keys::share_files::{self, ShareFilesError};
use shuin_ledger::Actor;
use shuin_store::{LedgerStore, StoreError};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use zeroize::Zeroizing;

/// The custodians the PIN is split among: N of them, M of whom unseal the CA, and where
/// their share files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Custodians {
    /// N.
    pub custodians: u8,
    /// M.
    pub threshold: u8,
    /// A directory outside the instance for `share-1.txt` ... `share-N.txt`.
    pub shares_out: PathBuf,
}

/// Why the PIN could not be split.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SplitError {
    /// The key backend has no PIN to seal.
    #[error("--custodians needs --key-backend pkcs11: the shares seal the token PIN (the software backend has no secret to seal)")]
    NoPin,
    /// M-of-N breaks a rule, or the split failed.
    #[error("{0}")]
    Activation(#[from] ActivationError),
    /// The share files cannot go there, or could not be written.
    #[error("{0}")]
    ShareFiles(#[from] ShareFilesError),
    /// The PIN file could not be read.
    #[error("{0}")]
    PinFile(#[from] PinFileError),
    /// The split could not be recorded in the facility book.
    #[error("ledger: {0}")]
    Ledger(#[from] StoreError),
}

impl Custodians {
    /// Checks, before `init` makes anything in `instance_dir`, the counts and the share
    /// directory, and reads the PIN to be sealed from the backend's PIN file.
    pub fn check(
        &self,
        backend: &KeyBackendConfig,
        instance_dir: &Path,
    ) -> Result<Zeroizing<String>, SplitError> {
        let KeyBackendConfig::Pkcs11 {
            pin_file: Some(pin_file),
            ..
        } = backend
        else {
            return Err(SplitError::NoPin);
        };
        activation::check_counts(self.custodians, self.threshold)?;
        share_files::check_share_dir(&self.shares_out, instance_dir, self.custodians)?;
        Ok(shuin_keys::config::read_pin_file(pin_file)?)
    }

    /// Seals `pin`, writes the share files and records the split in the facility book
    /// (`seal.shares_made`); returns the instance's `[ca.seal]`.
    pub async fn split<S: LedgerStore + ?Sized>(
        &self,
        pin: &str,
        rng: &dyn RandomSource,
        ledger: &S,
        (by, now): (&Actor, SystemTime),
    ) -> Result<SealConfig, SplitError> {
        let (config, files) = activation::split(pin, self.custodians, self.threshold, rng)?;
        share_files::write_shares(&self.shares_out, &files)?;
        let (custodians, threshold, id) = (self.custodians, self.threshold, &config.instance_id);
        let entry = shuin_books::init_records::seal_shares_made(custodians, threshold, id, by);
        ledger.append(entry, now).await?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shuin_core::OsRandom;
    use shuin_store::sqlite::SqliteStore;

    fn custodians(shares_out: &Path) -> Custodians {
        Custodians {
            custodians: 3,
            threshold: 2,
            shares_out: shares_out.to_owned(),
        }
    }

    #[test]
    fn only_a_token_pin_can_be_sealed() {
        let dir = tempfile::tempdir().expect("dir");
        let software = KeyBackendConfig::Software {
            dir: PathBuf::from("keys"),
        };
        let refused = custodians(&dir.path().join("shares")).check(&software, dir.path());
        assert!(matches!(refused, Err(SplitError::NoPin)));
    }

    #[tokio::test]
    async fn the_shares_are_written_and_the_split_is_ledgered() {
        let dir = tempfile::tempdir().expect("dir");
        let store = SqliteStore::open(&dir.path().join("db"))
            .await
            .expect("store");
        let shares = dir.path().join("shares");
        let by = shuin_books::init_records::init_actor();
        let now = std::time::UNIX_EPOCH;
        let custodians = custodians(&shares);
        let config = custodians
            .split("1234", &OsRandom, &store, (&by, now))
            .await
            .expect("split");
        assert_eq!((config.custodians, config.threshold), (3, 2));
        for i in 1..=3 {
            assert!(activation::share_path(&shares, i).exists());
        }
        let rows = store.ledger_rows().await.expect("rows");
        let entry = shuin_ledger::Entry::from_canonical(&rows[0].canonical).expect("entry");
        assert_eq!(entry.kind, "seal.shares_made");
    }
}
