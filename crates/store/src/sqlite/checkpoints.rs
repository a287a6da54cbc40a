//! Signed checkpoints and leaf hashes on SQLite (`ledger_checkpoints`, `ledger_entries`).

use super::{unavailable, SqliteStore};
use crate::ledger_state::{corrupt, decode_leaf};
use crate::{CheckpointWriter, ConflictKind, LedgerReader, StoreError, StoredCheckpoint};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

fn checkpoint(row: &SqliteRow) -> Result<StoredCheckpoint, StoreError> {
    let size: i64 = row.try_get("size").map_err(unavailable)?;
    Ok(StoredCheckpoint {
        size: u64::try_from(size).map_err(corrupt)?,
        note: row.try_get("note").map_err(unavailable)?,
    })
}

#[async_trait]
impl LedgerReader for SqliteStore {
    async fn ledger_size(&self) -> Result<u64, StoreError> {
        let size: Option<i64> = sqlx::query_scalar("SELECT size FROM ledger_state WHERE id = 0")
            .fetch_optional(&self.reads)
            .await
            .map_err(unavailable)?;
        u64::try_from(size.unwrap_or(0)).map_err(corrupt)
    }

    async fn leaf_hashes(&self, size: u64) -> Result<Vec<[u8; 32]>, StoreError> {
        let limit = i64::try_from(size).unwrap_or(i64::MAX);
        let rows =
            sqlx::query("SELECT seq, leaf_hash FROM ledger_entries WHERE seq < ?1 ORDER BY seq")
                .bind(limit)
                .fetch_all(&self.reads)
                .await
                .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let seq: i64 = row.try_get("seq").map_err(unavailable)?;
                let text: String = row.try_get("leaf_hash").map_err(unavailable)?;
                decode_leaf(seq, &text)
            })
            .collect()
    }

    async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let rows = sqlx::query("SELECT size, note FROM ledger_checkpoints ORDER BY size")
            .fetch_all(&self.reads)
            .await
            .map_err(unavailable)?;
        rows.iter().map(checkpoint).collect()
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row =
            sqlx::query("SELECT size, note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1")
                .fetch_optional(&self.reads)
                .await
                .map_err(unavailable)?;
        row.as_ref().map(checkpoint).transpose()
    }
}

#[async_trait]
impl CheckpointWriter for SqliteStore {
    async fn add_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError> {
        let size = i64::try_from(checkpoint.size).map_err(corrupt)?;
        sqlx::query(
            "INSERT INTO ledger_checkpoints (size, note) VALUES (?1, ?2) ON CONFLICT (size) DO NOTHING",
        )
        .bind(size)
        .bind(&checkpoint.note)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        let stored: String =
            sqlx::query_scalar("SELECT note FROM ledger_checkpoints WHERE size = ?1")
                .bind(size)
                .fetch_one(&self.reads)
                .await
                .map_err(unavailable)?;
        if stored != checkpoint.note {
            return Err(StoreError::Conflict(ConflictKind::Other));
        }
        Ok(())
    }
}
