//! Signed checkpoints of the ledger (docs/ledger.md, "Checkpoints"): the `[ledger]`
//! settings (`shuin_ca::config`), and the CA's checkpoint maker
//! (`shuin_ca::checkpoint`) opened with them.
//!
//! The audit key is made in the key backend (an HSM in production) the first time an
//! instance needs it, recorded in the facility book and named by URI in the setting
//! `ledger.audit_key`; the log's origin is fixed at the same time in `ledger.origin`, so
//! a later change of `public_url` does not fork the checkpoints. A checkpoint is signed
//! once `checkpoint_every_entries` entries have accumulated or `checkpoint_every_seconds`
//! have passed with new entries, at shutdown, and before an export.

use crate::config::InstanceConfig;
use crate::failure::{msg, Result};
use shuin_ca::checkpoint::CheckpointError;
use shuin_keys::KeyGenerator;
use shuin_ledger::NoteKey;
use shuin_store::sqlite::SqliteStore;
use shuin_store::StoredCheckpoint;
use std::sync::Arc;

/// `[ledger]` in shuin.toml.
pub(crate) use shuin_ca::config::LedgerSection;

/// Signs checkpoints with the audit key and stores them: the CA's
/// [`shuin_ca::checkpoint::CheckpointMaker`] over the instance's store, with the settings
/// of `[ledger]`.
pub(crate) struct CheckpointMaker(shuin_ca::checkpoint::CheckpointMaker<SqliteStore>);

fn failed(e: CheckpointError) -> crate::failure::Error {
    msg(e.to_string())
}

impl CheckpointMaker {
    /// Opens the audit key named in the settings, or makes one (recorded in the facility
    /// book) when there is none.
    pub(crate) async fn open(
        config: &InstanceConfig,
        store: Arc<SqliteStore>,
        backend: &dyn KeyGenerator,
        now: std::time::SystemTime,
    ) -> Result<CheckpointMaker> {
        config.ledger.check().map_err(|e| msg(e.to_string()))?;
        let label = format!("audit-{}", shuin_core::clock::unix_seconds(now));
        let settings = config.ledger.checkpoint_settings(
            &config.instance.public_url,
            crate::key_backend::key_label(&config.ca.key_backend, &label),
        );
        shuin_ca::checkpoint::CheckpointMaker::open(settings, store, backend, now)
            .await
            .map(CheckpointMaker)
            .map_err(failed)
    }

    /// The audit key as a note key (its name is the origin).
    pub(crate) fn key(&self) -> &NoteKey {
        self.0.key()
    }

    /// Signs a checkpoint if one is due.
    pub(crate) async fn tick(&self) -> Result<Option<StoredCheckpoint>> {
        self.0.tick().await.map_err(failed)
    }

    /// Signs a checkpoint of the whole ledger now unless the latest already covers it
    /// (at shutdown and before an export).
    pub(crate) async fn checkpoint_now(&self) -> Result<Option<StoredCheckpoint>> {
        self.0.checkpoint_now().await.map_err(failed)
    }
}
