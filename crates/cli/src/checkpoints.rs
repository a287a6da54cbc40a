//! Signed checkpoints of the ledger (docs/ledger.md, "Checkpoints"): the `[ledger]`
//! settings, and the CA's checkpoint maker (`shuin_ca::checkpoint`) opened with them.
//!
//! The audit key is made in the key backend (an HSM in production) the first time an
//! instance needs it, recorded in the facility book and named by URI in the setting
//! `ledger.audit_key`; the log's origin is fixed at the same time in `ledger.origin`, so
//! a later change of `public_url` does not fork the checkpoints. A checkpoint is signed
//! once `checkpoint_every_entries` entries have accumulated or `checkpoint_every_seconds`
//! have passed with new entries, at shutdown, and before an export.

use crate::config::InstanceConfig;
use crate::failure::{msg, Result};
use serde::{Deserialize, Serialize};
use shuin_ca::checkpoint::{CheckpointError, CheckpointSettings};
use shuin_keys::KeyGenerator;
use shuin_ledger::NoteKey;
use shuin_store::sqlite::SqliteStore;
use shuin_store::StoredCheckpoint;
use std::sync::Arc;
use std::time::Duration;

/// `[ledger]` in shuin.toml.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LedgerSection {
    /// The origin for a new audit key; by default `<public_url host and path>/ledger`.
    /// Fixed in the database when the audit key is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) origin: Option<String>,
    /// Sign a checkpoint once this many entries follow the last one.
    #[serde(default = "default_every_entries")]
    pub(crate) checkpoint_every_entries: u64,
    /// Sign a checkpoint when new entries are this old.
    #[serde(default = "default_every_seconds")]
    pub(crate) checkpoint_every_seconds: u64,
}

fn default_every_entries() -> u64 {
    1000
}

fn default_every_seconds() -> u64 {
    60
}

impl Default for LedgerSection {
    fn default() -> Self {
        Self {
            origin: None,
            checkpoint_every_entries: default_every_entries(),
            checkpoint_every_seconds: default_every_seconds(),
        }
    }
}

impl LedgerSection {
    /// Checks the section once at start-up.
    pub(crate) fn check(&self) -> Result<()> {
        if self.checkpoint_every_entries == 0 || self.checkpoint_every_seconds == 0 {
            return Err(msg(
                "ledger: checkpoint_every_entries and checkpoint_every_seconds must be at least 1",
            ));
        }
        if let Some(origin) = &self.origin {
            if origin.is_empty() || origin.chars().any(|c| c.is_whitespace() || c == '+') {
                return Err(msg(
                    "ledger.origin must be non-empty without spaces or '+' (for example ca.example.jp/ledger)",
                ));
            }
        }
        Ok(())
    }
}

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
        config.ledger.check()?;
        let settings = CheckpointSettings {
            origin: config.ledger.origin.clone(),
            public_url: config.instance.public_url.clone(),
            new_key_label: crate::key_backend::key_label(
                &config.ca.key_backend,
                &format!("audit-{}", shuin_core::clock::unix_seconds(now)),
            ),
            every_entries: config.ledger.checkpoint_every_entries,
            every: Duration::from_secs(config.ledger.checkpoint_every_seconds),
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_intervals_and_bad_origins_are_refused() {
        let mut section = LedgerSection::default();
        assert!(section.check().is_ok());
        section.checkpoint_every_entries = 0;
        assert!(section.check().is_err());
        let section = LedgerSection {
            origin: Some("a b".into()),
            ..LedgerSection::default()
        };
        assert!(section.check().is_err());
    }
}
