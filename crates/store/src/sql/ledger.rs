//! The ledger's side that both backends share ([`crate::LedgerStore`]): appends through
//! the group commit, reading rows and the head. Each backend keeps its own ledger
//! transaction ([`crate::group_commit::LedgerWriter::write`]), which differs in what truly
//! differs: how it locks (`BEGIN IMMEDIATE` against `ledger_state ... FOR UPDATE`) and how
//! it inserts many rows and looks up many keys (multi-row `VALUES` and `json_each` against
//! `UNNEST` and `= ANY` over arrays, which SQLite cannot bind).

/// The ledger's state row inside a ledger transaction (a macro, so that PostgreSQL can
/// append `FOR UPDATE` with `concat!`).
macro_rules! select_state {
    () => {
        "SELECT size, compact FROM ledger_state WHERE id = 0"
    };
}
pub(crate) use select_state;

/// Writes the new tree head at the end of a ledger transaction.
pub(crate) const UPSERT_STATE: &str = "INSERT INTO ledger_state (id, size, root, compact) \
     VALUES (0, $1, $2, $3) ON CONFLICT (id) DO UPDATE \
     SET size = excluded.size, root = excluded.root, compact = excluded.compact";

/// Implements [`crate::LedgerStore`] for `$store` (a [`crate::group_commit::LedgerWriter`]),
/// whose module has `unavailable` and `sqlx::Row` in scope, and whose field `reads` is its
/// pool for plain reads.
macro_rules! ledger_queries {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::LedgerStore for $store {
            async fn append(&self, draft: shuin_ledger::EntryDraft, time: std::time::SystemTime) -> Result<shuin_ledger::Entry, $crate::StoreError> {
                $crate::group_commit::append(self, draft, time).await
            }

            async fn append_batch(
                &self,
                drafts: Vec<$crate::KeyedDraft>,
                time: std::time::SystemTime,
            ) -> Result<Vec<shuin_ledger::Entry>, $crate::StoreError> {
                let drafts = drafts
                    .into_iter()
                    .map(|$crate::KeyedDraft { key, draft }| $crate::ledger_state::TimedDraft { key, draft, time })
                    .collect();
                Ok($crate::group_commit::LedgerWriter::write(self, drafts).await?.into_iter().flatten().collect())
            }

            async fn ledger_rows_from(&self, from: u64) -> Result<Vec<shuin_ledger::StoredEntry>, $crate::StoreError> {
                self.ledger_rows_page(from, i64::MAX.unsigned_abs()).await
            }

            async fn ledger_rows_page(&self, from: u64, limit: u64) -> Result<Vec<shuin_ledger::StoredEntry>, $crate::StoreError> {
                let from = i64::try_from(from).map_err($crate::ledger_state::corrupt)?;
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                let rows = sqlx::query(
                    "SELECT seq, canonical, leaf_hash FROM ledger_entries WHERE seq >= $1 ORDER BY seq LIMIT $2",
                )
                .bind(from)
                .bind(limit)
                .fetch_all(&self.reads)
                .await
                .map_err(unavailable)?;
                rows.iter()
                    .map(|row| {
                        let seq: i64 = row.try_get("seq").map_err(unavailable)?;
                        Ok(shuin_ledger::StoredEntry {
                            seq: u64::try_from(seq).map_err($crate::ledger_state::corrupt)?,
                            canonical: row.try_get("canonical").map_err(unavailable)?,
                            leaf_hash_hex: row.try_get("leaf_hash").map_err(unavailable)?,
                        })
                    })
                    .collect()
            }

            async fn ledger_head(&self) -> Result<Option<shuin_ledger::TreeHead>, $crate::StoreError> {
                // `size > 0`: an empty ledger has no head (on PostgreSQL a ledger transaction
                // that wrote nothing may have held a placeholder row, never committed).
                let row = sqlx::query("SELECT size, root FROM ledger_state WHERE id = 0 AND size > 0")
                    .fetch_optional(&self.reads)
                    .await
                    .map_err(unavailable)?;
                row.map(|row| {
                    let size: i64 = row.try_get("size").map_err(unavailable)?;
                    Ok(shuin_ledger::TreeHead {
                        size: u64::try_from(size).map_err($crate::ledger_state::corrupt)?,
                        root_hex: row.try_get("root").map_err(unavailable)?,
                    })
                })
                .transpose()
            }
        }
    };
}
pub(crate) use ledger_queries;
