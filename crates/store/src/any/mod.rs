//! One store type for the binary: SQLite or PostgreSQL, chosen at start-up by `[store]
//! url` ([`crate::config`]). Every store trait is implemented by delegating to the
//! backend (`delegation.rs`), so the services are compiled once, for [`AnyStore`].

mod delegation;

use crate::config::{StoreConfigError, StoreLocation, StoreSection};
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::{LedgerStore, StoreError};
use std::path::{Path, PathBuf};

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
    /// The SQLite file of an existing instance is not there.
    #[error("{} does not exist; is {} an instance?", path.display(), dir.display())]
    NoInstance {
        /// The missing file.
        path: PathBuf,
        /// The instance directory given.
        dir: PathBuf,
    },
    /// The database of a new instance already holds an instance's books.
    #[error("{what} already holds an instance's books; give a new, empty database")]
    NotEmpty {
        /// The database (as in [`OpenError::Store`]).
        what: String,
    },
}

impl AnyStore {
    /// Opens the store `section` names, relative to the instance directory `dir`, and
    /// applies the schema (creating the tables of a new database).
    pub async fn open(section: &StoreSection, dir: &Path) -> Result<AnyStore, OpenError> {
        Self::open_at(section.locate(dir)?).await
    }

    /// Opens the store of an existing instance: a SQLite file must be there already (a
    /// missing one means a wrong instance directory, not a new instance).
    pub async fn open_existing(section: &StoreSection, dir: &Path) -> Result<AnyStore, OpenError> {
        let location = section.locate(dir)?;
        if let StoreLocation::Sqlite(path) = &location {
            if !path.exists() {
                return Err(OpenError::NoInstance {
                    path: path.clone(),
                    dir: dir.to_owned(),
                });
            }
        }
        Self::open_at(location).await
    }

    /// Creates the store of a new instance: the SQLite file, or the schema in an
    /// existing PostgreSQL database, which must not hold books yet.
    pub async fn create_new(section: &StoreSection, dir: &Path) -> Result<AnyStore, OpenError> {
        let location = section.locate(dir)?;
        let what = describe(&location);
        let store = Self::open_at(location).await?;
        let head = store
            .ledger_head()
            .await
            .map_err(|source| OpenError::Store {
                what: "database".into(),
                source,
            })?;
        if head.is_some() {
            store.close().await;
            return Err(OpenError::NotEmpty { what });
        }
        Ok(store)
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use shuin_ledger::{Actor, Book, EntryDraft};

    fn draft() -> EntryDraft {
        EntryDraft {
            book: Book::Application,
            kind: "test.books".into(),
            actor: Actor {
                name: "tester".into(),
                role: "system".into(),
                zone: "secure".into(),
            },
            subjects: vec![],
            payload: serde_json::json!({}),
            evidence: vec![],
        }
    }

    #[tokio::test]
    async fn an_existing_instance_needs_its_sqlite_file() {
        let dir = tempfile::tempdir().unwrap();
        let section = StoreSection::default();
        let error = AnyStore::open_existing(&section, dir.path())
            .await
            .unwrap_err();
        assert!(matches!(error, OpenError::NoInstance { .. }), "{error}");
        assert!(error.to_string().ends_with("an instance?"));
        AnyStore::create_new(&section, dir.path())
            .await
            .unwrap()
            .close()
            .await;
        let store = AnyStore::open_existing(&section, dir.path()).await.unwrap();
        assert_eq!(store.backend(), "sqlite");
        store.close().await;
    }

    #[tokio::test]
    async fn a_new_instance_refuses_a_database_with_books() {
        let dir = tempfile::tempdir().unwrap();
        let section = StoreSection::default();
        let store = AnyStore::create_new(&section, dir.path()).await.unwrap();
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        store.append(draft(), time).await.unwrap();
        store.close().await;
        let error = AnyStore::create_new(&section, dir.path())
            .await
            .unwrap_err();
        assert!(matches!(error, OpenError::NotEmpty { .. }), "{error}");
        assert!(error
            .to_string()
            .contains("already holds an instance's books"));
    }
}
