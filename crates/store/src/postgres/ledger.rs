//! The ledger on PostgreSQL. An append is one transaction that makes sure the single
//! `ledger_state` row exists, locks it with `SELECT ... FOR UPDATE` (so appends from every
//! connection and every process serialise on it), and writes the entry and the new tree
//! head together.

use super::{unavailable, PostgresStore};
use crate::ledger_state::{corrupt, next_entry, tree_from_row};
use crate::{KeyedDraft, LedgerStore, StoreError};
use async_trait::async_trait;
use shuin_ledger::{CompactTree, Entry, EntryDraft, StoredEntry, TreeHead};
use sqlx::Row;
use std::time::SystemTime;

#[async_trait]
impl LedgerStore for PostgresStore {
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
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        // The placeholder (an empty tree) is overwritten below in the same transaction, so
        // no committed row ever has size 0. DO NOTHING waits for a concurrent inserter.
        sqlx::query(
            "INSERT INTO ledger_state (id, size, root, compact) VALUES (0, 0, $1, '') \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(hex::encode(CompactTree::new().root()))
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        let row = sqlx::query("SELECT size, compact FROM ledger_state WHERE id = 0 FOR UPDATE")
            .fetch_one(&mut *tx)
            .await
            .map_err(unavailable)?;
        let size: i64 = row.try_get("size").map_err(unavailable)?;
        let compact: String = row.try_get("compact").map_err(unavailable)?;
        let mut tree = tree_from_row(Some((size, compact)))?;
        let mut written = Vec::with_capacity(drafts.len());
        let mut last = None;
        for KeyedDraft { key, draft } in drafts {
            if let Some(key) = &key {
                // Serialised by the ledger_state row lock, so check-then-insert is safe.
                let seen = sqlx::query("SELECT 1 FROM ledger_keys WHERE key = $1")
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
                "INSERT INTO ledger_entries (seq, canonical, leaf_hash) VALUES ($1, $2, $3)",
            )
            .bind(next.seq)
            .bind(&next.canonical)
            .bind(&next.leaf_hash_hex)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
            if let Some(key) = &key {
                sqlx::query("INSERT INTO ledger_keys (key, seq) VALUES ($1, $2)")
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
            // Nothing new: roll back, which also drops the placeholder of an empty log.
            tx.rollback().await.map_err(unavailable)?;
            return Ok(written);
        };
        sqlx::query("UPDATE ledger_state SET size = $1, root = $2, compact = $3 WHERE id = 0")
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
        // `size > 0`: as on SQLite, an empty ledger has no head.
        let row = sqlx::query("SELECT size, root FROM ledger_state WHERE id = 0 AND size > 0")
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
