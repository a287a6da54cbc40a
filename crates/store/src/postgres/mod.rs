//! PostgreSQL implementation. Every commit is durable before the call returns: the session
//! pins `synchronous_commit = on` whatever the server default, which the ledger's
//! record-before-effect rule needs. Unique violations map to [`ConflictKind`] by the
//! constraint names in `schema.sql`.

mod checkpoints;
mod ledger;
mod lifecycle;
mod ocsp;
mod retention;
mod revocation;
mod tiles;

use crate::{ConflictKind, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Row;
use std::str::FromStr;
use std::time::Duration;

/// Held while the schema is applied, so concurrent `connect`s on a new database do not
/// race on `CREATE TABLE IF NOT EXISTS` (which is not atomic in PostgreSQL).
const SCHEMA_LOCK: i64 = 0x7368_7569_6e00_0001;

/// Held by each writer of pre-signed OCSP answers until it commits, so that their feed
/// numbers are given, and become visible, in order (`crate::sql::ocsp`).
const OCSP_LOCK: i64 = 0x7368_7569_6e00_0002;

/// A PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Plain reads: the same pool (PostgreSQL needs no separate readers; the field
    /// exists so that the shared queries in `crate::sql` name one pool per use).
    reads: PgPool,
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
        // One plain connection first: an unreachable server or a refused login fails
        // here at once with the driver's own reason, instead of the pool retrying until
        // its acquire timeout and reporting only that it timed out.
        let probe = sqlx::ConnectOptions::connect(&options)
            .await
            .map_err(unavailable)?;
        sqlx::Connection::close(probe).await.map_err(unavailable)?;
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
        let versioned: bool =
            sqlx::query_scalar("SELECT to_regclass('schema_version') IS NOT NULL")
                .fetch_one(&mut *tx)
                .await
                .map_err(unavailable)?;
        let found = if versioned {
            sqlx::query_scalar(crate::schema::SELECT_VERSION)
                .fetch_optional(&mut *tx)
                .await
                .map_err(unavailable)?
        } else {
            None
        };
        // On a mismatch the transaction is dropped: rolled back, nothing changed.
        crate::schema::check(found)?;
        sqlx::raw_sql(include_str!("schema.sql"))
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(Self {
            reads: pool.clone(),
            pool,
            ledger: std::sync::Arc::default(),
        })
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

crate::sql::applicant::applicant_queries!(PostgresStore);
crate::sql::certificates::certificate_queries!(PostgresStore);
crate::sql::orders::order_queries!(PostgresStore);
