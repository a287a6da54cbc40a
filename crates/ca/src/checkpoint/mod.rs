//! Signed checkpoints of the ledger (docs/ledger.md, "Checkpoints").
//!
//! The audit key is made in the key backend (an HSM in production) the first time an
//! instance needs it, recorded in the facility book and named by URI in the setting
//! `ledger.audit_key`; the log's origin is fixed at the same time in `ledger.origin`, so
//! a later change of `public_url` does not fork the checkpoints. A checkpoint is signed
//! once `every_entries` entries have accumulated or `every` has passed with new entries,
//! at shutdown, and before an export.
//!
//! The audit key must be the one pinned in `shuin.toml` (`[ledger] audit_key_sha256`),
//! and each new head must extend the last signed head kept outside the database
//! ([`forward`]).

mod forward;
#[cfg(test)]
mod tests;

pub use forward::{MissingHead, SignedHeads};

use crate::witnessing::Witnessing;
use base64::Engine;
use sha2::{Digest, Sha256};
use shuin_core::Clock;
use shuin_keys::{KeyError, KeyGenerator, KeyRef, KeySpec, Signer};
use shuin_ledger::trust::{check_pin, AuditKeyPin, TrustError};
use shuin_ledger::{Actor, Book, Checkpoint, CompactTree, EntryDraft, NoteError, NoteKey};
use shuin_store::{
    CheckpointWriter, ConflictKind, LedgerStore, SettingsStore, StoreError, StoredCheckpoint,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The setting naming the audit key by URI.
pub const AUDIT_KEY_SETTING: &str = "ledger.audit_key";
/// The setting holding the log's origin (the checkpoints' first line and key name).
pub const ORIGIN_SETTING: &str = shuin_books::checkpoints::ORIGIN_SETTING;

/// Why a checkpoint, or the audit key, could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Reading or writing the settings that name the audit key and the origin failed.
    #[error("settings: {0}")]
    Settings(#[source] StoreError),
    /// Recording the new audit key in the facility book failed; it is not named in the
    /// settings, and nothing was signed with it.
    #[error("ledger: {0}")]
    Ledger(#[source] StoreError),
    /// Reading the ledger (its size, its head, the latest checkpoint) failed.
    #[error("{what}: {source}")]
    Read {
        /// What was being read.
        what: &'static str,
        /// The storage error.
        #[source]
        source: StoreError,
    },
    /// Another book asked for a checkpoint under the CA's own origin.
    #[error("a node book may not take the CA's own ledger origin {0:?}")]
    OwnOrigin(String),
    /// Storing a signed checkpoint failed (other than a concurrent one of the same size).
    #[error("storing a checkpoint: {0}")]
    Store(#[source] StoreError),
    /// A key backend operation on the audit key failed.
    #[error("{what}: {source}")]
    Key {
        /// What was being done.
        what: &'static str,
        /// The key error.
        #[source]
        source: KeyError,
    },
    /// The audit key cannot be a note key.
    #[error("{what}: {source}")]
    Note {
        /// What was being done.
        what: &'static str,
        /// The note error.
        #[source]
        source: NoteError,
    },
    /// The checkpoint just signed does not open with the audit key.
    #[error("the audit key's checkpoint signature: {0}")]
    Verify(#[source] shuin_ledger::CheckpointError),
    /// The audit key signs with another algorithm than its public key calls for.
    #[error("the audit key signs {signs} but its public key calls for {expects}")]
    AlgorithmMismatch {
        /// What the signer makes.
        signs: &'static str,
        /// What the public key calls for.
        expects: &'static str,
    },
    /// The stored tree head's root is not hex.
    #[error("the stored tree head's root is not hex")]
    TreeHead,
    /// The blocking signing task did not finish.
    #[error("checkpoint signing task: {0}")]
    Task(#[source] tokio::task::JoinError),
    /// The audit key is not the pinned one, or no pin is configured where one must be.
    #[error("{0}")]
    Trust(#[source] TrustError),
    /// The head is not a consistent extension of the last signed head; the refusal is
    /// recorded in the facility book (`checkpoint.refused`).
    #[error("checkpoint refused: {0} (recorded as checkpoint.refused in the facility book)")]
    Refused(#[source] TrustError),
    /// As `Refused`, but the refusal could not be recorded.
    #[error(
        "checkpoint refused: {refusal}; the refusal could not be recorded in the ledger: {source}"
    )]
    RefusedUnrecorded {
        /// Why the head was refused.
        refusal: TrustError,
        /// Why it was not recorded.
        #[source]
        source: StoreError,
    },
    /// The last signed head kept outside the database cannot be read, locked or written.
    #[error("{what}: {source}")]
    HeadFile {
        /// What was being done.
        what: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl CheckpointError {
    /// The reason code of a refusal or a pin failure, if this is one.
    pub fn refusal(&self) -> Option<&TrustError> {
        match self {
            CheckpointError::Trust(e)
            | CheckpointError::Refused(e)
            | CheckpointError::RefusedUnrecorded { refusal: e, .. } => Some(e),
            _ => None,
        }
    }

    /// The stable reason code (snake_case) of this failure.
    pub fn code(&self) -> &'static str {
        match self {
            CheckpointError::Settings(_) | CheckpointError::Read { .. } => "ledger_unreadable",
            CheckpointError::Ledger(_) | CheckpointError::Store(_) => "ledger_write_failed",
            CheckpointError::OwnOrigin(_) => "own_origin",
            CheckpointError::Key { .. }
            | CheckpointError::Note { .. }
            | CheckpointError::Verify(_)
            | CheckpointError::AlgorithmMismatch { .. } => "audit_key_unusable",
            CheckpointError::TreeHead => "tree_head_invalid",
            CheckpointError::Task(_) => "checkpoint_task_failed",
            CheckpointError::HeadFile { .. } => "last_head_unwritable",
            CheckpointError::Trust(e)
            | CheckpointError::Refused(e)
            | CheckpointError::RefusedUnrecorded { refusal: e, .. } => e.code(),
        }
    }

    /// Whether the signer must stop the process (fail closed): a refusal that could not
    /// be recorded, or a last signed head that cannot be kept.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            CheckpointError::RefusedUnrecorded { .. } | CheckpointError::HeadFile { .. }
        )
    }
}

/// How an instance makes checkpoints (from `[ledger]` in its configuration).
#[derive(Debug, Clone)]
pub struct CheckpointSettings {
    /// The configured origin for a new audit key; `None` derives it from `public_url`.
    pub origin: Option<String>,
    /// The instance's public URL.
    pub public_url: String,
    /// The backend label of the audit key, should one be made now.
    pub new_key_label: String,
    /// Its type (ECDSA P-256 unless `[ledger] audit_key_type` says otherwise).
    pub new_key_spec: KeySpec,
    /// Sign once this many entries follow the last checkpoint.
    pub every_entries: u64,
    /// Sign when new entries are this old.
    pub every: Duration,
    /// The witnesses each new checkpoint is submitted to, if any.
    pub witnessing: Option<Arc<Witnessing>>,
    /// The pinned audit key fingerprint (`[ledger] audit_key_sha256`).
    pub pin: Option<AuditKeyPin>,
    /// Whether a pin is required (every instance but a development one).
    pub require_pin: bool,
    /// What to do when no last signed head is kept yet.
    pub missing_head: MissingHead,
}

/// `https://ca.example.jp/base/` gives `ca.example.jp/base/ledger`.
pub fn default_origin(public_url: &str) -> String {
    let rest = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest);
    format!("{}/ledger", rest.trim_end_matches('/'))
}

/// The last checkpoint this process knows of, the tree it signed (checked against the
/// last signed head), and the refusal that stopped this signer, if any.
struct Last {
    size: u64,
    made: Option<Instant>,
    frontier: Option<CompactTree>,
    refused: Option<TrustError>,
}

/// Signs checkpoints with the audit key and stores them.
pub struct CheckpointMaker<S: ?Sized> {
    store: Arc<S>,
    signer: Arc<dyn Signer>,
    key: NoteKey,
    every_entries: u64,
    every: Duration,
    last: tokio::sync::Mutex<Last>,
    witnessing: Option<Arc<Witnessing>>,
    heads: Arc<dyn SignedHeads>,
    missing_head: MissingHead,
    clock: Arc<dyn Clock>,
}

impl<S: ?Sized> std::fmt::Debug for CheckpointMaker<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointMaker")
            .field("key", &self.key.name())
            .field("every_entries", &self.every_entries)
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

/// The audit key as the signer of another log's checkpoints: the books of the RA nodes
/// the CA signs over its links (`crate::node_books`), each under its own origin.
#[derive(Clone)]
pub struct AuditSigner {
    signer: Arc<dyn Signer>,
    key: NoteKey,
}

impl std::fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSigner")
            .field("origin", &self.key.name())
            .finish_non_exhaustive()
    }
}

impl AuditSigner {
    /// The audit key's signer, named by the CA's own origin.
    pub fn new(signer: Arc<dyn Signer>, key: NoteKey) -> AuditSigner {
        AuditSigner { signer, key }
    }

    /// The CA's own ledger origin, which no other book may take.
    pub fn own_origin(&self) -> &str {
        self.key.name()
    }

    /// The audit key's fingerprint, as pinned.
    pub fn pin(&self) -> AuditKeyPin {
        AuditKeyPin::of_key(&self.key)
    }

    /// The audit key named `origin` (the key of another book's checkpoints).
    ///
    /// # Errors
    ///
    /// `origin` is not a valid key name.
    pub fn key_for(&self, origin: &str) -> Result<NoteKey, NoteError> {
        NoteKey::from_spki(origin, self.key.spki_der())
    }

    /// Signs `checkpoint` (another book's: never the CA's own origin) and checks the
    /// signature before it is returned.
    ///
    /// # Errors
    ///
    /// The origin is the CA's own or not a key name, the key backend failed, or its
    /// signature does not verify.
    pub async fn sign(&self, checkpoint: Checkpoint) -> Result<String, CheckpointError> {
        if checkpoint.origin == self.key.name() {
            return Err(CheckpointError::OwnOrigin(checkpoint.origin));
        }
        let key = self
            .key_for(&checkpoint.origin)
            .map_err(|source| CheckpointError::Note {
                what: "the node book's key name",
                source,
            })?;
        sign_checkpoint(
            &self.signer,
            &key,
            checkpoint,
            "signing a node book's checkpoint with the audit key",
        )
        .await
    }
}

impl<S: ?Sized> CheckpointMaker<S> {
    /// The audit key as a signer of other books' checkpoints.
    pub fn audit_signer(&self) -> AuditSigner {
        AuditSigner::new(self.signer.clone(), self.key.clone())
    }
}

pub(crate) fn audit_actor() -> Actor {
    Actor {
        name: "shuin-ledger".into(),
        role: "system".into(),
        zone: "high_security".into(),
    }
}

impl<S> CheckpointMaker<S>
where
    S: SettingsStore + LedgerStore + CheckpointWriter + ?Sized + 'static,
{
    /// Opens the audit key named in the settings, or makes one (recorded in the facility
    /// book) when there is none; checks it against the pin, and the ledger against the
    /// last signed head kept in `heads` (a refusal is recorded and returned).
    pub async fn open(
        settings: CheckpointSettings,
        store: Arc<S>,
        backend: &dyn KeyGenerator,
        heads: Arc<dyn SignedHeads>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CheckpointError> {
        let now = clock.now();
        let stored_key = store
            .setting(AUDIT_KEY_SETTING)
            .await
            .map_err(CheckpointError::Settings)?;
        let stored_origin = store
            .setting(ORIGIN_SETTING)
            .await
            .map_err(CheckpointError::Settings)?;
        let (signer, key) = match (stored_key, stored_origin) {
            (Some(uri), Some(origin)) => {
                let key_ref = KeyRef::parse(&uri).map_err(|source| CheckpointError::Key {
                    what: "stored audit key",
                    source,
                })?;
                audit_signer(backend, &key_ref, &origin)?
            }
            (_, origin) => generate(&settings, origin, store.as_ref(), backend, now).await?,
        };
        if signer.algorithm() != key.algorithm() {
            return Err(CheckpointError::AlgorithmMismatch {
                signs: signer.algorithm().name(),
                expects: key.algorithm().name(),
            });
        }
        check_pin(settings.pin.as_ref(), &key, settings.require_pin)
            .map_err(CheckpointError::Trust)?;
        if settings.pin.is_none() {
            tracing::warn!(
                audit_key_sha256 = %AuditKeyPin::of_key(&key).hex(),
                "the audit key is not pinned in shuin.toml ([ledger] audit_key_sha256): any key would be accepted"
            );
        }
        let last = store
            .latest_checkpoint()
            .await
            .map_err(|source| CheckpointError::Read {
                what: "reading the latest checkpoint",
                source,
            })?;
        let maker = CheckpointMaker {
            store,
            signer,
            key,
            every_entries: settings.every_entries,
            every: settings.every,
            last: tokio::sync::Mutex::new(Last {
                size: last.map_or(0, |c| c.size),
                made: None,
                frontier: None,
                refused: None,
            }),
            witnessing: settings.witnessing,
            heads,
            missing_head: settings.missing_head,
            clock,
        };
        {
            let mut last = maker.last.lock().await;
            let tree = maker.checked_tree(&mut last).await?;
            last.frontier = Some(tree);
        }
        Ok(maker)
    }

    /// The audit key's fingerprint, as pinned.
    pub fn pin(&self) -> AuditKeyPin {
        AuditKeyPin::of_key(&self.key)
    }

    /// The audit key as a note key (its name is the origin).
    pub fn key(&self) -> &NoteKey {
        &self.key
    }

    /// Signs a checkpoint if one is due: `every_entries` new entries, or new entries and
    /// `every` since the last one this process made (at once after start).
    pub async fn tick(&self) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        let size = self.ledger_size().await?;
        let mut last = self.last.lock().await;
        if size <= last.size {
            return Ok(None);
        }
        let due = size - last.size >= self.every_entries
            || last.made.is_none_or(|made| made.elapsed() >= self.every);
        if !due {
            return Ok(None);
        }
        let made = self.make(&mut last).await?;
        if let Some(stored) = &made {
            self.send_to_witnesses(stored);
        }
        Ok(made)
    }

    /// Signs a checkpoint of the whole ledger now unless the latest already covers it
    /// (at shutdown and before an export).
    pub async fn checkpoint_now(&self) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        let made = self.checkpoint_unsent().await?;
        if let Some(stored) = &made {
            self.send_to_witnesses(stored);
        }
        Ok(made)
    }

    /// As [`Self::checkpoint_now`], and waits up to `patience` for the witnesses to
    /// cosign it (at shutdown: a task of its own would find the store closed); with no
    /// new checkpoint to sign, the newest stored one is sent. Returns that checkpoint,
    /// and how many witnesses have cosigned it (`None` when none are configured or they
    /// took longer than `patience`).
    pub async fn checkpoint_now_witnessed(
        &self,
        patience: std::time::Duration,
    ) -> Result<(Option<StoredCheckpoint>, Option<usize>), CheckpointError> {
        let made = self.checkpoint_unsent().await?;
        let Some(witnessing) = &self.witnessing else {
            return Ok((made, None));
        };
        // With no new checkpoint, the newest stored one is sent (a no-op for the
        // witnesses that cosigned it already): a tick's submission may not have ended.
        let newest =
            match &made {
                Some(stored) => Some(stored.clone()),
                None => self.store.latest_checkpoint().await.map_err(|source| {
                    CheckpointError::Read {
                        what: "reading the latest checkpoint",
                        source,
                    }
                })?,
            };
        let Some(newest) = newest else {
            return Ok((made, None));
        };
        let cosigned = witnessing.submit(self.store.as_ref(), &newest);
        let cosigned = tokio::time::timeout(patience, cosigned).await.ok();
        Ok((Some(newest), cosigned))
    }

    async fn checkpoint_unsent(&self) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        let mut last = self.last.lock().await;
        if let Some(latest) =
            self.store
                .latest_checkpoint()
                .await
                .map_err(|source| CheckpointError::Read {
                    what: "reading the latest checkpoint",
                    source,
                })?
        {
            last.size = last.size.max(latest.size);
        }
        let size = self.ledger_size().await?;
        if size <= last.size && size > 0 {
            return Ok(None);
        }
        self.make(&mut last).await
    }

    /// The witnesses, if any are configured.
    pub fn witnessing(&self) -> Option<&Arc<Witnessing>> {
        self.witnessing.as_ref()
    }

    /// Submits a new checkpoint to the witnesses in a task of its own: a witness that is
    /// slow or down never holds up the ledger or issuance.
    fn send_to_witnesses(&self, stored: &StoredCheckpoint) {
        if let Some(witnessing) = &self.witnessing {
            let (witnessing, store, stored) =
                (witnessing.clone(), self.store.clone(), stored.clone());
            tokio::spawn(async move {
                witnessing.submit(store.as_ref(), &stored).await;
            });
        }
    }

    async fn ledger_size(&self) -> Result<u64, CheckpointError> {
        self.store
            .ledger_size()
            .await
            .map_err(|source| CheckpointError::Read {
                what: "ledger size",
                source,
            })
    }

    async fn make(&self, last: &mut Last) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        // Held until the head is kept: another signer cannot move it back meanwhile.
        let _lock = self.lock_heads().await?;
        let tree = self.checked_tree(last).await?;
        let checkpoint = Checkpoint {
            origin: self.key.name().to_owned(),
            size: tree.size(),
            root: tree.root(),
        };
        let what = "signing a checkpoint with the audit key";
        let note = sign_checkpoint(&self.signer, &self.key, checkpoint, what).await?;
        // Kept outside the database before anyone can rely on it.
        self.save_head(&note).await?;
        let stored = StoredCheckpoint {
            size: tree.size(),
            note,
        };
        last.size = tree.size();
        last.made = Some(Instant::now());
        last.frontier = Some(tree);
        match self.store.add_checkpoint(&stored).await {
            Ok(()) => {
                tracing::debug!(size = stored.size, "signed a ledger checkpoint");
                Ok(Some(stored))
            }
            // Another process signed this size first; its checkpoint stands.
            Err(StoreError::Conflict(ConflictKind::Other)) => Ok(None),
            Err(e) => Err(CheckpointError::Store(e)),
        }
    }
}

/// Signs `checkpoint` with `signer` as `key` off the async workers, and checks the key
/// backend's signature before anyone relies on it.
async fn sign_checkpoint(
    signer: &Arc<dyn Signer>,
    key: &NoteKey,
    checkpoint: Checkpoint,
    what: &'static str,
) -> Result<String, CheckpointError> {
    let (signer, signing_key) = (signer.clone(), key.clone());
    let note = tokio::task::spawn_blocking(move || {
        checkpoint.sign(&signing_key, |message| signer.sign(message))
    })
    .await
    .map_err(CheckpointError::Task)?
    .map_err(|source| CheckpointError::Key { what, source })?;
    Checkpoint::open(&note, key).map_err(CheckpointError::Verify)?;
    Ok(note)
}

/// The audit key's signer and its note key under `origin`.
fn audit_signer(
    backend: &dyn KeyGenerator,
    key_ref: &KeyRef,
    origin: &str,
) -> Result<(Arc<dyn Signer>, NoteKey), CheckpointError> {
    let signer = backend
        .signer(key_ref)
        .map_err(|source| CheckpointError::Key {
            what: "the audit key",
            source,
        })?;
    let key = NoteKey::from_spki(origin, signer.public_key_der()).map_err(|source| {
        CheckpointError::Note {
            what: "the audit key",
            source,
        }
    })?;
    Ok((signer, key))
}

/// Makes the audit key, records it in the facility book, then names it in the settings.
/// An origin already fixed in the database (`stored_origin`) is kept.
async fn generate<S: SettingsStore + LedgerStore + ?Sized>(
    settings: &CheckpointSettings,
    stored_origin: Option<String>,
    store: &S,
    backend: &dyn KeyGenerator,
    now: std::time::SystemTime,
) -> Result<(Arc<dyn Signer>, NoteKey), CheckpointError> {
    let origin = stored_origin
        .or_else(|| settings.origin.clone())
        .unwrap_or_else(|| default_origin(&settings.public_url));
    let key_ref = backend
        .generate(&settings.new_key_label, settings.new_key_spec)
        .map_err(|source| CheckpointError::Key {
            what: "generating the ledger audit key",
            source,
        })?;
    let (signer, key) = audit_signer(backend, &key_ref, &origin)?;
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
        .map_err(CheckpointError::Ledger)?;
    store
        .set_setting(ORIGIN_SETTING, &origin)
        .await
        .map_err(CheckpointError::Settings)?;
    store
        .set_setting(AUDIT_KEY_SETTING, key_ref.as_str())
        .await
        .map_err(CheckpointError::Settings)?;
    tracing::info!(origin = %origin, key_id = %key.key_id_hex(), "made the ledger audit key");
    Ok((signer, key))
}
