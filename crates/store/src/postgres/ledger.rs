//! The ledger on PostgreSQL. A ledger transaction makes sure the single `ledger_state`
//! row exists, locks it with `SELECT ... FOR UPDATE` (so transactions from every
//! connection and every process serialise on it), and writes the entries, their
//! idempotency keys and the new tree head together; concurrent appends share one
//! transaction and one commit ([`crate::group_commit`]).

use super::{unavailable, PostgresStore};
use crate::group_commit::{GroupCommit, LedgerWriter};
use crate::ledger_state::{plan, tree_from_row, TimedDraft};
use crate::StoreError;
use async_trait::async_trait;
use shuin_ledger::{CompactTree, Entry};
use sqlx::Row;
use std::collections::HashSet;

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
        let row = sqlx::query(concat!(crate::sql::ledger::select_state!(), " FOR UPDATE"))
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
        // The row exists (inserted above), so this updates the locked row.
        sqlx::query(crate::sql::ledger::UPSERT_STATE)
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

crate::sql::ledger::ledger_queries!(PostgresStore);
