//! An RA node's own book (`shuin_core::node_book`; docs/deployment.md, "The RA node's
//! books"): the node holds no key, so its checkpoints are signed by the CA's audit key
//! over the CA's link, under the node book's own origin. `shuin node init` records the
//! CA's audit key in the new node's facility book (`key.adopted`) and fixes the origin;
//! the node's `shuin.toml` keeps the CA's pin, so `shuin ledger verify` checks the
//! node's book as it checks the CA's.
//!
//! The node serves pages of its book to the link and keeps each checkpoint the CA signs
//! only after checking it: signed by the pinned key under its origin, of the tree it
//! holds, and not behind the last signed head kept in the node's directory.

use crate::checkpoints::{audit_key_from_ledger, ORIGIN_SETTING};
use base64::Engine;
use shuin_core::node_book::{
    BookAsk, BookKeeper, BookKept, BookNote, BookPage, NodeBookError, MAX_BOOK_ENTRIES,
};
use shuin_core::Clock;
use shuin_ledger::head_file::HeadFile;
use shuin_ledger::trust::{advance_rows, check_pin, AuditKeyPin, SignedHead};
use shuin_ledger::{merkle, Actor, Book, Checkpoint, CompactTree, EntryDraft, NoteKey};
use shuin_store::{
    CheckpointWriter, ConflictKind, LedgerStore, SettingsStore, StoreError, StoredCheckpoint,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The entry recording, in a node's facility book, the key that signs its checkpoints.
pub const KEY_ADOPTED: &str = "key.adopted";

/// What a node book's store must do.
pub trait NodeBookStore: LedgerStore + CheckpointWriter + SettingsStore {}
impl<S: LedgerStore + CheckpointWriter + SettingsStore + ?Sized> NodeBookStore for S {}

/// How often the node wants a checkpoint (its `[ledger]` interval).
#[derive(Debug, Clone, Copy)]
pub struct NodeBookInterval {
    /// Once this many entries follow the newest checkpoint.
    pub every_entries: u64,
    /// Or when entries follow it and this long has passed since the last one kept.
    pub every: Duration,
}

/// What the node knows of its book.
struct Kept {
    /// The tree at the last signed head this node kept (or checked at open).
    tree: CompactTree,
    /// When this process last kept a checkpoint.
    at: Option<Instant>,
}

/// The node's book.
pub struct NodeBook<S: ?Sized> {
    store: Arc<S>,
    heads: HeadFile,
    key: NoteKey,
    interval: NodeBookInterval,
    kept: tokio::sync::Mutex<Kept>,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> NodeBookError {
    NodeBookError::Unavailable(format!("{what}: {e}"))
}

/// The CA's audit key as its facility book (`ca_rows`) records it, checked against the
/// pin the new node's configuration copies from the CA's.
///
/// # Errors
///
/// The CA's books record no audit key, or another than the pinned one.
pub fn ca_audit_key(
    ca_rows: &[shuin_ledger::StoredEntry],
    pin: Option<&AuditKeyPin>,
) -> Result<NoteKey, NodeBookError> {
    let key = audit_key_from_ledger(ca_rows).ok_or_else(|| {
        NodeBookError::Unavailable("the CA's facility book records no audit key".into())
    })?;
    check_pin(pin, &key, true).map_err(|e| NodeBookError::Refused(e.to_string()))?;
    Ok(key)
}

/// The origin of node `name`'s book: the CA's origin followed by the node's name.
pub fn node_origin(ca_key: &NoteKey, name: &str) -> String {
    format!("{}/{name}", ca_key.name())
}

/// Records in the new node's store that the CA's audit key (`ca_key`, as the CA's
/// facility book records it) signs its checkpoints under `origin`.
///
/// # Errors
///
/// `origin` is not a key name, or the store cannot be written.
pub async fn adopt_audit_key<S: LedgerStore + SettingsStore + ?Sized>(
    store: &S,
    ca_key: &NoteKey,
    origin: &str,
    clock: &dyn Clock,
) -> Result<NoteKey, NodeBookError> {
    let key = NoteKey::from_spki(origin, ca_key.spki_der())
        .map_err(|e| NodeBookError::Malformed(format!("the node book's origin: {e}")))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let draft = EntryDraft {
        book: Book::Facility,
        kind: KEY_ADOPTED.into(),
        actor: Actor {
            name: "shuin-ledger".into(),
            role: "system".into(),
            zone: "secure".into(),
        },
        subjects: vec!["key:audit".into()],
        payload: serde_json::json!({
            "purpose": "ledger_checkpoints",
            "signed_by": "the CA's audit key, over the CA's link",
            "public_key": b64.encode(key.spki_der()),
            "public_key_sha256": AuditKeyPin::of_key(&key).hex(),
            "origin": origin,
            "ca_origin": ca_key.name(),
            "note_key_id": key.key_id_hex(),
            "verifier_key": key.verifier_key(),
        }),
        evidence: vec![],
    };
    store
        .append(draft, clock.now())
        .await
        .map_err(|e| unavailable("recording the audit key", e))?;
    store
        .set_setting(ORIGIN_SETTING, origin)
        .await
        .map_err(|e| unavailable("fixing the origin", e))?;
    Ok(key)
}

impl<S: NodeBookStore + ?Sized + 'static> NodeBook<S> {
    /// Opens the book of the node in `dir`: the audit key its facility book records,
    /// checked against `pin`, and its entries against the last signed head kept in `dir`.
    ///
    /// # Errors
    ///
    /// No origin or audit key is recorded, the key is not the pinned one, or the entries
    /// do not extend the last signed head.
    pub async fn open(
        store: Arc<S>,
        dir: &Path,
        pin: Option<&AuditKeyPin>,
        interval: NodeBookInterval,
    ) -> Result<NodeBook<S>, NodeBookError> {
        let origin = store
            .setting(ORIGIN_SETTING)
            .await
            .map_err(|e| unavailable("reading the origin", e))?
            .ok_or_else(|| NodeBookError::Unavailable("the node's book has no origin: it was made before node books were signed; make the node again with `shuin node init`".into()))?;
        let rows = store
            .ledger_rows()
            .await
            .map_err(|e| unavailable("reading the book", e))?;
        let key = audit_key_from_ledger(&rows)
            .filter(|key| key.name() == origin)
            .ok_or_else(|| {
                NodeBookError::Unavailable(format!(
                    "the node's facility book records no audit key for {origin}"
                ))
            })?;
        check_pin(pin, &key, true).map_err(|e| NodeBookError::Refused(e.to_string()))?;
        let heads = HeadFile::in_dir(dir);
        let note = heads
            .load()
            .map_err(|e| unavailable("reading the last signed head", e))?;
        let mut tree = CompactTree::new();
        if let Some(note) = note {
            let signed =
                SignedHead::open(&note, &key).map_err(|e| NodeBookError::Refused(e.to_string()))?;
            let upto = usize::try_from(signed.size).unwrap_or(usize::MAX);
            let canonical = rows.iter().take(upto).map(|row| row.canonical.as_slice());
            advance_rows(&mut tree, canonical, Some(&signed))
                .map_err(|e| NodeBookError::Refused(e.to_string()))?;
        }
        Ok(NodeBook {
            store,
            heads,
            key,
            interval,
            kept: tokio::sync::Mutex::new(Kept { tree, at: None }),
        })
    }

    /// Whether a checkpoint is due at `size`.
    async fn due(&self, size: u64) -> Result<bool, NodeBookError> {
        let newest = self
            .store
            .latest_checkpoint()
            .await
            .map_err(|e| unavailable("reading the newest checkpoint", e))?
            .map_or(0, |c| c.size);
        if size <= newest {
            return Ok(false);
        }
        let at = self.kept.lock().await.at;
        Ok(size - newest >= self.interval.every_entries
            || at.is_none_or(|at| at.elapsed() >= self.interval.every))
    }

    async fn entries(
        &self,
        after: u64,
        through: u64,
        max: usize,
    ) -> Result<Vec<String>, NodeBookError> {
        let wanted = through
            .saturating_sub(after)
            .min(u64::try_from(max.min(MAX_BOOK_ENTRIES)).unwrap_or(u64::MAX));
        if wanted == 0 {
            return Ok(Vec::new());
        }
        let rows = self
            .store
            .ledger_rows_page(after, wanted)
            .await
            .map_err(|e| unavailable("reading the book", e))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        Ok(rows.iter().map(|row| b64.encode(&row.canonical)).collect())
    }
}

#[async_trait::async_trait]
impl<S: NodeBookStore + ?Sized + 'static> BookKeeper for NodeBook<S> {
    async fn page(&self, ask: &BookAsk) -> Result<BookPage, NodeBookError> {
        let origin = self.key.name().to_owned();
        if let Some(through) = ask.through {
            let size = self
                .store
                .ledger_size()
                .await
                .map_err(|e| unavailable("reading the book", e))?;
            if through > size {
                return Err(NodeBookError::Malformed(format!(
                    "the book holds {size} entries, not {through}"
                )));
            }
            let entries = self.entries(ask.after, through, ask.max).await?;
            return Ok(BookPage {
                origin,
                size: through,
                root_hex: None,
                due: true,
                held: self.kept.lock().await.tree.size(),
                entries,
            });
        }
        let head = self
            .store
            .ledger_head()
            .await
            .map_err(|e| unavailable("reading the tree head", e))?;
        let (size, root_hex) = head.map_or((0, hex::encode(merkle::empty_root())), |h| {
            (h.size, h.root_hex)
        });
        let due = self.due(size).await?;
        let entries = if due {
            self.entries(ask.after, size, ask.max).await?
        } else {
            Vec::new()
        };
        Ok(BookPage {
            origin,
            size,
            root_hex: Some(root_hex),
            due,
            held: self.kept.lock().await.tree.size(),
            entries,
        })
    }

    async fn keep(&self, note: &BookNote) -> Result<BookKept, NodeBookError> {
        let checkpoint = Checkpoint::open(&note.note, &self.key).map_err(|e| {
            NodeBookError::Refused(format!(
                "not signed by the pinned audit key under {}: {e}",
                self.key.name()
            ))
        })?;
        let mut kept = self.kept.lock().await;
        if checkpoint.size < kept.tree.size() {
            return Err(NodeBookError::Refused(format!(
                "a checkpoint of {} entries is behind the last signed head ({})",
                checkpoint.size,
                kept.tree.size()
            )));
        }
        let mut tree = kept.tree.clone();
        let rows = self
            .store
            .ledger_rows_page(tree.size(), checkpoint.size - tree.size())
            .await
            .map_err(|e| unavailable("reading the book", e))?;
        for row in &rows {
            tree.append(merkle::leaf_hash(&row.canonical));
        }
        if tree.size() != checkpoint.size || tree.root() != checkpoint.root {
            return Err(NodeBookError::Refused(format!(
                "the checkpoint of {} entries is not of the tree this node holds",
                checkpoint.size
            )));
        }
        let (heads, text) = (self.heads.clone(), note.note.clone());
        tokio::task::spawn_blocking(move || {
            let _lock = heads.lock()?;
            heads.save(&text)
        })
        .await
        .map_err(|e| unavailable("keeping the last signed head", e))?
        .map_err(|e| unavailable("keeping the last signed head", e))?;
        let stored = StoredCheckpoint {
            size: checkpoint.size,
            note: note.note.clone(),
        };
        match self.store.add_checkpoint(&stored).await {
            // Another node on the same store kept a checkpoint of this size first.
            Ok(()) | Err(StoreError::Conflict(ConflictKind::Other)) => {}
            Err(e) => return Err(unavailable("storing the checkpoint", e)),
        }
        kept.tree = tree;
        kept.at = Some(Instant::now());
        Ok(BookKept {
            size: checkpoint.size,
        })
    }
}
