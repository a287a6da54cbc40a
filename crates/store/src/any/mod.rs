//! One store type for the binary: SQLite or PostgreSQL, chosen at start-up by `[store]
//! url` ([`crate::config`]). Every store trait is implemented by delegating to the
//! backend (`delegation.rs`), so the services are compiled once, for [`AnyStore`].

mod delegation;

use crate::config::{StoreConfigError, StoreLocation, StoreSection};
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::StoreError;
use std::path::Path;

/// The store of an instance.
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// A SQLite file (the embedded default).
    Sqlite(SqliteStore),
    /// A PostgreSQL database (several nodes).
    Postgres(PostgresStore),
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// `[store]` is not usable.
    #[error(transparent)]
    Config(#[from] StoreConfigError),
    /// The database could not be opened, reached or brought to the schema.
    #[error("{what}: {source}")]
    Store {
        /// The database (a path, or the PostgreSQL host and database; never a password).
        what: String,
        /// Why.
        #[source]
        source: StoreError,
    },
}

impl AnyStore {
    /// Opens the store `section` names, relative to the instance directory `dir`, and
    /// applies the schema (creating the tables of a new database).
    pub async fn open(section: &StoreSection, dir: &Path) -> Result<AnyStore, OpenError> {
        Self::open_at(section.locate(dir)?).await
    }

    /// Opens the store at `location`.
    pub async fn open_at(location: StoreLocation) -> Result<AnyStore, OpenError> {
        let what = describe(&location);
        let opened = match location {
            StoreLocation::Sqlite(path) => SqliteStore::open(&path).await.map(AnyStore::Sqlite),
            StoreLocation::Postgres(options) => PostgresStore::connect_with(*options)
                .await
                .map(AnyStore::Postgres),
        };
        opened.map_err(|source| OpenError::Store { what, source })
    }

    /// Closes the backend's pools, waiting for connections to finish.
    pub async fn close(&self) {
        match self {
            AnyStore::Sqlite(store) => store.close().await,
            AnyStore::Postgres(store) => store.close().await,
        }
    }

    /// The backend's name: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            AnyStore::Sqlite(_) => "sqlite",
            AnyStore::Postgres(_) => "postgres",
        }
    }
}

/// The database of `location`, for messages: a path, or `postgres://USER@HOST:PORT/DB`.
pub fn describe(location: &StoreLocation) -> String {
    match location {
        StoreLocation::Sqlite(path) => path.display().to_string(),
        StoreLocation::Postgres(options) => format!(
            "postgres://{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        ),
    }
}
