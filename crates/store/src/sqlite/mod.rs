//! SQLite implementation: bundled SQLite, WAL, `synchronous=FULL` (every commit is
//! durable before the call returns, which the ledger's record-before-effect rule needs).

mod checkpoints;
mod ledger;
mod lifecycle;
mod ocsp;
mod retention;
mod revocation;
mod tiles;

pub(crate) use crate::rows::{secs, time_of};
use crate::{ConflictKind, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::time::Duration;

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

/// The version in `schema_version`, if the database has that table.
async fn schema_version(pool: &SqlitePool) -> Result<Option<i64>, StoreError> {
    let versioned = sqlx::query(
        "SELECT 1 AS one FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
    )
    .fetch_optional(pool)
    .await
    .map_err(unavailable)?;
    if versioned.is_none() {
        return Ok(None);
    }
    sqlx::query_scalar(crate::schema::SELECT_VERSION)
        .fetch_optional(pool)
        .await
        .map_err(unavailable)
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
        crate::schema::check(schema_version(&pool).await?)?;
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

crate::sql::applicant::applicant_queries!(SqliteStore);
crate::sql::certificates::certificate_queries!(SqliteStore);
crate::sql::orders::order_queries!(SqliteStore);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::LedgerStore;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// The database and SQLite's WAL and shared-memory files are owner-only, although a
    /// file made with the default umask (022) would be readable by everyone.
    #[tokio::test]
    async fn the_database_and_its_wal_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shuin.db");
        let store = SqliteStore::open(&path).await.unwrap();
        let draft = shuin_ledger::EntryDraft {
            book: shuin_ledger::Book::Facility,
            kind: "test.written".into(),
            actor: shuin_ledger::Actor {
                name: "test".into(),
                role: "system".into(),
                zone: "secure".into(),
            },
            subjects: vec![],
            payload: serde_json::json!({}),
            evidence: vec![],
        };
        store
            .append(
                draft,
                std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            )
            .await
            .unwrap();
        for name in ["shuin.db", "shuin.db-wal", "shuin.db-shm"] {
            let file = dir.path().join(name);
            assert!(file.exists(), "{name} is not there: the test shows nothing");
            assert_eq!(mode(&file), 0o600, "{name}");
        }
    }
}
