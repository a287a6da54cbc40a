//! PostgreSQL implementation. Every commit is durable before the call returns: the session
//! pins `synchronous_commit = on` whatever the server default, which the ledger's
//! record-before-effect rule needs. Unique violations map to [`ConflictKind`] by the
//! constraint names in `schema.sql`.

mod checkpoints;
mod ledger;
mod lifecycle;
mod retention;
mod revocation;
mod rows;
mod tiles;

use crate::sqlite::secs;
use crate::{
    ApplicationRecord, ApplicationStatus, ApplicationStore, CertificateReader, CertificateRecord,
    CertificateState, CertificateWriter, ConflictKind, NonceOutcome, NonceStore, SettingsStore,
    StoreError,
};
use async_trait::async_trait;
use shuin_core::Serial;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Row;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

/// Held while the schema is applied, so concurrent `connect`s on a new database do not
/// race on `CREATE TABLE IF NOT EXISTS` (which is not atomic in PostgreSQL).
const SCHEMA_LOCK: i64 = 0x7368_7569_6e00_0001;

/// A PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    ledger: std::sync::Arc<ledger::LedgerState>,
}

pub(crate) fn unavailable(e: sqlx::Error) -> StoreError {
    if let Some(db) = e.as_database_error() {
        if db.is_unique_violation() {
            let kind = match db.constraint() {
                Some("nonces_nonce_pkey") => ConflictKind::Nonce,
                Some("certificates_serial_pkey") => ConflictKind::Serial,
                Some("certificates_key_in_use_key") => ConflictKind::Key,
                _ => ConflictKind::Other,
            };
            return StoreError::Conflict(kind);
        }
    }
    StoreError::Unavailable(Box::new(e))
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/database?...`) and applies the
    /// schema (idempotent).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(unavailable)?;
        Self::connect_with(options).await
    }

    /// Like [`PostgresStore::connect`], from parsed options.
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        let options = options.options([("synchronous_commit", "on")]);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        let mut tx = pool.begin().await.map_err(unavailable)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SCHEMA_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        sqlx::raw_sql(include_str!("schema.sql"))
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(Self {
            pool,
            ledger: std::sync::Arc::default(),
        })
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl NonceStore for PostgresStore {
    async fn insert_nonce(&self, nonce: &str, expires_at: SystemTime) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO nonces (nonce, expires_at) VALUES ($1, $2)")
            .bind(nonce)
            .bind(secs(expires_at))
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn consume_nonce(
        &self,
        nonce: &str,
        now: SystemTime,
    ) -> Result<NonceOutcome, StoreError> {
        // One guarded UPDATE: a concurrent caller waits on the row lock, then re-checks
        // `used_at IS NULL` against the committed row and updates nothing.
        let row = sqlx::query(
            "UPDATE nonces SET used_at = $2 WHERE nonce = $1 AND used_at IS NULL RETURNING expires_at",
        )
        .bind(nonce)
        .bind(secs(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        if let Some(row) = row {
            let expires_at: i64 = row.try_get("expires_at").map_err(unavailable)?;
            return Ok(if secs(now) > expires_at {
                NonceOutcome::Expired
            } else {
                NonceOutcome::Fresh
            });
        }
        let exists = sqlx::query("SELECT 1 AS one FROM nonces WHERE nonce = $1")
            .bind(nonce)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(if exists.is_some() {
            NonceOutcome::Reused
        } else {
            NonceOutcome::Unknown
        })
    }
    async fn purge_expired_nonces(
        &self,
        expired_before: SystemTime,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let deleted = sqlx::query(
            "DELETE FROM nonces WHERE nonce IN (SELECT nonce FROM nonces WHERE expires_at < $1 LIMIT $2)",
        )
        .bind(secs(expired_before))
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(deleted.rows_affected())
    }
}

#[async_trait]
impl ApplicationStore for PostgresStore {
    async fn put_evidence(&self, sha256_hex: &str, bytes: &[u8]) -> Result<(), StoreError> {
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

    async fn evidence(&self, sha256_hex: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT bytes FROM evidence WHERE sha256 = $1")
            .bind(sha256_hex)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.map(|r| r.try_get::<Vec<u8>, _>("bytes").map_err(unavailable))
            .transpose()
    }

    async fn insert_application(&self, record: &ApplicationRecord) -> Result<(), StoreError> {
        let row = crate::rows::ApplicationRow::from_record(record)?;
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

    async fn update_application(&self, record: &ApplicationRecord) -> Result<(), StoreError> {
        let row = crate::rows::ApplicationRow::from_record(record)?;
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
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn application(&self, id: &str) -> Result<Option<ApplicationRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, status, received_at, review_reasons, serial, rejection_reason, evidence_sha256, details FROM applications WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.map(|r| crate::rows::ApplicationRow::from_row(&r)?.into_record())
            .transpose()
    }

    async fn applications_with_status(
        &self,
        status: ApplicationStatus,
    ) -> Result<Vec<ApplicationRecord>, StoreError> {
        let found = sqlx::query(
            "SELECT id, status, received_at, review_reasons, serial, rejection_reason, evidence_sha256, details FROM applications WHERE status = $1 ORDER BY received_at, id",
        )
        .bind(status.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        found
            .iter()
            .map(|r| crate::rows::ApplicationRow::from_row(r)?.into_record())
            .collect()
    }
}

#[async_trait]
impl CertificateReader for PostgresStore {
    async fn issued_count(&self) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM certificates WHERE state = 'issued'")
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)?;
        let n: i64 = row.try_get("n").map_err(unavailable)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn issued_serials(&self) -> Result<Vec<Serial>, StoreError> {
        let rows = sqlx::query("SELECT serial FROM certificates WHERE state = 'issued'")
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let text: String = row.try_get("serial").map_err(unavailable)?;
                Serial::from_hex(&text)
                    .ok_or_else(|| StoreError::Corrupt(format!("certificate serial {text:?}")))
            })
            .collect()
    }

    async fn key_in_use(&self, key_fingerprint: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 AS one FROM certificates WHERE key_in_use = $1")
            .bind(key_fingerprint)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(row.is_some())
    }

    async fn certificate(&self, serial: &Serial) -> Result<Option<CertificateRecord>, StoreError> {
        let row = sqlx::query(rows::CERTIFICATE_SELECT_BY_SERIAL)
            .bind(serial.to_hex())
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.map(|r| crate::rows::certificate_from_row(&r))
            .transpose()
    }

    async fn certificates_in_state(
        &self,
        state: CertificateState,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let found = sqlx::query(rows::CERTIFICATE_SELECT_BY_STATE)
            .bind(state.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        found
            .iter()
            .map(crate::rows::certificate_from_row)
            .collect()
    }
}

#[async_trait]
impl CertificateWriter for PostgresStore {
    async fn reserve(&self, record: &CertificateRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO certificates (serial, application_id, key_in_use, key_fingerprint, tbs_sha256, state, not_before, not_after) \
             VALUES ($1, $2, $3, $3, $4, 'reserved', $5, $6)",
        )
        .bind(record.serial.to_hex())
        .bind(&record.application_id)
        .bind(&record.key_fingerprint)
        .bind(&record.tbs_sha256)
        .bind(secs(record.not_before))
        .bind(secs(record.not_after))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn complete(
        &self,
        serial: &Serial,
        der: &[u8],
        issued_at: SystemTime,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE certificates SET der = $2, issued_at = $3, state = 'issued' WHERE serial = $1 AND state = 'reserved'",
        )
        .bind(serial.to_hex())
        .bind(der)
        .bind(secs(issued_at))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn mark_undelivered(&self, serial: &Serial) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE certificates SET state = 'undelivered', key_in_use = NULL WHERE serial = $1 AND state = 'reserved'",
        )
        .bind(serial.to_hex())
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

#[async_trait]
impl SettingsStore for PostgresStore {
    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.map(|r| r.try_get::<String, _>("value").map_err(unavailable))
            .transpose()
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
