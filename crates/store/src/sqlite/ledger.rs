//! The ledger on SQLite. Appends run in one `BEGIN IMMEDIATE` transaction (so separate
//! processes serialise too) that writes the entry and the new tree head together.

use super::{unavailable, SqliteStore};
use crate::{LedgerStore, StoreError};
use async_trait::async_trait;
use shuin_ledger::{CompactTree, Entry, EntryDraft, StoredEntry, TreeHead};
use sqlx::Row;
use std::time::SystemTime;

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("ledger: {what}"))
}

fn encode_state(hashes: &[[u8; 32]]) -> String {
    hashes.iter().map(hex::encode).collect::<Vec<_>>().join(",")
}

fn decode_state(text: &str) -> Result<Vec<[u8; 32]>, StoreError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|part| {
            let bytes = hex::decode(part).map_err(corrupt)?;
            <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| corrupt("compact state hash length"))
        })
        .collect()
}

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
        let mut tree = match state {
            Some(row) => {
                let size: i64 = row.try_get("size").map_err(unavailable)?;
                let compact: String = row.try_get("compact").map_err(unavailable)?;
                let size = u64::try_from(size).map_err(corrupt)?;
                CompactTree::from_state(size, decode_state(&compact)?).map_err(corrupt)?
            }
            None => CompactTree::new(),
        };
        let seq = tree.size();
        let entry = draft.into_entry(seq, shuin_core::timefmt::rfc3339(time));
        let canonical = entry.canonical_bytes().map_err(corrupt)?;
        let leaf = entry.leaf_hash().map_err(corrupt)?;
        tree.append(leaf);
        let seq_db = i64::try_from(seq).map_err(corrupt)?;
        let size_db = i64::try_from(tree.size()).map_err(corrupt)?;
        sqlx::query("INSERT INTO ledger_entries (seq, canonical, leaf_hash) VALUES (?1, ?2, ?3)")
            .bind(seq_db)
            .bind(canonical)
            .bind(hex::encode(leaf))
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        sqlx::query(
            "INSERT INTO ledger_state (id, size, root, compact) VALUES (0, ?1, ?2, ?3) \
             ON CONFLICT (id) DO UPDATE SET size = excluded.size, root = excluded.root, compact = excluded.compact",
        )
        .bind(size_db)
        .bind(hex::encode(tree.root()))
        .bind(encode_state(&tree.to_state()))
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(entry)
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
