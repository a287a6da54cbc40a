//! Publishing the ledger's tiled log: after the tiles grow, each publisher that carries
//! the log gets the tiles that changed, then the checkpoint they belong to, so a reader
//! of the copy never finds a checkpoint whose tiles are missing.
//!
//! Each task remembers the size it has published (from 0 when the process starts, so a
//! restart publishes every tile again: idempotent, and it repairs a copy that lost
//! files), and on a failure retries with the queue's backoff from that size.

use super::{Backoff, PublishError, Publisher, QueueSettings};
use crate::tiles::{self, LedgerTiles, TilesError};
use shuin_ledger::tiles::{Tile, TileGrowth, TileId};
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Tiles read from the store at a time.
const TILES_PER_READ: usize = 64;

/// One file of the tiled log, relative to the log's prefix (`checkpoint`,
/// `tile/0/x001/234`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// The path under the prefix.
    pub path: String,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Its media type.
    pub content_type: &'static str,
    /// Its `Cache-Control`, for publishers that keep one.
    pub cache_control: &'static str,
}

impl LogFile {
    fn tile(tile: &Tile) -> LogFile {
        LogFile {
            path: tile.id.path(),
            bytes: tile.to_bytes(),
            content_type: tiles::TILE_CONTENT_TYPE,
            cache_control: tiles::tile_cache(tile.id),
        }
    }

    fn checkpoint(note: &str) -> LogFile {
        LogFile {
            path: "checkpoint".into(),
            bytes: note.as_bytes().to_vec(),
            content_type: tiles::CHECKPOINT_CONTENT_TYPE,
            cache_control: tiles::CHECKPOINT_CACHE,
        }
    }
}

/// The running log publishers; dropping it stops them.
#[derive(Debug)]
pub struct LogQueue {
    tasks: Vec<JoinHandle<()>>,
}

impl LogQueue {
    /// Starts one task per publisher that carries the log, on the current Tokio runtime.
    pub fn start(
        tiles: Arc<LedgerTiles>,
        publishers: &[Arc<dyn Publisher>],
        settings: QueueSettings,
    ) -> LogQueue {
        let tasks = publishers
            .iter()
            .filter(|publisher| publisher.carries_log())
            .map(|publisher| {
                tokio::spawn(
                    LogWorker {
                        tiles: tiles.clone(),
                        publisher: publisher.clone(),
                        settings,
                    }
                    .run(),
                )
            })
            .collect();
        LogQueue { tasks }
    }
}

impl Drop for LogQueue {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

struct LogWorker {
    tiles: Arc<LedgerTiles>,
    publisher: Arc<dyn Publisher>,
    settings: QueueSettings,
}

impl LogWorker {
    async fn run(self) {
        let mut changes = self.tiles.subscribe();
        let mut backoff = Backoff::new(self.settings.initial_backoff, self.settings.max_backoff);
        let mut published = 0;
        loop {
            changes.borrow_and_update();
            match self.publish_pending(&mut published).await {
                Ok(()) => {
                    backoff.success();
                    if changes.changed().await.is_err() {
                        return;
                    }
                }
                Err(error) => {
                    let wait = backoff.failure();
                    tracing::warn!(
                        publisher = %self.publisher.name(),
                        error = %error,
                        published,
                        "publishing the ledger tiles failed; will retry"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Publishes the tiles grown since `published`, then their checkpoint.
    async fn publish_pending(&self, published: &mut u64) -> Result<(), PublishError> {
        let store = self.tiles.store();
        let Some(checkpoint) = store
            .tiled_checkpoint()
            .await
            .map_err(|e| PublishError::Tiles(e.into()))?
        else {
            return Ok(());
        };
        if checkpoint.size == *published {
            return Ok(());
        }
        let growth = TileGrowth::new(*published, checkpoint.size)
            .or_else(|_| TileGrowth::new(0, checkpoint.size))
            .map_err(|e| PublishError::Tiles(e.into()))?;
        for ids in growth.outputs().chunks(TILES_PER_READ) {
            for tile in self.read(ids).await? {
                self.put(&LogFile::tile(&tile)).await?;
            }
        }
        self.put(&LogFile::checkpoint(&checkpoint.note)).await?;
        tracing::info!(publisher = %self.publisher.name(), size = checkpoint.size, "published the ledger tiles");
        *published = checkpoint.size;
        Ok(())
    }

    async fn read(&self, ids: &[TileId]) -> Result<Vec<Tile>, PublishError> {
        let wanted: Vec<(u8, u64)> = ids.iter().map(|id| (id.level, id.index)).collect();
        let stored = self
            .tiles
            .store()
            .tiles(&wanted)
            .await
            .map_err(|e| PublishError::Tiles(e.into()))?;
        ids.iter()
            .map(|id| {
                let found = stored
                    .iter()
                    .find(|t| t.level == id.level && t.index == id.index)
                    .ok_or(shuin_ledger::tiles::TileError::MissingTile { id: *id })
                    .and_then(|t| Tile::from_bytes(*id, &t.hashes));
                found.map_err(|e| PublishError::Tiles(TilesError::from(e)))
            })
            .collect()
    }

    async fn put(&self, file: &LogFile) -> Result<(), PublishError> {
        let timeout = self.settings.attempt_timeout;
        tokio::time::timeout(timeout, self.publisher.publish_log_file(file))
            .await
            .map_err(|_| PublishError::TimedOut(timeout))?
    }
}
