//! The ledger as a tiled log (C2SP `tlog-tiles`, `shuin_ledger::tiles`): tiles built
//! from the stored leaf hashes up to the latest signed checkpoint, stored
//! (`shuin_store::TileStore`), served and published; and the proofs of the auditors'
//! endpoints, computed from the few tiles each needs.
//!
//! Tiles grow only to the size of a stored checkpoint, and only after the root computed
//! from them equals the root that checkpoint signs: a reader who checks the checkpoint's
//! signature and recomputes its root from the tiles cannot be served tiles of another
//! tree. The upkeep loop catches up after each checkpoint; a request for a tile or a
//! proof beyond the tiled size catches up first (the work is bounded by the entries of
//! the checkpoints since the last catch-up, and one catch-up runs at a time).

use std::collections::BTreeSet;
use std::sync::Arc;

use shuin_ledger::tiles::{proof, Tile, TileError, TileGrowth, TileId, TileSet};
use shuin_ledger::Checkpoint;
use shuin_store::{LedgerReader, StoreError, StoredCheckpoint, StoredTile, TileStore};
use tokio::sync::watch;

/// `Cache-Control` of a full tile: it never changes.
pub const FULL_TILE_CACHE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of a partial tile: a minute (the same path never changes either, but
/// the tile it is a prefix of grows).
pub const PARTIAL_TILE_CACHE: &str = "public, max-age=60";
/// `Cache-Control` of the checkpoint, which moves (tlog-tiles: "no caching beyond a few
/// seconds").
pub const CHECKPOINT_CACHE: &str = "no-cache";
/// The media type of a tile.
pub const TILE_CONTENT_TYPE: &str = "application/octet-stream";
/// The media type of a checkpoint.
pub const CHECKPOINT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// The `Cache-Control` of tile `id`.
pub fn tile_cache(id: TileId) -> &'static str {
    if id.is_full() {
        FULL_TILE_CACHE
    } else {
        PARTIAL_TILE_CACHE
    }
}

/// What the tiled log reads and writes: the leaves, checkpoints and tiles.
pub trait TiledLedger: LedgerReader + TileStore {}
impl<T: LedgerReader + TileStore + ?Sized> TiledLedger for T {}

/// Why tiles could not be built or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TilesError {
    /// The store failed.
    #[error("ledger tiles: {0}")]
    Store(#[from] StoreError),
    /// The tiles are inconsistent (missing, or of the wrong size).
    #[error("ledger tiles: {0}")]
    Tiles(#[from] TileError),
    /// A stored checkpoint's text is not a checkpoint.
    #[error("the stored checkpoint of size {size}: {source}")]
    Checkpoint {
        /// Its size.
        size: u64,
        /// Why.
        #[source]
        source: shuin_ledger::CheckpointError,
    },
    /// The stored leaves do not give the root the checkpoint signs: nothing is stored.
    #[error("the tiles of the stored leaves give root {computed} for size {size}, but the checkpoint signs {signed}: the entries were altered after signing")]
    RootMismatch {
        /// The checkpoint's size.
        size: u64,
        /// The signed root (hex).
        signed: String,
        /// The root of the tiles (hex).
        computed: String,
    },
    /// A proof for a tree larger than the latest checkpoint.
    #[error("size {size} exceeds the latest checkpoint's {tiled} entries")]
    BeyondCheckpoint {
        /// The size asked for.
        size: u64,
        /// The size of the latest tiled checkpoint.
        tiled: u64,
    },
}

/// An inclusion proof read from the tiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionAnswer {
    /// The leaf hash of the entry.
    pub leaf_hash: [u8; 32],
    /// The root of the tree of that size.
    pub root: [u8; 32],
    /// RFC 9162 section 2.1.3 path, from the leaf up.
    pub path: Vec<[u8; 32]>,
}

/// A consistency proof read from the tiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyAnswer {
    /// The root of the smaller tree.
    pub from_root: [u8; 32],
    /// The root of the larger tree.
    pub to_root: [u8; 32],
    /// RFC 9162 section 2.1.4 proof.
    pub path: Vec<[u8; 32]>,
}

/// The tiled log of one instance.
pub struct LedgerTiles {
    store: Arc<dyn TiledLedger>,
    /// One catch-up at a time (within this process; the store refuses a second writer).
    growing: tokio::sync::Mutex<()>,
    /// The tiled size, for publishers.
    changes: watch::Sender<u64>,
    /// When catching up last failed: requests do not try again before
    /// [`RETRY_AFTER_FAILURE`], so that no anonymous request re-reads the leaves of a log
    /// whose tiles cannot grow.
    failed_at: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How long after a failed catch-up requests serve what is tiled without trying again.
pub const RETRY_AFTER_FAILURE: std::time::Duration = std::time::Duration::from_secs(30);

impl std::fmt::Debug for LedgerTiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerTiles")
            .field("tiled", &*self.changes.borrow())
            .finish_non_exhaustive()
    }
}

/// The signed root of a stored checkpoint (its text; the signature was checked when it
/// was stored, and readers check it again).
fn signed_root(checkpoint: &StoredCheckpoint) -> Result<[u8; 32], TilesError> {
    let body = checkpoint
        .note
        .split_once("\n\n")
        .map_or(checkpoint.note.as_str(), |(body, _)| body);
    Checkpoint::parse_body(&format!("{body}\n"))
        .map(|parsed| parsed.root)
        .map_err(|source| TilesError::Checkpoint {
            size: checkpoint.size,
            source,
        })
}

impl LedgerTiles {
    /// The tiled log kept in `store`.
    pub fn new(store: Arc<dyn TiledLedger>) -> LedgerTiles {
        LedgerTiles {
            store,
            growing: tokio::sync::Mutex::new(()),
            changes: watch::channel(0).0,
            failed_at: std::sync::Mutex::new(None),
        }
    }

    /// Whether a catch-up failed less than [`RETRY_AFTER_FAILURE`] ago.
    pub fn backing_off(&self) -> bool {
        let failed_at = *self.failed_at.lock().unwrap_or_else(|p| p.into_inner());
        failed_at.is_some_and(|at| at.elapsed() < RETRY_AFTER_FAILURE)
    }

    /// The tiled size each time it moves (the publishers follow it).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The store, for the publishers' reads.
    pub fn store(&self) -> &Arc<dyn TiledLedger> {
        &self.store
    }

    /// Builds and stores the tiles up to the latest checkpoint; returns the tiled size.
    ///
    /// # Errors
    ///
    /// [`TilesError::RootMismatch`] (nothing stored) when the stored leaves do not give
    /// the signed root, and store or consistency failures.
    pub async fn catch_up(&self) -> Result<u64, TilesError> {
        let grown = self.grow().await;
        let failed_at = grown.is_err().then(std::time::Instant::now);
        *self.failed_at.lock().unwrap_or_else(|p| p.into_inner()) = failed_at;
        grown
    }

    async fn grow(&self) -> Result<u64, TilesError> {
        let _one_at_a_time = self.growing.lock().await;
        let tiled = self.store.tiled_size().await?;
        let latest = match self.store.latest_checkpoint().await? {
            Some(latest) if latest.size > tiled => latest,
            _ => {
                self.changes
                    .send_if_modified(|size| std::mem::replace(size, tiled) != tiled);
                return Ok(tiled);
            }
        };
        let growth = TileGrowth::new(tiled, latest.size)?;
        let inputs = self.read(&growth.inputs()).await?;
        let leaves = self.store.leaf_hashes_between(tiled, latest.size).await?;
        let built = growth.build(&inputs, &leaves)?;
        self.check_root(&latest, &built).await?;
        let stored: Vec<StoredTile> = built
            .iter()
            .map(|tile| StoredTile {
                level: tile.id.level,
                index: tile.id.index,
                hashes: tile.to_bytes(),
            })
            .collect();
        let now = match self.store.put_tiles(tiled, latest.size, &stored).await {
            Ok(()) => latest.size,
            // Another process stored them first.
            Err(StoreError::Conflict(_)) => self.store.tiled_size().await?,
            Err(e) => return Err(e.into()),
        };
        tracing::debug!(
            from = tiled,
            to = now,
            tiles = stored.len(),
            "ledger tiles grown"
        );
        self.changes.send_replace(now);
        Ok(now)
    }

    /// The root of the checkpoint's size from the new tiles and the stored ones equals the
    /// signed root.
    async fn check_root(
        &self,
        checkpoint: &StoredCheckpoint,
        built: &[Tile],
    ) -> Result<(), TilesError> {
        let signed = signed_root(checkpoint)?;
        let mut set: TileSet = built.iter().cloned().collect();
        let fresh: BTreeSet<(u8, u64)> = built.iter().map(|t| (t.id.level, t.id.index)).collect();
        let older: Vec<TileId> = proof::tiles_for_root(checkpoint.size)
            .into_iter()
            .filter(|id| !fresh.contains(&(id.level, id.index)))
            .collect();
        for tile in self.read(&older).await? {
            set.insert(tile);
        }
        let computed = proof::root(&set, checkpoint.size)?;
        if computed != signed {
            return Err(TilesError::RootMismatch {
                size: checkpoint.size,
                signed: hex::encode(signed),
                computed: hex::encode(computed),
            });
        }
        Ok(())
    }

    /// The tiles `ids` from the store, each cut to its width.
    async fn read(&self, ids: &[TileId]) -> Result<Vec<Tile>, TilesError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<(u8, u64)> = ids.iter().map(|id| (id.level, id.index)).collect();
        let stored = self.store.tiles(&wanted).await?;
        ids.iter()
            .map(|id| {
                let found = stored
                    .iter()
                    .find(|t| t.level == id.level && t.index == id.index)
                    .ok_or(TileError::MissingTile { id: *id })?;
                Ok(Tile::from_bytes(*id, &found.hashes)?)
            })
            .collect()
    }

    /// The tiled size, caught up first if it is below `size` (not while backing off
    /// from a failed catch-up).
    async fn covering(&self, size: u64) -> Result<u64, TilesError> {
        let tiled = self.store.tiled_size().await?;
        if tiled >= size || self.backing_off() {
            return Ok(tiled);
        }
        match self.catch_up().await {
            Ok(tiled) => Ok(tiled),
            Err(e) => {
                tracing::error!(error = %e, "catching up the ledger tiles failed");
                Ok(tiled)
            }
        }
    }

    /// The bytes of tile `id` as a tree of the latest checkpoint's size (or a smaller
    /// one) has it; `None` if no tiled checkpoint has it.
    ///
    /// # Errors
    ///
    /// Store failures, or a stored tile narrower than the tiled size says.
    pub async fn tile(&self, id: TileId) -> Result<Option<Vec<u8>>, TilesError> {
        let fits = |tiled: u64| {
            TileId::in_tree(id.level, id.index, tiled).is_some_and(|have| have.width >= id.width)
        };
        let needed = id
            .index
            .checked_mul(256)
            .and_then(|hashes| hashes.checked_add(u64::from(id.width)))
            .and_then(|hashes| hashes.checked_mul(1u64.checked_shl(8 * u32::from(id.level))?));
        let Some(needed) = needed else {
            return Ok(None);
        };
        if !fits(self.covering(needed).await?) {
            return Ok(None);
        }
        Ok(self.read(&[id]).await?.first().map(Tile::to_bytes))
    }

    /// Leaf `index`'s inclusion proof in the tree of `size` entries, from tiles.
    ///
    /// # Errors
    ///
    /// [`TilesError::BeyondCheckpoint`] if no tiled checkpoint covers `size`,
    /// [`TileError::IndexOutOfRange`] unless `index < size`, store failures.
    pub async fn inclusion(&self, index: u64, size: u64) -> Result<InclusionAnswer, TilesError> {
        let tiled = self.covering(size).await?;
        if size > tiled {
            return Err(TilesError::BeyondCheckpoint { size, tiled });
        }
        let mut ids: BTreeSet<TileId> = proof::tiles_for_inclusion(index, size)?
            .into_iter()
            .collect();
        ids.extend(proof::tiles_for_root(size));
        let set: TileSet = self
            .read(&ids.into_iter().collect::<Vec<_>>())
            .await?
            .into_iter()
            .collect();
        Ok(InclusionAnswer {
            leaf_hash: proof::leaf_hash(&set, index, size)?,
            root: proof::root(&set, size)?,
            path: proof::inclusion_proof(&set, index, size)?,
        })
    }

    /// The consistency proof between the trees of `from` and `to` entries, from tiles.
    ///
    /// # Errors
    ///
    /// [`TilesError::BeyondCheckpoint`] if no tiled checkpoint covers `to`,
    /// [`TileError::ShrinkingTree`] if `from > to`, store failures.
    pub async fn consistency(&self, from: u64, to: u64) -> Result<ConsistencyAnswer, TilesError> {
        let tiled = self.covering(to).await?;
        if to > tiled {
            return Err(TilesError::BeyondCheckpoint { size: to, tiled });
        }
        let ids = proof::tiles_for_consistency(from, to)?;
        let set: TileSet = self.read(&ids).await?.into_iter().collect();
        Ok(ConsistencyAnswer {
            from_root: proof::root(&set, from)?,
            to_root: proof::root(&set, to)?,
            path: proof::consistency_proof(&set, from, to)?,
        })
    }
}
