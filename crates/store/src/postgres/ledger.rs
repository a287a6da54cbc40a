//! The ledger on PostgreSQL. A ledger transaction makes sure the single `ledger_state`
//! row exists, locks it with `SELECT ... FOR UPDATE` (so transactions from every
//! connection and every process serialise on it), and writes the entries, their
//! idempotency keys and the new tree head together; concurrent appends share one
//! transaction and one commit ([`crate::group_commit`]).

use super::{unavailable, PostgresStore};
use crate::group_commit::{GroupCommit, LedgerWriter};
use crate::ledger_state::{corrupt, plan, tree_from_row, TimedDraft};
use crate::{KeyedDraft, LedgerStore, StoreError};
use async_trait::async_trait;
use shuin_ledger::{CompactTree, Entry, EntryDraft, StoredEntry, TreeHead};
use sqlx::Row;
use std::collections::HashSet;
use std::time::SystemTime;

/// The ledger's in-process state: the group-commit queue.
#[derive(Debug, Default)]
pub(super) struct LedgerState {
    group: GroupCommit,
}

#[async_trait]
impl LedgerWriter for PostgresStore {
    fn group_commit(&self) -> &GroupCommit {
        &self.ledger.group
    }

    async fn write(&self, drafts: Vec<TimedDraft>) -> Result<Vec<Option<Entry>>, StoreError> {
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
        let keys: Vec<String> = drafts.iter().filter_map(|d| d.key.clone()).collect();
        let mut seen = HashSet::new();
        if !keys.is_empty() {
            // Serialised by the ledger_state row lock, so check-then-insert is safe.
            let rows = sqlx::query("SELECT key FROM ledger_keys WHERE key = ANY($1)")
                .bind(keys)
                .fetch_all(&mut *tx)
                .await
                .map_err(unavailable)?;
            for row in rows {
                seen.insert(row.try_get::<String, _>("key").map_err(unavailable)?);
            }
        }
        let plan = plan(&mut tree, drafts, seen)?;
        let Some(head) = plan.head else {
            // Nothing new: roll back, which also drops the placeholder of an empty log.
            tx.rollback().await.map_err(unavailable)?;
            return Ok(plan.results);
        };
        let (mut seqs, mut canonicals, mut leaves) = (Vec::new(), Vec::new(), Vec::new());
        for row in plan.rows {
            seqs.push(row.seq);
            canonicals.push(row.canonical);
            leaves.push(row.leaf_hash_hex);
        }
        sqlx::query(
            "INSERT INTO ledger_entries (seq, canonical, leaf_hash) \
             SELECT * FROM UNNEST($1::BIGINT[], $2::BYTEA[], $3::TEXT[])",
        )
        .bind(seqs)
        .bind(canonicals)
        .bind(leaves)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        if !plan.keys.is_empty() {
            let (keys, seqs): (Vec<String>, Vec<i64>) = plan.keys.into_iter().unzip();
            sqlx::query(
                "INSERT INTO ledger_keys (key, seq) SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[])",
            )
            .bind(keys)
            .bind(seqs)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        }
        sqlx::query("UPDATE ledger_state SET size = $1, root = $2, compact = $3 WHERE id = 0")
            .bind(head.size)
            .bind(&head.root_hex)
            .bind(&head.compact)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(plan.results)
    }
}

#[async_trait]
impl LedgerStore for PostgresStore {
    async fn append(&self, draft: EntryDraft, time: SystemTime) -> Result<Entry, StoreError> {
        crate::group_commit::append(self, draft, time).await
    }

    async fn append_batch(
        &self,
        drafts: Vec<KeyedDraft>,
        time: SystemTime,
    ) -> Result<Vec<Entry>, StoreError> {
        let drafts = drafts
            .into_iter()
            .map(|KeyedDraft { key, draft }| TimedDraft { key, draft, time })
            .collect();
        Ok(self.write(drafts).await?.into_iter().flatten().collect())
    }

    async fn ledger_rows_from(&self, from: u64) -> Result<Vec<StoredEntry>, StoreError> {
        let from = i64::try_from(from).map_err(corrupt)?;
        let rows = sqlx::query(
            "SELECT seq, canonical, leaf_hash FROM ledger_entries WHERE seq >= $1 ORDER BY seq",
        )
        .bind(from)
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
