//! Signed checkpoints and leaf hashes (`ledger_checkpoints`, `ledger_entries`): one
//! implementation of [`crate::LedgerReader`] and [`crate::CheckpointWriter`] for both
//! stores, which differ only in their row type, the pool plain reads go to, and the
//! placeholders of their SQL dialect.

/// Implements the checkpoint traits for `$store` (whose module has `unavailable` in
/// scope), reading through its pool field `$reads`, with `$p1`/`$p2`/`$p3` as the first
/// three placeholders (`?1`... on SQLite, `$1`... on PostgreSQL).
macro_rules! checkpoint_queries {
    ($store:ty, $row:ty, $reads:ident, $p1:literal, $p2:literal, $p3:literal) => {
        fn checkpoint(row: &$row) -> Result<$crate::StoredCheckpoint, $crate::StoreError> {
            let size: i64 = row.try_get("size").map_err(unavailable)?;
            Ok($crate::StoredCheckpoint {
                size: u64::try_from(size).map_err($crate::ledger_state::corrupt)?,
                note: row.try_get("note").map_err(unavailable)?,
            })
        }

        #[async_trait::async_trait]
        impl $crate::LedgerReader for $store {
            async fn ledger_size(&self) -> Result<u64, $crate::StoreError> {
                let size: Option<i64> =
                    sqlx::query_scalar("SELECT size FROM ledger_state WHERE id = 0")
                        .fetch_optional(&self.$reads)
                        .await
                        .map_err(unavailable)?;
                u64::try_from(size.unwrap_or(0)).map_err($crate::ledger_state::corrupt)
            }

            async fn leaf_hashes(&self, size: u64) -> Result<Vec<[u8; 32]>, $crate::StoreError> {
                let limit = i64::try_from(size).unwrap_or(i64::MAX);
                let rows = sqlx::query(concat!(
                    "SELECT seq, leaf_hash FROM ledger_entries WHERE seq < ",
                    $p1,
                    " ORDER BY seq"
                ))
                .bind(limit)
                .fetch_all(&self.$reads)
                .await
                .map_err(unavailable)?;
                rows.iter()
                    .map(|row| {
                        let seq: i64 = row.try_get("seq").map_err(unavailable)?;
                        let text: String = row.try_get("leaf_hash").map_err(unavailable)?;
                        $crate::ledger_state::decode_leaf(seq, &text)
                    })
                    .collect()
            }

            async fn checkpoints(
                &self,
            ) -> Result<Vec<$crate::StoredCheckpoint>, $crate::StoreError> {
                let rows = sqlx::query("SELECT size, note FROM ledger_checkpoints ORDER BY size")
                    .fetch_all(&self.$reads)
                    .await
                    .map_err(unavailable)?;
                rows.iter().map(checkpoint).collect()
            }

            async fn latest_checkpoint(
                &self,
            ) -> Result<Option<$crate::StoredCheckpoint>, $crate::StoreError> {
                let row = sqlx::query(
                    "SELECT size, note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1",
                )
                .fetch_optional(&self.$reads)
                .await
                .map_err(unavailable)?;
                row.as_ref().map(checkpoint).transpose()
            }
        }

        #[async_trait::async_trait]
        impl $crate::CheckpointWriter for $store {
            async fn add_checkpoint(
                &self,
                checkpoint: &$crate::StoredCheckpoint,
            ) -> Result<(), $crate::StoreError> {
                let size = i64::try_from(checkpoint.size).map_err($crate::ledger_state::corrupt)?;
                sqlx::query(concat!(
                    "INSERT INTO ledger_checkpoints (size, note) VALUES (",
                    $p1,
                    ", ",
                    $p2,
                    ") ON CONFLICT (size) DO NOTHING"
                ))
                .bind(size)
                .bind(&checkpoint.note)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
                let stored: String = sqlx::query_scalar(concat!(
                    "SELECT note FROM ledger_checkpoints WHERE size = ",
                    $p1
                ))
                .bind(size)
                .fetch_one(&self.$reads)
                .await
                .map_err(unavailable)?;
                if stored != checkpoint.note {
                    return Err($crate::StoreError::Conflict($crate::ConflictKind::Other));
                }
                Ok(())
            }

            async fn add_cosignatures(
                &self,
                size: u64,
                stored: &str,
                cosigned: &str,
            ) -> Result<(), $crate::StoreError> {
                let added = cosigned.strip_prefix(stored).unwrap_or_default();
                if added.is_empty() || !stored.ends_with('\n') || !added.ends_with('\n') {
                    return Err($crate::StoreError::Conflict($crate::ConflictKind::Other));
                }
                let size = i64::try_from(size).map_err($crate::ledger_state::corrupt)?;
                // Compare and swap: only the note the caller read is replaced.
                let updated = sqlx::query(concat!(
                    "UPDATE ledger_checkpoints SET note = ",
                    $p2,
                    " WHERE size = ",
                    $p1,
                    " AND note = ",
                    $p3
                ))
                .bind(size)
                .bind(cosigned)
                .bind(stored)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
                if updated.rows_affected() == 1 {
                    return Ok(());
                }
                let exists: Option<i64> = sqlx::query_scalar(concat!(
                    "SELECT size FROM ledger_checkpoints WHERE size = ",
                    $p1
                ))
                .bind(size)
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
                match exists {
                    Some(_) => Err($crate::StoreError::Conflict($crate::ConflictKind::Other)),
                    None => Err($crate::StoreError::NotFound),
                }
            }
        }
    };
}
pub(crate) use checkpoint_queries;
