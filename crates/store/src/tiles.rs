//! The ledger's tiles (C2SP `tlog-tiles`, `shuin_ledger::tiles`), stored as they are
//! built, so that serving a tile or a proof reads a few rows instead of every leaf.
//!
//! Tables `ledger_tiles (level, idx, hashes)` and `ledger_tile_state (size)`. Each row
//! holds the widest version of one tile; a full tile (8,192 bytes) never changes, a
//! partial one is only ever replaced by a wider one that starts with the same hashes.
//! The tiles and the size they describe are written in one transaction, and only up to
//! the size of a stored (signed) checkpoint, so a crash leaves either the old tiles or
//! the new ones, never tiles of an unsigned tree.

use async_trait::async_trait;

use crate::StoreError;

/// One stored tile: its level, index and hashes (32 bytes each, concatenated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTile {
    /// The tile's level.
    pub level: u8,
    /// The tile's index within its level.
    pub index: u64,
    /// Its hashes; a whole number of 32-byte hashes, 1 to 256 of them.
    pub hashes: Vec<u8>,
}

/// Stored tiles, for the tile builder and the readers of the tiled log.
#[async_trait]
pub trait TileStore: Send + Sync {
    /// The tree size the stored tiles describe: 0 before any, else the size of a stored
    /// checkpoint.
    async fn tiled_size(&self) -> Result<u64, StoreError>;
    /// The stored checkpoint of the tiled size, read with that size in one query (the
    /// checkpoint a tiled log publishes next to its tiles); `None` before any tiles.
    async fn tiled_checkpoint(&self) -> Result<Option<crate::StoredCheckpoint>, StoreError>;
    /// The stored versions of the tiles named by `(level, index)`, in the order asked;
    /// tiles not stored are left out.
    async fn tiles(&self, wanted: &[(u8, u64)]) -> Result<Vec<StoredTile>, StoreError>;
    /// The stored leaf hashes of entries `from..to`, in order (fewer if the log is
    /// shorter).
    async fn leaf_hashes_between(&self, from: u64, to: u64) -> Result<Vec<[u8; 32]>, StoreError>;
    /// Stores the tiles that grow the tiled tree from `from` to `to` entries (each new,
    /// or wider than the stored version and starting with it) and records `to` as the
    /// tiled size, in one transaction. Only if the tiled size is still `from` and a
    /// checkpoint of `to` entries is stored; otherwise, or if a tile would shrink or
    /// change, nothing is written and the answer is `Conflict(Other)`.
    async fn put_tiles(&self, from: u64, to: u64, tiles: &[StoredTile]) -> Result<(), StoreError>;
}

/// Implements [`TileStore`] for `$store` (whose module has `unavailable` in scope), with
/// its fields `pool` (writes) and `reads` (plain reads). The SQL is the same on both
/// backends (sqlx binds `$N` on SQLite too).
macro_rules! tile_queries {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::tiles::TileStore for $store {
            async fn tiled_size(&self) -> Result<u64, $crate::StoreError> {
                let size: Option<i64> =
                    sqlx::query_scalar("SELECT size FROM ledger_tile_state WHERE id = 0")
                        .fetch_optional(&self.reads)
                        .await
                        .map_err(unavailable)?;
                u64::try_from(size.unwrap_or(0)).map_err($crate::ledger_state::corrupt)
            }

            async fn tiled_checkpoint(
                &self,
            ) -> Result<Option<$crate::StoredCheckpoint>, $crate::StoreError> {
                let row: Option<(i64, String)> = sqlx::query_as(
                    "SELECT c.size, c.note FROM ledger_checkpoints c \
                     JOIN ledger_tile_state t ON t.id = 0 AND c.size = t.size",
                )
                .fetch_optional(&self.reads)
                .await
                .map_err(unavailable)?;
                row.map(|(size, note)| {
                    Ok($crate::StoredCheckpoint {
                        size: u64::try_from(size).map_err($crate::ledger_state::corrupt)?,
                        note,
                    })
                })
                .transpose()
            }

            async fn tiles(
                &self,
                wanted: &[(u8, u64)],
            ) -> Result<Vec<$crate::tiles::StoredTile>, $crate::StoreError> {
                let mut found = Vec::with_capacity(wanted.len());
                for &(level, index) in wanted {
                    let Ok(idx) = i64::try_from(index) else {
                        continue;
                    };
                    let hashes: Option<Vec<u8>> = sqlx::query_scalar("SELECT hashes FROM ledger_tiles WHERE level = $1 AND idx = $2")
                    .bind(i16::from(level))
                    .bind(idx)
                    .fetch_optional(&self.reads)
                    .await
                    .map_err(unavailable)?;
                    if let Some(hashes) = hashes {
                        found.push($crate::tiles::StoredTile {
                            level,
                            index,
                            hashes,
                        });
                    }
                }
                Ok(found)
            }

            async fn leaf_hashes_between(
                &self,
                from: u64,
                to: u64,
            ) -> Result<Vec<[u8; 32]>, $crate::StoreError> {
                let from = i64::try_from(from).unwrap_or(i64::MAX);
                let to = i64::try_from(to).unwrap_or(i64::MAX);
                let rows: Vec<(i64, String)> = sqlx::query_as("SELECT seq, leaf_hash FROM ledger_entries WHERE seq >= $1 AND seq < $2 ORDER BY seq")
                .bind(from)
                .bind(to)
                .fetch_all(&self.reads)
                .await
                .map_err(unavailable)?;
                rows.iter()
                    .map(|(seq, text)| $crate::ledger_state::decode_leaf(*seq, text))
                    .collect()
            }

            async fn put_tiles(
                &self,
                from: u64,
                to: u64,
                tiles: &[$crate::tiles::StoredTile],
            ) -> Result<(), $crate::StoreError> {
                let conflict = || $crate::StoreError::Conflict($crate::ConflictKind::Other);
                let from = i64::try_from(from).map_err(|_| conflict())?;
                let to = i64::try_from(to).map_err(|_| conflict())?;
                let mut tx = self.pool.begin().await.map_err(unavailable)?;
                // The first statement writes, so SQLite takes its write lock at once.
                let moved = sqlx::query("UPDATE ledger_tile_state SET size = $2 WHERE id = 0 AND size = $1 AND EXISTS (SELECT 1 FROM ledger_checkpoints WHERE size = $2)")
                .bind(from)
                .bind(to)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
                if moved.rows_affected() != 1 {
                    return Err(conflict());
                }
                for tile in tiles {
                    let idx = i64::try_from(tile.index).map_err(|_| conflict())?;
                    let written = sqlx::query(
                        "INSERT INTO ledger_tiles (level, idx, hashes) VALUES ($1, $2, $3) \
                         ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes \
                         WHERE length(ledger_tiles.hashes) < length(excluded.hashes) \
                         AND substr(excluded.hashes, 1, length(ledger_tiles.hashes)) \
                         = ledger_tiles.hashes",
                    )
                    .bind(i16::from(tile.level))
                    .bind(idx)
                    .bind(&tile.hashes)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                    if written.rows_affected() != 1 {
                        return Err(conflict());
                    }
                }
                tx.commit().await.map_err(unavailable)
            }
        }
    };
}
pub(crate) use tile_queries;
