//! SQLite implementation: bundled SQLite, WAL, `synchronous=FULL` (every commit is
//! durable before the call returns, which the ledger's record-before-effect rule needs).

mod checkpoints;
mod ledger;
mod lifecycle;
mod retention;
mod revocation;
mod rows;
mod tiles;

use crate::{
    ApplicationRecord, ApplicationStatus, ApplicationStore, CertificateReader, CertificateRecord,
    CertificateState, CertificateWriter, ConflictKind, NonceOutcome, NonceStore, SettingsStore,
    StoreError,
};
use async_trait::async_trait;
use shuin_core::clock::unix_seconds;
use shuin_core::Serial;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// A SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Every write, and reads inside write transactions: one connection (see `open`).
    pool: SqlitePool,
    /// Plain reads (lists, exports, proofs): read-only connections of their own, so a
    /// long read never holds up a write (WAL readers do not block the writer).
    reads: SqlitePool,
    ledger: std::sync::Arc<ledger::LedgerState>,
}

pub(crate) fn unavailable(e: sqlx::Error) -> StoreError {
    if let Some(db) = e.as_database_error() {
        if db.is_unique_violation() {
            let message = db.message().to_owned();
            let kind = if message.contains("key_in_use") {
                ConflictKind::Key
            } else if message.contains("certificates.serial") {
                ConflictKind::Serial
            } else if message.contains("nonces.nonce") {
                ConflictKind::Nonce
            } else {
                ConflictKind::Other
            };
            return StoreError::Conflict(kind);
        }
    }
    StoreError::Unavailable(Box::new(e))
}

pub(crate) fn secs(t: SystemTime) -> i64 {
    i64::try_from(unix_seconds(t)).unwrap_or(i64::MAX)
}

pub(crate) fn time_of(secs: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies the schema.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        // A new database is created owner-only; SQLite gives its WAL and shared-memory
        // files the database file's permissions.
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
            {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(StoreError::Unavailable(Box::new(e))),
            }
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // One connection: SQLite admits one writer at a time, and with several
        // connections a second writer gets SQLITE_BUSY and sleeps in the busy handler
        // (1, 2, 5, 10... ms) instead of queueing. Issuance writes ~10 durable commits
        // per application, so those sleeps, not signing or fsync, set its rate
        // (BENCHMARKS.md "Profiles"). Queueing on the pool keeps every commit durable and
        // in order; other processes still wait through busy_timeout.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        sqlx::raw_sql(include_str!("schema.sql"))
            .execute(&pool)
            .await
            .map_err(unavailable)?;
        let reads = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(
                SqliteConnectOptions::new()
                    .filename(path)
                    .read_only(true)
                    .busy_timeout(Duration::from_secs(10)),
            )
            .await
            .map_err(unavailable)?;
        Ok(Self {
            pool,
            reads,
            ledger: std::sync::Arc::default(),
        })
    }

    /// An in-memory database for tests (one connection, so it is shared).
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new().in_memory(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        sqlx::raw_sql(include_str!("schema.sql"))
            .execute(&pool)
            .await
            .map_err(unavailable)?;
        Ok(Self {
            reads: pool.clone(),
            pool,
            ledger: std::sync::Arc::default(),
        })
    }

    /// Closes the pools, waiting for connections to finish.
    pub async fn close(&self) {
        self.reads.close().await;
        self.pool.close().await;
    }
}

#[async_trait]
impl NonceStore for SqliteStore {
    async fn insert_nonce(&self, nonce: &str, expires_at: SystemTime) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO nonces (nonce, expires_at) VALUES (?1, ?2)")
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
        // One guarded UPDATE: only one caller can flip used_at from NULL.
        let row = sqlx::query(
            "UPDATE nonces SET used_at = ?2 WHERE nonce = ?1 AND used_at IS NULL RETURNING expires_at",
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
        let exists = sqlx::query("SELECT 1 AS one FROM nonces WHERE nonce = ?1")
            .bind(nonce)
            .fetch_optional(&self.reads)
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
            "DELETE FROM nonces WHERE nonce IN (SELECT nonce FROM nonces WHERE expires_at < ?1 LIMIT ?2)",
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
impl ApplicationStore for SqliteStore {
    async fn put_evidence(&self, sha256_hex: &str, bytes: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO evidence (sha256, bytes) VALUES (?1, ?2) ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256_hex)
        .bind(bytes)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn evidence(&self, sha256_hex: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT bytes FROM evidence WHERE sha256 = ?1")
            .bind(sha256_hex)
            .fetch_optional(&self.reads)
            .await
            .map_err(unavailable)?;
        row.map(|r| r.try_get::<Vec<u8>, _>("bytes").map_err(unavailable))
            .transpose()
    }

    async fn insert_application(&self, record: &ApplicationRecord) -> Result<(), StoreError> {
        let row = crate::rows::ApplicationRow::from_record(record)?;
        sqlx::query(
            "INSERT INTO applications (id, status, received_at, review_reasons, serial, rejection_reason, evidence_sha256, details) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
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
            "UPDATE applications SET status = ?2, review_reasons = ?3, serial = ?4, rejection_reason = ?5, details = ?6 WHERE id = ?1",
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
            "SELECT id, status, received_at, review_reasons, serial, rejection_reason, evidence_sha256, details FROM applications WHERE id = ?1",
        )
        .bind(id)
        .fetch_optional(&self.reads)
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
            "SELECT id, status, received_at, review_reasons, serial, rejection_reason, evidence_sha256, details FROM applications WHERE status = ?1 ORDER BY received_at, id",
        )
        .bind(status.as_str())
        .fetch_all(&self.reads)
        .await
        .map_err(unavailable)?;
        found
            .iter()
            .map(|r| crate::rows::ApplicationRow::from_row(r)?.into_record())
            .collect()
    }
}

#[async_trait]
impl CertificateReader for SqliteStore {
    async fn issued_count(&self) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM certificates WHERE state = 'issued'")
            .fetch_one(&self.reads)
            .await
            .map_err(unavailable)?;
        let n: i64 = row.try_get("n").map_err(unavailable)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn issued_serials(&self) -> Result<Vec<Serial>, StoreError> {
        let rows = sqlx::query("SELECT serial FROM certificates WHERE state = 'issued'")
            .fetch_all(&self.reads)
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
        let row = sqlx::query("SELECT 1 AS one FROM certificates WHERE key_in_use = ?1")
            .bind(key_fingerprint)
            .fetch_optional(&self.reads)
            .await
            .map_err(unavailable)?;
        Ok(row.is_some())
    }

    async fn certificate(&self, serial: &Serial) -> Result<Option<CertificateRecord>, StoreError> {
        let row = sqlx::query(rows::CERTIFICATE_SELECT_BY_SERIAL)
            .bind(serial.to_hex())
            .fetch_optional(&self.reads)
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
            .fetch_all(&self.reads)
            .await
            .map_err(unavailable)?;
        found
            .iter()
            .map(crate::rows::certificate_from_row)
            .collect()
    }
}

#[async_trait]
impl CertificateWriter for SqliteStore {
    async fn reserve(&self, record: &CertificateRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO certificates (serial, application_id, key_in_use, key_fingerprint, tbs_sha256, state, not_before, not_after) \
             VALUES (?1, ?2, ?3, ?3, ?4, 'reserved', ?5, ?6)",
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
            "UPDATE certificates SET der = ?2, issued_at = ?3, state = 'issued' WHERE serial = ?1 AND state = 'reserved'",
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
            "UPDATE certificates SET state = 'undelivered', key_in_use = NULL WHERE serial = ?1 AND state = 'reserved'",
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
impl SettingsStore for SqliteStore {
    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = ?1")
            .bind(key)
            .fetch_optional(&self.reads)
            .await
            .map_err(unavailable)?;
        row.map(|r| r.try_get::<String, _>("value").map_err(unavailable))
            .transpose()
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
