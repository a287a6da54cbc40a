//! The CA signs the books of its RA nodes (`shuin_core::node_book`; docs/deployment.md,
//! "The RA node's books"). For each node book (by origin) the CA keeps the tree it
//! signed last outside its database, in `DIR/node-books/`, with the signed note. Over a
//! link it reads the entries the node added since, recomputes the tree on top of that
//! one, and signs only if the root the node states is the one it computed: a node whose
//! past changed is refused (`node_book_forked`), one that shrank too
//! (`node_book_rolled_back`). The refusal is recorded once in the CA's facility book and
//! latched until the CA restarts. Each signature is recorded in the CA's facility book
//! (`node_book.signed`) before the state is kept and the note handed over.

use crate::checkpoint::{AuditSigner, CheckpointError};
use base64::Engine;
use sha2::{Digest, Sha256};
use shuin_core::node_book::{
    BookAsk, BookNote, BookPage, BookPages, NodeBookError, NodeBookSigner, MAX_BOOK_ENTRIES,
    MAX_BOOK_PAGES_PER_ROUND,
};
use shuin_core::Clock;
use shuin_ledger::head_file::HeadFile;
use shuin_ledger::{merkle, Book, Checkpoint, CompactTree, EntryDraft};
use shuin_store::LedgerStore;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The directory of the kept node book heads, in the CA's instance directory.
pub const NODE_BOOKS_DIR: &str = "node-books";
/// The entry recording a node book checkpoint the CA signed.
pub const NODE_BOOK_SIGNED: &str = "node_book.signed";
/// The entry recording a node book the CA refused to sign.
pub const NODE_BOOK_REFUSED: &str = "node_book.refused";

/// The audit key, when the CA is unsealed.
pub type AuditKeySource = Arc<dyn Fn() -> Option<AuditSigner> + Send + Sync>;

/// What the CA knows of one node book.
#[derive(Default)]
struct BookState {
    /// Loaded from the kept file.
    loaded: bool,
    /// The tree signed last, and its note.
    signed: CompactTree,
    note: Option<String>,
    /// A gap being read: the size and root the node stated, and the tree read so far.
    reading: Option<(u64, [u8; 32], CompactTree)>,
    /// The refusal that stopped signing this book.
    refused: Option<NodeBookError>,
}

/// The CA's signer of node books.
pub struct NodeBookSigning {
    audit: AuditKeySource,
    dir: PathBuf,
    ledger: Arc<dyn LedgerStore>,
    clock: Arc<dyn Clock>,
    books: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<BookState>>>>,
}

/// What is kept per node book.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Kept {
    note: String,
    /// The compact tree's state (`CompactTree::to_state`), lowercase hex.
    frontier: Vec<String>,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> NodeBookError {
    NodeBookError::Unavailable(format!("{what}: {e}"))
}

impl NodeBookSigning {
    /// Signs with the audit key `audit` gives, keeps its state under `ca_dir`
    /// ([`NODE_BOOKS_DIR`]) and records in `ledger`.
    pub fn new(
        audit: AuditKeySource,
        ca_dir: &Path,
        ledger: Arc<dyn LedgerStore>,
        clock: Arc<dyn Clock>,
    ) -> NodeBookSigning {
        NodeBookSigning {
            audit,
            dir: ca_dir.join(NODE_BOOKS_DIR),
            ledger,
            clock,
            books: Default::default(),
        }
    }

    fn head_file(&self, origin: &str) -> HeadFile {
        let name = hex::encode(&Sha256::digest(origin.as_bytes())[..16]);
        HeadFile::named(&self.dir, &format!("{name}.json"))
    }

    async fn book(&self, origin: &str) -> Arc<tokio::sync::Mutex<BookState>> {
        self.books
            .lock()
            .await
            .entry(origin.to_owned())
            .or_default()
            .clone()
    }

    /// Reads the kept state of `origin`, checked against the audit key.
    async fn load(
        &self,
        origin: &str,
        audit: &AuditSigner,
    ) -> Result<Option<(CompactTree, String)>, NodeBookError> {
        let file = self.head_file(origin);
        let text = tokio::task::spawn_blocking(move || file.load())
            .await
            .map_err(|e| unavailable("reading the kept node book head", e))?
            .map_err(|e| unavailable("reading the kept node book head", e))?;
        let Some(text) = text else {
            return Ok(None);
        };
        let broken = |why: String| {
            NodeBookError::Unavailable(format!(
                "the kept head of node book {origin} in {NODE_BOOKS_DIR}/ does not verify: {why}"
            ))
        };
        let kept: Kept = serde_json::from_str(&text).map_err(|e| broken(e.to_string()))?;
        let key = audit.key_for(origin).map_err(|e| broken(e.to_string()))?;
        let checkpoint = Checkpoint::open(&kept.note, &key).map_err(|e| broken(e.to_string()))?;
        let mut hashes = Vec::new();
        for hash in &kept.frontier {
            let bytes = hex::decode(hash).map_err(|e| broken(e.to_string()))?;
            hashes.push(<[u8; 32]>::try_from(bytes).map_err(|_| broken("a hash".into()))?);
        }
        let tree =
            CompactTree::from_state(checkpoint.size, hashes).map_err(|e| broken(e.to_string()))?;
        if tree.root() != checkpoint.root {
            return Err(broken("its tree is not the signed one".into()));
        }
        Ok(Some((tree, kept.note)))
    }

    /// Keeps `note` and `tree` as the last signed head of `origin`.
    async fn save(
        &self,
        origin: &str,
        note: &str,
        tree: &CompactTree,
    ) -> Result<(), NodeBookError> {
        let kept = Kept {
            note: note.to_owned(),
            frontier: tree.to_state().iter().map(hex::encode).collect(),
        };
        let text =
            serde_json::to_string(&kept).map_err(|e| unavailable("the node book head", e))?;
        let (file, dir) = (self.head_file(origin), self.dir.clone());
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            let _lock = file.lock()?;
            file.save(&text)
        })
        .await
        .map_err(|e| unavailable("keeping the node book head", e))?
        .map_err(|e| unavailable("keeping the node book head", e))
    }

    async fn record(
        &self,
        kind: &str,
        node: &str,
        payload: serde_json::Value,
    ) -> Result<(), NodeBookError> {
        let draft = EntryDraft {
            book: Book::Facility,
            kind: kind.into(),
            actor: crate::checkpoint::audit_actor(),
            subjects: vec![format!("node:{node}"), "key:audit".into()],
            payload,
            evidence: vec![],
        };
        self.ledger
            .append(draft, self.clock.now())
            .await
            .map(|_| ())
            .map_err(|e| unavailable("recording in the CA's facility book", e))
    }

    /// Records `refusal` once and latches it.
    async fn refuse(
        &self,
        state: &mut BookState,
        node: &str,
        origin: &str,
        refusal: NodeBookError,
    ) -> NodeBookError {
        tracing::error!(
            node,
            origin,
            code = refusal.code(),
            "refusing to sign a node book: {refusal}"
        );
        let payload = serde_json::json!({
            "node": node,
            "origin": origin,
            "code": refusal.code(),
            "detail": refusal.to_string(),
            "signed_size": state.signed.size(),
        });
        state.reading = None;
        match self.record(NODE_BOOK_REFUSED, node, payload).await {
            Ok(()) => {
                state.refused = Some(refusal.clone());
                refusal
            }
            // Not latched: the refusal is recorded on a later round.
            Err(e) => e,
        }
    }
}

/// The entries of a page, decoded, after checking the page follows what was asked.
fn entries_of(page: &BookPage, origin: &str, ask: &BookAsk) -> Result<Vec<Vec<u8>>, NodeBookError> {
    if page.origin != origin {
        return Err(NodeBookError::Malformed(format!(
            "the page is of {:?}, not {origin:?}",
            page.origin
        )));
    }
    let through = ask.through.unwrap_or(page.size);
    let most = through
        .saturating_sub(ask.after)
        .min(u64::try_from(ask.max).unwrap_or(u64::MAX));
    let count = u64::try_from(page.entries.len()).unwrap_or(u64::MAX);
    if count == 0 || count > most {
        return Err(NodeBookError::Malformed(format!(
            "{} entries after {} (expected 1 to {most})",
            page.entries.len(),
            ask.after
        )));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    page.entries
        .iter()
        .map(|text| {
            let bytes = b64
                .decode(text)
                .map_err(|_| NodeBookError::Malformed("an entry is not standard base64".into()))?;
            shuin_ledger::Entry::from_canonical(&bytes)
                .map_err(|e| NodeBookError::Malformed(format!("an entry does not parse: {e}")))?;
            Ok(bytes)
        })
        .collect()
}

/// The last note again, for a node on the same book that keeps an older head.
fn again(state: &BookState, first: &BookPage) -> Option<BookNote> {
    let note = state.note.as_ref()?;
    (first.held < state.signed.size()).then(|| BookNote { note: note.clone() })
}

fn root_of(page: &BookPage) -> Result<[u8; 32], NodeBookError> {
    let text = page
        .root_hex
        .as_deref()
        .ok_or_else(|| NodeBookError::Malformed("the first page states no root".into()))?;
    hex::decode(text)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| NodeBookError::Malformed("the root is not 32 bytes of hex".into()))
}

#[async_trait::async_trait]
impl NodeBookSigner for NodeBookSigning {
    async fn sign(
        &self,
        node: &str,
        pages: &mut dyn BookPages,
    ) -> Result<Option<BookNote>, NodeBookError> {
        let audit = (self.audit)().ok_or(NodeBookError::Sealed)?;
        let first = pages
            .page(&BookAsk {
                after: 0,
                through: None,
                max: 0,
            })
            .await?;
        let origin = first.origin.clone();
        if origin == audit.own_origin() {
            return Err(NodeBookError::Malformed(format!(
                "the node book takes the CA's own origin {origin:?}"
            )));
        }
        let book = self.book(&origin).await;
        let mut state = book.lock().await;
        if let Some(refused) = &state.refused {
            return Err(refused.clone());
        }
        if !state.loaded {
            if let Some((tree, note)) = self.load(&origin, &audit).await? {
                state.signed = tree;
                state.note = Some(note);
            }
            state.loaded = true;
        }
        let root = root_of(&first)?;
        let signed = state.signed.size();
        if first.size < signed {
            let refusal = NodeBookError::RolledBack {
                origin: origin.clone(),
                signed,
                size: first.size,
            };
            return Err(self.refuse(&mut state, node, &origin, refusal).await);
        }
        if first.size == signed {
            if root != state.signed.root() {
                let refusal = NodeBookError::Forked(format!(
                    "the node states another root at the {signed} entries the CA signed"
                ));
                return Err(self.refuse(&mut state, node, &origin, refusal).await);
            }
            return Ok(again(&state, &first));
        }
        if state.reading.is_none() {
            if !first.due {
                return Ok(again(&state, &first));
            }
            state.reading = Some((first.size, root, state.signed.clone()));
        }
        let Some((size, root, mut tree)) = state.reading.take() else {
            return Ok(None);
        };
        for _ in 0..MAX_BOOK_PAGES_PER_ROUND {
            if tree.size() >= size {
                break;
            }
            let ask = BookAsk {
                after: tree.size(),
                through: Some(size),
                max: MAX_BOOK_ENTRIES,
            };
            let page = pages.page(&ask).await?;
            for entry in entries_of(&page, &origin, &ask)? {
                tree.append(merkle::leaf_hash(&entry));
            }
        }
        if tree.size() < size {
            state.reading = Some((size, root, tree));
            return Ok(None);
        }
        if tree.root() != root {
            let refusal = NodeBookError::Forked(format!(
                "the entries after the {signed} the CA signed do not lead to the root the node states at {size}"
            ));
            return Err(self.refuse(&mut state, node, &origin, refusal).await);
        }
        let checkpoint = Checkpoint {
            origin: origin.clone(),
            size,
            root,
        };
        let note = audit
            .sign(checkpoint)
            .await
            .map_err(|e: CheckpointError| unavailable("signing the node book's checkpoint", e))?;
        let payload = serde_json::json!({
            "node": node,
            "origin": origin,
            "size": size,
            "root": hex::encode(root),
            "previous_size": signed,
            "audit_key_sha256": audit.pin().hex(),
        });
        self.record(NODE_BOOK_SIGNED, node, payload).await?;
        self.save(&origin, &note, &tree).await?;
        state.signed = tree;
        state.note = Some(note.clone());
        tracing::debug!(node, origin, size, "signed a node book checkpoint");
        Ok(Some(BookNote { note }))
    }
}

#[cfg(test)]
#[path = "node_books_tests.rs"]
mod tests;
