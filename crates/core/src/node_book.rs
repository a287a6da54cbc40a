//! The books of an RA node in a split deployment (docs/deployment.md, "The RA node's
//! books"). An RA node keeps a ledger of its own (the applications it accepted, the
//! orders it queued, its operators' actions) but holds no key: its checkpoints are
//! signed by the CA's audit key, over the CA's link, under the node book's own origin.
//!
//! The CA reads the entries added since it last signed the node's book, recomputes the
//! tree from them on top of the tree it signed last (which it keeps, per origin, outside
//! its database), and signs only if the node's stated root is the one it computed. A
//! node whose past was rewritten states another root and is refused: the node's book
//! only moves forward, and nobody at the node can rewrite it alone.
//!
//! Everything here is plain data with a stable JSON form (entries as standard base64 of
//! their canonical bytes); the transport, the checks and the storage belong to other
//! crates.

use serde::{Deserialize, Serialize};

/// The most entries one page carries.
pub const MAX_BOOK_ENTRIES: usize = 1_000;
/// The most pages the CA's link reads in one round; a longer gap is signed over several
/// rounds, the CA keeping the tree it has read so far in memory.
pub const MAX_BOOK_PAGES_PER_ROUND: usize = 20;

/// What the CA's link asks of a node's book: the entries after `after`, up to `through`
/// (the size the first page stated; `None` on the first page), at most `max`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookAsk {
    /// The number of entries the CA has already read.
    pub after: u64,
    /// The size being signed; `None`: the book's size now.
    #[serde(default)]
    pub through: Option<u64>,
    /// The most entries wanted.
    pub max: usize,
}

/// A page of a node's book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookPage {
    /// The book's origin (the first line of its checkpoints).
    pub origin: String,
    /// The size the page leads to: the book's size now on a first page, else the
    /// `through` asked for.
    pub size: u64,
    /// The node's stored root at `size` (lowercase hex), stated on a first page only.
    #[serde(default)]
    pub root_hex: Option<String>,
    /// Whether the node wants a checkpoint now (its `[ledger]` interval has passed).
    pub due: bool,
    /// The size of the last signed head the node keeps in its directory (several nodes
    /// on one store each keep one; a node behind gets the CA's last note again).
    #[serde(default)]
    pub held: u64,
    /// The entries after the asked `after` (canonical bytes, standard base64), oldest
    /// first; empty when no checkpoint is due.
    #[serde(default)]
    pub entries: Vec<String>,
}

/// A checkpoint of a node's book, signed by the CA's audit key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookNote {
    /// The signed note (C2SP checkpoint).
    pub note: String,
}

/// What the node kept: the size of its newest checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookKept {
    /// The newest checkpoint's size.
    pub size: u64,
}

/// Why a node's book was not signed, or a note not kept. The message starts with
/// [`NodeBookError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeBookError {
    /// The CA is sealed: its audit key is not open.
    #[error("sealed: the CA is sealed and its audit key is not open")]
    Sealed,
    /// The page cannot be read, or does not follow what was asked.
    #[error("malformed_page: {0}")]
    Malformed(String),
    /// The node's book does not extend the tree the CA signed last: its past changed.
    #[error("node_book_forked: {0}")]
    Forked(String),
    /// The node's book is shorter than the CA signed it.
    #[error("node_book_rolled_back: the CA signed {signed} entries of {origin} but the node states {size}")]
    RolledBack {
        /// The book's origin.
        origin: String,
        /// The size the CA signed last.
        signed: u64,
        /// The size the node states.
        size: u64,
    },
    /// The note is not a checkpoint of this node's book signed by the pinned audit key,
    /// or not one of the tree the node holds.
    #[error("checkpoint_refused: {0}")]
    Refused(String),
    /// The books, the key or the kept state could not be read or written.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl NodeBookError {
    /// The stable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            NodeBookError::Sealed => "sealed",
            NodeBookError::Malformed(_) => "malformed_page",
            NodeBookError::Forked(_) => "node_book_forked",
            NodeBookError::RolledBack { .. } => "node_book_rolled_back",
            NodeBookError::Refused(_) => "checkpoint_refused",
            NodeBookError::Unavailable(_) => "unavailable",
        }
    }
}

/// Where the CA's signer reads a node's book: the link's connection to the node.
#[async_trait::async_trait]
pub trait BookPages: Send {
    /// One page.
    async fn page(&mut self, ask: &BookAsk) -> Result<BookPage, NodeBookError>;
}

/// The CA's side: signs a node's book after checking it extends what it signed last.
#[async_trait::async_trait]
pub trait NodeBookSigner: Send + Sync {
    /// Reads what `node`'s book added since the CA signed it last (at most
    /// [`MAX_BOOK_PAGES_PER_ROUND`] pages) and, once the whole gap is read and its root
    /// is the one the node states, records the signature in the CA's book and returns
    /// the signed note. `None`: no checkpoint is due, or the gap is not read yet.
    async fn sign(
        &self,
        node: &str,
        pages: &mut dyn BookPages,
    ) -> Result<Option<BookNote>, NodeBookError>;
}

/// The node's side: serves pages of its book and keeps the CA's checkpoints.
#[async_trait::async_trait]
pub trait BookKeeper: Send + Sync {
    /// A page of the book.
    async fn page(&self, ask: &BookAsk) -> Result<BookPage, NodeBookError>;
    /// Checks a checkpoint against the pinned audit key and the book, then keeps it
    /// outside the database (the last signed head) and in the store.
    async fn keep(&self, note: &BookNote) -> Result<BookKept, NodeBookError>;
}
