//! Signed checkpoints of the ledger (docs/ledger.md, "Checkpoints").
//!
//! The audit key is made in the key backend (an HSM in production) the first time an
//! instance needs it, recorded in the facility book and named by URI in the setting
//! `ledger.audit_key`; the log's origin is fixed at the same time in `ledger.origin`, so
//! a later change of `public_url` does not fork the checkpoints. A checkpoint is signed
//! once `checkpoint_every_entries` entries have accumulated or `checkpoint_every_seconds`
//! have passed with new entries, at shutdown, and before an export.

use crate::config::InstanceConfig;
use crate::failure::{msg, Context, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shuin_keys::{KeyGenerator, KeyRef, KeySpec, Signer};
use shuin_ledger::{Actor, Book, Checkpoint, EntryDraft, NoteKey};
use shuin_store::sqlite::SqliteStore;
use shuin_store::{
    CheckpointWriter, ConflictKind, LedgerReader, LedgerStore, SettingsStore, StoreError,
    StoredCheckpoint,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The setting naming the audit key by URI.
pub(crate) const AUDIT_KEY_SETTING: &str = "ledger.audit_key";
/// The setting holding the log's origin (the checkpoints' first line and key name).
pub(crate) const ORIGIN_SETTING: &str = "ledger.origin";

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

/// `https://ca.example.jp/base/` gives `ca.example.jp/base/ledger`.
fn default_origin(public_url: &str) -> String {
    let rest = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest);
    format!("{}/ledger", rest.trim_end_matches('/'))
}

/// The last checkpoint this process knows of.
struct Last {
    size: u64,
    made: Option<Instant>,
}

/// Signs checkpoints with the audit key and stores them.
pub(crate) struct CheckpointMaker {
    store: Arc<SqliteStore>,
    signer: Arc<dyn Signer>,
    key: NoteKey,
    every_entries: u64,
    every: Duration,
    last: tokio::sync::Mutex<Last>,
}

fn audit_actor() -> Actor {
    Actor {
        name: "shuin-ledger".into(),
        role: "system".into(),
        zone: "high_security".into(),
    }
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
        let stored_key = store.setting(AUDIT_KEY_SETTING).await.context("settings")?;
        let stored_origin = store.setting(ORIGIN_SETTING).await.context("settings")?;
        let (signer, key) = match (stored_key, stored_origin) {
            (Some(uri), Some(origin)) => {
                let key_ref = KeyRef::parse(&uri).context("stored audit key")?;
                let signer = backend.signer(&key_ref).context("the audit key")?;
                let key = NoteKey::from_spki(&origin, signer.public_key_der())
                    .context("the audit key")?;
                (signer, key)
            }
            (_, origin) => generate(config, origin, &store, backend, now).await?,
        };
        if signer.algorithm() != key.algorithm() {
            return Err(msg(format!(
                "the audit key signs {} but its public key calls for {}",
                signer.algorithm().name(),
                key.algorithm().name()
            )));
        }
        let last = store
            .latest_checkpoint()
            .await
            .context("reading the latest checkpoint")?;
        Ok(CheckpointMaker {
            store,
            signer,
            key,
            every_entries: config.ledger.checkpoint_every_entries,
            every: Duration::from_secs(config.ledger.checkpoint_every_seconds),
            last: tokio::sync::Mutex::new(Last {
                size: last.map_or(0, |c| c.size),
                made: None,
            }),
        })
    }

    /// The audit key as a note key (its name is the origin).
    pub(crate) fn key(&self) -> &NoteKey {
        &self.key
    }

    /// Signs a checkpoint if one is due: `every_entries` new entries, or new entries and
    /// `every` since the last one this process made (at once after start).
    pub(crate) async fn tick(&self) -> Result<Option<StoredCheckpoint>> {
        let size = self.store.ledger_size().await.context("ledger size")?;
        let mut last = self.last.lock().await;
        if size <= last.size {
            return Ok(None);
        }
        let due = size - last.size >= self.every_entries
            || last.made.is_none_or(|made| made.elapsed() >= self.every);
        if !due {
            return Ok(None);
        }
        self.make(&mut last).await
    }

    /// Signs a checkpoint of the whole ledger now unless the latest already covers it
    /// (at shutdown and before an export).
    pub(crate) async fn checkpoint_now(&self) -> Result<Option<StoredCheckpoint>> {
        let mut last = self.last.lock().await;
        if let Some(latest) = self
            .store
            .latest_checkpoint()
            .await
            .context("reading the latest checkpoint")?
        {
            last.size = last.size.max(latest.size);
        }
        let size = self.store.ledger_size().await.context("ledger size")?;
        if size <= last.size && size > 0 {
            return Ok(None);
        }
        self.make(&mut last).await
    }

    async fn make(&self, last: &mut Last) -> Result<Option<StoredCheckpoint>> {
        let head = self
            .store
            .ledger_head()
            .await
            .context("reading the tree head")?
            .unwrap_or(shuin_ledger::TreeHead {
                size: 0,
                root_hex: hex::encode(shuin_ledger::merkle::empty_root()),
            });
        let checkpoint = Checkpoint::from_head(self.key.name(), &head)
            .ok_or_else(|| msg("the stored tree head's root is not hex"))?;
        let signer = self.signer.clone();
        let key = self.key.clone();
        let note = tokio::task::spawn_blocking(move || {
            checkpoint.sign(&key, |message| signer.sign(message))
        })
        .await
        .map_err(|e| msg(format!("checkpoint signing task: {e}")))?
        .context("signing a checkpoint with the audit key")?;
        // A check of the key backend's signature before anyone relies on it.
        Checkpoint::open(&note, &self.key).context("the audit key's checkpoint signature")?;
        let stored = StoredCheckpoint {
            size: head.size,
            note,
        };
        last.size = head.size;
        last.made = Some(Instant::now());
        match self.store.add_checkpoint(&stored).await {
            Ok(()) => {
                tracing::debug!(size = stored.size, "signed a ledger checkpoint");
                Ok(Some(stored))
            }
            // Another process signed this size first; its checkpoint stands.
            Err(StoreError::Conflict(ConflictKind::Other)) => Ok(None),
            Err(e) => Err(msg(format!("storing a checkpoint: {e}"))),
        }
    }
}

/// Makes the audit key, records it in the facility book, then names it in the settings.
/// An origin already fixed in the database (`stored_origin`) is kept.
async fn generate(
    config: &InstanceConfig,
    stored_origin: Option<String>,
    store: &SqliteStore,
    backend: &dyn KeyGenerator,
    now: std::time::SystemTime,
) -> Result<(Arc<dyn Signer>, NoteKey)> {
    let origin = stored_origin
        .or_else(|| config.ledger.origin.clone())
        .unwrap_or_else(|| default_origin(&config.instance.public_url));
    let label = crate::key_backend::key_label(
        &config.ca.key_backend,
        &format!("audit-{}", shuin_core::clock::unix_seconds(now)),
    );
    let key_ref = backend
        .generate(&label, KeySpec::EcP256)
        .context("generating the ledger audit key")?;
    let signer = backend.signer(&key_ref).context("the audit key")?;
    let key = NoteKey::from_spki(&origin, signer.public_key_der()).context("the audit key")?;
    store
        .append(
            EntryDraft {
                book: Book::Facility,
                kind: "key.generated".into(),
                actor: audit_actor(),
                subjects: vec!["key:audit".into()],
                payload: serde_json::json!({
                    "purpose": "ledger_checkpoints",
                    "uri": key_ref.as_str(),
                    "backend": backend.info(),
                    "public_key_sha256": hex::encode(Sha256::digest(signer.public_key_der())),
                    "public_key": base64::engine::general_purpose::STANDARD.encode(signer.public_key_der()),
                    "origin": origin,
                    "note_key_id": key.key_id_hex(),
                    "verifier_key": key.verifier_key(),
                }),
                evidence: vec![],
            },
            now,
        )
        .await
        .context("ledger")?;
    store
        .set_setting(ORIGIN_SETTING, &origin)
        .await
        .context("settings")?;
    store
        .set_setting(AUDIT_KEY_SETTING, key_ref.as_str())
        .await
        .context("settings")?;
    tracing::info!(origin = %origin, key_id = %key.key_id_hex(), "made the ledger audit key");
    Ok((signer, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_origin_is_the_public_url_without_scheme() {
        assert_eq!(
            default_origin("https://ca.example.jp/"),
            "ca.example.jp/ledger"
        );
        assert_eq!(
            default_origin("http://127.0.0.1:8080/base"),
            "127.0.0.1:8080/base/ledger"
        );
    }

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
