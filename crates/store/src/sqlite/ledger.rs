//! The ledger on SQLite. Appends run in one `BEGIN IMMEDIATE` transaction (so separate
//! processes serialise too) that writes the entries, their idempotency keys and the new
//! tree head together.

use super::{unavailable, SqliteStore};
use crate::ledger_state::{corrupt, next_entry, tree_from_row};
use crate::{KeyedDraft, LedgerStore, StoreError};
use async_trait::async_trait;
use shuin_ledger::{Entry, EntryDraft, StoredEntry, TreeHead};
use sqlx::Row;
use std::time::SystemTime;

#[async_trait]
impl LedgerStore for SqliteStore {
    async fn append(&self, draft: EntryDraft, time: SystemTime) -> Result<Entry, StoreError> {
        let keyed = vec![KeyedDraft { key: None, draft }];
        let mut written = self.append_batch(keyed, time).await?;
        written
            .pop()
            .ok_or_else(|| corrupt("an unkeyed append wrote nothing"))
    }

    async fn append_batch(
        &self,
        drafts: Vec<KeyedDraft>,
        time: SystemTime,
    ) -> Result<Vec<Entry>, StoreError> {
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
        let mut written = Vec::with_capacity(drafts.len());
        let mut last = None;
        for KeyedDraft { key, draft } in drafts {
            if let Some(key) = &key {
                let seen = sqlx::query("SELECT 1 FROM ledger_keys WHERE key = ?1")
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                if seen.is_some() {
                    continue;
                }
            }
            let next = next_entry(&mut tree, draft, time)?;
            sqlx::query(
                "INSERT INTO ledger_entries (seq, canonical, leaf_hash) VALUES (?1, ?2, ?3)",
            )
            .bind(next.seq)
            .bind(&next.canonical)
            .bind(&next.leaf_hash_hex)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
            if let Some(key) = &key {
                sqlx::query("INSERT INTO ledger_keys (key, seq) VALUES (?1, ?2)")
                    .bind(key)
                    .bind(next.seq)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
            }
            written.push(next.entry);
            last = Some((next.size, next.root_hex, next.compact));
        }
        let Some((size, root_hex, compact)) = last else {
            // Nothing new: leave the log as it is.
            tx.rollback().await.map_err(unavailable)?;
            return Ok(written);
        };
        sqlx::query(
            "INSERT INTO ledger_state (id, size, root, compact) VALUES (0, ?1, ?2, ?3) \
             ON CONFLICT (id) DO UPDATE SET size = excluded.size, root = excluded.root, compact = excluded.compact",
        )
        .bind(size)
        .bind(&root_hex)
        .bind(&compact)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(written)
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
