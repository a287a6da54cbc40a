//! Nonces, evidence and applications ([`crate::NonceStore`], [`crate::ApplicationStore`]):
//! one SQL text per query for both backends.

/// Implements the traits above for `$store`, whose module has `unavailable` (its
/// backend's error mapping) and `sqlx::Row` in scope, and whose fields `pool` (writes)
/// and `reads` (plain reads) are its pools.
macro_rules! applicant_queries {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::NonceStore for $store {
            async fn insert_nonce(&self, nonce: &str, expires_at: std::time::SystemTime) -> Result<(), $crate::StoreError> {
                sqlx::query("INSERT INTO nonces (nonce, expires_at) VALUES ($1, $2)")
                    .bind(nonce)
                    .bind($crate::rows::secs(expires_at))
                    .execute(&self.pool)
                    .await
                    .map_err(unavailable)?;
                Ok(())
            }

            async fn consume_nonce(
                &self,
                nonce: &str,
                now: std::time::SystemTime,
            ) -> Result<$crate::NonceOutcome, $crate::StoreError> {
                // One guarded UPDATE: only one caller can flip used_at from NULL (on PostgreSQL a
                // concurrent caller waits on the row lock, then re-checks `used_at IS NULL`
                // against the committed row and updates nothing).
                let row = sqlx::query(
                    "UPDATE nonces SET used_at = $2 WHERE nonce = $1 AND used_at IS NULL RETURNING expires_at",
                )
                .bind(nonce)
                .bind($crate::rows::secs(now))
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
                if let Some(row) = row {
                    let expires_at: i64 = row.try_get("expires_at").map_err(unavailable)?;
                    return Ok(if $crate::rows::secs(now) > expires_at {
                        $crate::NonceOutcome::Expired
                    } else {
                        $crate::NonceOutcome::Fresh
                    });
                }
                let exists = sqlx::query("SELECT 1 AS one FROM nonces WHERE nonce = $1")
                    .bind(nonce)
                    .fetch_optional(&self.reads)
                    .await
                    .map_err(unavailable)?;
                Ok(if exists.is_some() {
                    $crate::NonceOutcome::Reused
                } else {
                    $crate::NonceOutcome::Unknown
                })
            }
            async fn purge_expired_nonces(
                &self,
                expired_before: std::time::SystemTime,
                limit: u32,
            ) -> Result<u64, $crate::StoreError> {
                let deleted = sqlx::query(
                    "DELETE FROM nonces WHERE nonce IN (SELECT nonce FROM nonces WHERE expires_at < $1 LIMIT $2)",
                )
                .bind($crate::rows::secs(expired_before))
                .bind(i64::from(limit))
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
                Ok(deleted.rows_affected())
            }
        }

        #[async_trait::async_trait]
        impl $crate::ApplicationStore for $store {
            async fn put_evidence(&self, sha256_hex: &str, bytes: &[u8]) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO evidence (sha256, bytes) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
                )
                .bind(sha256_hex)
                .bind(bytes)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
                Ok(())
            }

            async fn evidence(&self, sha256_hex: &str) -> Result<Option<Vec<u8>>, $crate::StoreError> {
                let row = sqlx::query("SELECT bytes FROM evidence WHERE sha256 = $1")
                    .bind(sha256_hex)
                    .fetch_optional(&self.reads)
                    .await
                    .map_err(unavailable)?;
                row.map(|r| r.try_get::<Vec<u8>, _>("bytes").map_err(unavailable))
                    .transpose()
            }

            async fn link_evidence(&self, sha256_hex: &str, application_id: &str) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO evidence_links (sha256, application_id) VALUES ($1, $2) ON CONFLICT (sha256, application_id) DO NOTHING",
                )
                .bind(sha256_hex)
                .bind(application_id)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
                Ok(())
            }

            async fn insert_application(&self, record: &$crate::ApplicationRecord) -> Result<(), $crate::StoreError> {
                let row = $crate::rows::ApplicationRow::from_record(record)?;
                sqlx::query(
                    "INSERT INTO applications (id, status, received_at, review_reasons, serial, rejection_reason, evidence_sha256, details) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&row.id)
                .bind(&row.status)
                .bind(row.received_at)
                .bind(&row.review_reasons)
                .bind(&row.serial)
                .bind(&row.rejection_reason)
                .bind(&row.evidence_sha256)
                .bind(&row.details)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
                Ok(())
            }

            async fn update_application(&self, record: &$crate::ApplicationRecord) -> Result<(), $crate::StoreError> {
                let row = $crate::rows::ApplicationRow::from_record(record)?;
                let done = sqlx::query(
                    "UPDATE applications SET status = $2, review_reasons = $3, serial = $4, rejection_reason = $5, details = $6 WHERE id = $1",
                )
                .bind(&row.id)
                .bind(&row.status)
                .bind(&row.review_reasons)
                .bind(&row.serial)
                .bind(&row.rejection_reason)
                .bind(&row.details)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                Ok(())
            }

            async fn application(&self, id: &str) -> Result<Option<$crate::ApplicationRecord>, $crate::StoreError> {
                let row = sqlx::query(
                    "SELECT id, status, received_at, review_reasons, serial, rejection_reason, evidence_sha256, details FROM applications WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.reads)
                .await
                .map_err(unavailable)?;
                row.map(|r| $crate::rows::ApplicationRow::from_row(&r)?.into_record())
                    .transpose()
            }

            async fn applications_with_status(
                &self,
                status: $crate::ApplicationStatus,
            ) -> Result<Vec<$crate::ApplicationRecord>, $crate::StoreError> {
                let found = sqlx::query(
                    "SELECT id, status, received_at, review_reasons, serial, rejection_reason, evidence_sha256, details FROM applications WHERE status = $1 ORDER BY received_at, id",
                )
                .bind(status.as_str())
                .fetch_all(&self.reads)
                .await
                .map_err(unavailable)?;
                found
                    .iter()
                    .map(|r| $crate::rows::ApplicationRow::from_row(r)?.into_record())
                    .collect()
            }

            async fn index_holder(&self, holder: &str, application_id: &str) -> Result<(), $crate::StoreError> {
                // Filed once: an application already filed (or forgotten, under no
                // holder) is never filed again.
                sqlx::query(
                    "INSERT INTO application_holders (holder, application_id) VALUES ($1, $2) \
                     ON CONFLICT (application_id) DO NOTHING",
                )
                .bind(holder)
                .bind(application_id)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
                Ok(())
            }

            async fn applications_of_holder(
                &self,
                holder: &str,
            ) -> Result<Vec<$crate::ApplicationRecord>, $crate::StoreError> {
                let found = sqlx::query(
                    "SELECT a.id, a.status, a.received_at, a.review_reasons, a.serial, a.rejection_reason, a.evidence_sha256, a.details \
                     FROM application_holders h JOIN applications a ON a.id = h.application_id \
                     WHERE h.holder = $1 ORDER BY a.received_at, a.id",
                )
                .bind(holder)
                .fetch_all(&self.reads)
                .await
                .map_err(unavailable)?;
                found
                    .iter()
                    .map(|r| $crate::rows::ApplicationRow::from_row(r)?.into_record())
                    .collect()
            }

            async fn unfiled_applications(
                &self,
                limit: u32,
            ) -> Result<Vec<$crate::ApplicationRecord>, $crate::StoreError> {
                let found = sqlx::query(
                    "SELECT id, status, received_at, review_reasons, serial, rejection_reason, evidence_sha256, details FROM applications a \
                     WHERE NOT EXISTS (SELECT 1 FROM application_holders h WHERE h.application_id = a.id) \
                     ORDER BY received_at, id LIMIT $1",
                )
                .bind(i64::from(limit))
                .fetch_all(&self.reads)
                .await
                .map_err(unavailable)?;
                found
                    .iter()
                    .map(|r| $crate::rows::ApplicationRow::from_row(r)?.into_record())
                    .collect()
            }

            async fn forget_holder(&self, application_id: &str) -> Result<(), $crate::StoreError> {
                // One row per application (a unique index): it now names no holder.
                sqlx::query(
                    "INSERT INTO application_holders (holder, application_id) VALUES ($1, $2) \
                     ON CONFLICT (application_id) DO UPDATE SET holder = excluded.holder",
                )
                .bind($crate::NO_HOLDER)
                .bind(application_id)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
                Ok(())
            }
        }
    };
}
pub(crate) use applicant_queries;
