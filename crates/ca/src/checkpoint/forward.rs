//! Heads only move forward (docs/ledger.md, "Pinned audit key and forward heads"):
//! before the audit key signs, the tree is recomputed from the entries and checked to
//! extend the last signed head, which is kept outside the database
//! ([`shuin_ledger::head_file`]). A head that does not extend it is refused: the refusal
//! is recorded in the facility book (`checkpoint.refused`) if the ledger can be written,
//! and from then on this signer signs nothing.
//!
//! The tree is recomputed from the first entry once per process (at open), then
//! extended from the tree last signed, so each checkpoint reads only the new entries.

use super::{audit_actor, CheckpointError, CheckpointMaker, Last};
use shuin_ledger::head_file::{HeadFile, HeadLock};
use shuin_ledger::trust::{advance_rows, SignedHead, TrustError, CHECKPOINT_REFUSED};
use shuin_ledger::{CompactTree, TreeHead};
use shuin_store::{CheckpointWriter, LedgerStore, SettingsStore};
use std::sync::Arc;

/// Entries read at a time when the tree is recomputed.
const WALK_PAGE: u64 = 10_000;

/// Where the last signed head is kept outside the database: the instance's
/// [`HeadFile`], or a fake in tests.
pub trait SignedHeads: Send + Sync {
    /// Takes the signers' lock (blocking), if this place has one.
    fn lock(&self) -> std::io::Result<Option<HeadLock>>;
    /// The last signed note; `None` when there is none.
    fn load(&self) -> std::io::Result<Option<String>>;
    /// Replaces it with `note`, atomically and durably.
    fn save(&self, note: &str) -> std::io::Result<()>;
}

impl SignedHeads for HeadFile {
    fn lock(&self) -> std::io::Result<Option<HeadLock>> {
        HeadFile::lock(self).map(Some)
    }

    fn load(&self) -> std::io::Result<Option<String>> {
        HeadFile::load(self)
    }

    fn save(&self, note: &str) -> std::io::Result<()> {
        HeadFile::save(self, note)
    }
}

/// What to do when no last signed head is kept yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingHead {
    /// `shuin init`: the first checkpoint makes it.
    First,
    /// An instance made before heads were kept: the newest stored checkpoint is adopted
    /// once it is checked against the entries; with no stored checkpoint only an empty
    /// ledger is signed.
    AdoptStored,
    /// A development instance: as `AdoptStored`, but a ledger with no checkpoint is
    /// signed too (with a warning).
    Development,
}

/// Runs a blocking call on the head place off the async workers.
async fn blocking<T: Send + 'static>(
    heads: &Arc<dyn SignedHeads>,
    what: &'static str,
    call: impl FnOnce(&dyn SignedHeads) -> std::io::Result<T> + Send + 'static,
) -> Result<T, CheckpointError> {
    let heads = heads.clone();
    tokio::task::spawn_blocking(move || call(heads.as_ref()))
        .await
        .map_err(CheckpointError::Task)?
        .map_err(|source| CheckpointError::HeadFile { what, source })
}

impl<S> CheckpointMaker<S>
where
    S: SettingsStore + LedgerStore + CheckpointWriter + ?Sized + 'static,
{
    /// Takes the signers' lock on the head place.
    pub(super) async fn lock_heads(&self) -> Result<Option<HeadLock>, CheckpointError> {
        blocking(&self.heads, "locking the last signed head", |h| h.lock()).await
    }

    /// Keeps `note` as the last signed head.
    pub(super) async fn save_head(&self, note: &str) -> Result<(), CheckpointError> {
        let note = note.to_owned();
        blocking(&self.heads, "writing the last signed head", move |h| {
            h.save(&note)
        })
        .await
    }

    /// The tree of the whole ledger as it stands, checked to extend the last signed
    /// head; a refusal is recorded (once) and latched.
    pub(super) async fn checked_tree(
        &self,
        last: &mut Last,
    ) -> Result<CompactTree, CheckpointError> {
        if let Some(refusal) = &last.refused {
            return Err(CheckpointError::Refused(refusal.clone()));
        }
        let note = blocking(&self.heads, "reading the last signed head", |h| h.load()).await?;
        let head = self.tree_head().await?;
        let checked = match self.last_signed(note, &head).await? {
            Ok(signed) => match self.walk(last, signed.as_ref(), &head).await? {
                Ok(tree) => return Ok(tree),
                Err(refusal) => (refusal, signed),
            },
            Err(refusal) => (refusal, None),
        };
        let (refusal, signed) = checked;
        Err(self.refuse(last, refusal, &head, signed.as_ref()).await)
    }

    pub(super) async fn tree_head(&self) -> Result<TreeHead, CheckpointError> {
        Ok(self
            .store
            .ledger_head()
            .await
            .map_err(|source| CheckpointError::Read {
                what: "reading the tree head",
                source,
            })?
            .unwrap_or(TreeHead {
                size: 0,
                root_hex: hex::encode(shuin_ledger::merkle::empty_root()),
            }))
    }

    /// The last signed head, from its file or, where the policy allows, adopted.
    async fn last_signed(
        &self,
        note: Option<String>,
        head: &TreeHead,
    ) -> Result<Result<Option<SignedHead>, TrustError>, CheckpointError> {
        if let Some(note) = note {
            return Ok(SignedHead::open(&note, &self.key).map(Some));
        }
        if self.missing_head == MissingHead::First {
            return Ok(Ok(None));
        }
        let stored =
            self.store
                .latest_checkpoint()
                .await
                .map_err(|source| CheckpointError::Read {
                    what: "reading the latest checkpoint",
                    source,
                })?;
        Ok(match stored {
            Some(stored) => {
                tracing::warn!(
                    size = stored.size,
                    "no last signed head is kept outside the database yet: adopting the newest stored checkpoint, checked against the entries"
                );
                SignedHead::open(&stored.note, &self.key).map(Some)
            }
            None if head.size == 0 => Ok(None),
            None if self.missing_head == MissingHead::Development => {
                tracing::warn!("development instance: signing a ledger that has no checkpoint and no last signed head");
                Ok(None)
            }
            None => Err(TrustError::LastHeadMissing(format!(
                "the ledger holds {} entries but no checkpoint, and no last signed head is kept ({}): restore the file from a copy (a publisher's ledger/checkpoint) before signing",
                head.size,
                shuin_ledger::head_file::HEAD_FILE
            ))),
        })
    }

    /// Recomputes the tree up to `head` from the tree last signed (or from the first
    /// entry), checking `signed` on the way and `head`'s root at the end.
    async fn walk(
        &self,
        last: &Last,
        signed: Option<&SignedHead>,
        head: &TreeHead,
    ) -> Result<Result<CompactTree, TrustError>, CheckpointError> {
        if let Some(signed) = signed {
            if signed.size > head.size {
                return Ok(Err(TrustError::LedgerRolledBack {
                    signed_size: signed.size,
                    size: head.size,
                }));
            }
        }
        let limit = signed.map_or(head.size, |s| s.size).min(head.size);
        let mut tree = match &last.frontier {
            Some(tree) if tree.size() <= limit => tree.clone(),
            _ => CompactTree::new(),
        };
        // In pages, so that a first walk over large books holds one page at a time.
        while tree.size() < head.size {
            let from = tree.size();
            let page = self
                .store
                .ledger_rows_page(from, WALK_PAGE.min(head.size - from))
                .await
                .map_err(|source| CheckpointError::Read {
                    what: "reading the entries",
                    source,
                })?;
            let end = from + u64::try_from(page.len()).unwrap_or(u64::MAX);
            if page.is_empty() {
                break;
            }
            // The signed head is checked on the page that reaches it.
            let on_page = signed.filter(|s| s.size >= from && s.size <= end);
            let canonical = page.iter().map(|row| row.canonical.as_slice());
            if let Err(refusal) = advance_rows(&mut tree, canonical, on_page) {
                return Ok(Err(refusal));
            }
        }
        if let Err(refusal) = advance_rows(&mut tree, std::iter::empty(), signed) {
            return Ok(Err(refusal));
        }
        let computed = hex::encode(tree.root());
        if tree.size() != head.size || computed != head.root_hex {
            return Ok(Err(TrustError::StoredHeadMismatch {
                size: head.size,
                stored_root: head.root_hex.clone(),
                computed_root: format!("{computed} over {} entries", tree.size()),
            }));
        }
        Ok(Ok(tree))
    }

    /// Records `refusal` in the facility book (if the ledger can be written) and latches
    /// it: this signer signs nothing more.
    async fn refuse(
        &self,
        last: &mut Last,
        refusal: TrustError,
        head: &TreeHead,
        signed: Option<&SignedHead>,
    ) -> CheckpointError {
        tracing::error!(
            code = refusal.code(),
            "refusing to sign a ledger checkpoint: {refusal}"
        );
        last.refused = Some(refusal.clone());
        let draft = CHECKPOINT_REFUSED.draft(
            audit_actor(),
            vec!["key:audit".into()],
            serde_json::json!({
                "code": refusal.code(),
                "detail": refusal.to_string(),
                "last_signed_size": signed.map(|s| s.size),
                "last_signed_root": signed.map(|s| hex::encode(s.root)),
                "ledger_size": head.size,
                "ledger_root": head.root_hex,
            }),
        );
        match self.store.append(draft, self.clock.now()).await {
            Ok(_) => CheckpointError::Refused(refusal),
            Err(source) => CheckpointError::RefusedUnrecorded { refusal, source },
        }
    }
}
