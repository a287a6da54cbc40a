//! The ledger on SQLite. Appends run in one `BEGIN IMMEDIATE` transaction (so separate
//! processes serialise too) that writes the entry and the new tree head together.

use super::{unavailable, SqliteStore};
use crate::ledger_state::{corrupt, next_entry, tree_from_row};
use crate::{LedgerStore, StoreError};
use async_trait::async_trait;
use shuin_ledger::{Entry, EntryDraft, StoredEntry, TreeHead};
use sqlx::Row;
use std::time::SystemTime;

#[async_trait]
impl LedgerStore for SqliteStore {
    async fn append(&self, draft: EntryDraft, time: SystemTime) -> Result<Entry, StoreError> {
        let _guard = self.ledger_lock.lock().await;
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)?;
        let state = sqlx::query("SELECT size, compact FROM ledger_state WHERE id = 0")
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
        let state = state
            .map(|row| -> Result<(i64, String), StoreError> {
                Ok((
                    row.try_get("size").map_err(unavailable)?,
                    row.try_get("compact").map_err(unavailable)?,
                ))
            })
            .transpose()?;
        let mut tree = tree_from_row(state)?;
        let next = next_entry(&mut tree, draft, time)?;
        sqlx::query("INSERT INTO ledger_entries (seq, canonical, leaf_hash) VALUES (?1, ?2, ?3)")
            .bind(next.seq)
            .bind(&next.canonical)
            .bind(&next.leaf_hash_hex)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        sqlx::query(
            "INSERT INTO ledger_state (id, size, root, compact) VALUES (0, ?1, ?2, ?3) \
             ON CONFLICT (id) DO UPDATE SET size = excluded.size, root = excluded.root, compact = excluded.compact",
        )
        .bind(next.size)
        .bind(&next.root_hex)
        .bind(&next.compact)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(next.entry)
    }

    async fn ledger_rows(&self) -> Result<Vec<StoredEntry>, StoreError> {
        let rows = sqlx::query("SELECT seq, canonical, leaf_hash FROM ledger_entries ORDER BY seq")
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let seq: i64 = row.try_get("seq").map_err(unavailable)?;
                Ok(StoredEntry {
                    seq: u64::try_from(seq).map_err(corrupt)?,
                    canonical: row.try_get("canonical").map_err(unavailable)?,
                    leaf_hash_hex: row.try_get("leaf_hash").map_err(unavailable)?,
                })
            })
            .collect()
    }

    async fn ledger_head(&self) -> Result<Option<TreeHead>, StoreError> {
        let row = sqlx::query("SELECT size, root FROM ledger_state WHERE id = 0")
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.map(|row| {
            let size: i64 = row.try_get("size").map_err(unavailable)?;
            Ok(TreeHead {
                size: u64::try_from(size).map_err(corrupt)?,
                root_hex: row.try_get("root").map_err(unavailable)?,
            })
        })
        .transpose()
    }
}
