//! The ledger on SQLite. Every ledger transaction runs under `BEGIN IMMEDIATE` (so
//! separate processes serialise too) and writes the entries, their idempotency keys and
//! the new tree head together; concurrent appends share one transaction and one fsync
//! ([`crate::group_commit`]).

use super::{unavailable, SqliteStore};
use crate::group_commit::{GroupCommit, LedgerWriter};
use crate::ledger_state::{corrupt, plan, tree_from_row, TimedDraft};
use crate::StoreError;
use async_trait::async_trait;
use shuin_ledger::Entry;
use sqlx::{QueryBuilder, Row, Sqlite};
use std::collections::HashSet;

/// Rows per multi-row INSERT (3 parameters each, well below SQLite's 32766).
const ROWS_PER_INSERT: usize = 500;

/// The ledger's in-process state: the group-commit queue, and a lock that serialises
/// this process's ledger transactions (so they do not wait on each other's `BEGIN
/// IMMEDIATE` through the busy timeout).
#[derive(Debug, Default)]
pub(super) struct LedgerState {
    group: GroupCommit,
    lock: tokio::sync::Mutex<()>,
}

#[async_trait]
impl LedgerWriter for SqliteStore {
    fn group_commit(&self) -> &GroupCommit {
        &self.ledger.group
    }

    async fn write(&self, drafts: Vec<TimedDraft>) -> Result<Vec<Option<Entry>>, StoreError> {
        let _guard = self.ledger.lock.lock().await;
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)?;
        let state = sqlx::query(crate::sql::ledger::select_state!())
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
        let keys: Vec<&str> = drafts.iter().filter_map(|d| d.key.as_deref()).collect();
        let mut seen = HashSet::new();
        if !keys.is_empty() {
            let keys = serde_json::to_string(&keys).map_err(corrupt)?;
            let rows = sqlx::query(
                "SELECT key FROM ledger_keys WHERE key IN (SELECT value FROM json_each(?1))",
            )
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
            // Nothing new: leave the log as it is.
            tx.rollback().await.map_err(unavailable)?;
            return Ok(plan.results);
        };
        for chunk in plan.rows.chunks(ROWS_PER_INSERT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO ledger_entries (seq, canonical, leaf_hash) ",
            );
            insert.push_values(chunk, |mut values, row| {
                values
                    .push_bind(row.seq)
                    .push_bind(row.canonical.as_slice())
                    .push_bind(row.leaf_hash_hex.as_str());
            });
            // The row count varies, so the statement is not kept in the cache.
            insert
                .build()
                .persistent(false)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        for chunk in plan.keys.chunks(ROWS_PER_INSERT) {
            let mut insert = QueryBuilder::<Sqlite>::new("INSERT INTO ledger_keys (key, seq) ");
            insert.push_values(chunk, |mut values, (key, seq)| {
                values.push_bind(key.as_str()).push_bind(*seq);
            });
            insert
                .build()
                .persistent(false)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
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

crate::sql::ledger::ledger_queries!(SqliteStore);
