//! `[store]` in `shuin.toml`: which database an instance uses.
//!
//! ```toml
//! [store]
//! url = "sqlite:shuin.db"                        # the default; relative to the instance dir
//! # url = "postgres://shuin@db.example:5432/shuin?sslmode=verify-full"
//! # password_file = "secrets/postgres-password"  # owner-only (0600); or PGPASSWORD, ~/.pgpass
//! ```
//!
//! A PostgreSQL password is never written in the URL: the URL is refused if it holds
//! one. It comes from `password_file` (first line, checked owner-only), else from the
//! standard `PGPASSWORD` variable or password file (`~/.pgpass`, `PGPASSFILE`), which
//! the driver reads. The other libpq variables (`PGSSLMODE`, `PGSSLROOTCERT`, ...) apply
//! when the URL does not say otherwise.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `[store]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `sqlite:PATH` (relative to the instance directory) or `postgres://...`.
    #[serde(default = "default_url")]
    pub url: String,
    /// A file holding the PostgreSQL password (owner-only), relative to the instance
    /// directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

/// The default database: `shuin.db` in the instance directory.
pub const DEFAULT_URL: &str = "sqlite:shuin.db";

fn default_url() -> String {
    DEFAULT_URL.to_owned()
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            url: default_url(),
            password_file: None,
        }
    }
}

/// A `[store]` that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreConfigError {
    /// The URL names neither backend.
    #[error("[store] url must start with sqlite: or postgres:// (got {scheme:?})")]
    UnknownScheme {
        /// What the URL starts with.
        scheme: String,
    },
    /// The URL holds a password.
    #[error(
        "[store] url holds a password; remove it and use [store] password_file (owner-only), \
         PGPASSWORD or ~/.pgpass instead"
    )]
    PasswordInUrl,
    /// The URL does not parse.
    #[error("[store] url: {0}")]
    BadUrl(#[source] sqlx::Error),
    /// `password_file` with a SQLite URL.
    #[error("[store] password_file applies to PostgreSQL only")]
    PasswordFileWithoutPostgres,
    /// The password file cannot be read.
    #[error("[store] password_file {path}: {source}")]
    PasswordFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The password file may be read by others.
    #[error("[store] password_file {path} has mode {mode:o}; make it owner-only (chmod 600)")]
    PasswordFileMode {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// Where the store is, resolved against the instance directory.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(Box<sqlx::postgres::PgConnectOptions>),
}

impl StoreSection {
    /// A section for `url` without a password file.
    pub fn with_url(url: impl Into<String>) -> StoreSection {
        StoreSection {
            url: url.into(),
            password_file: None,
        }
    }

    /// Checks the section without touching the database or reading the password.
    pub fn check(&self) -> Result<(), StoreConfigError> {
        match self.backend()? {
            Backend::Sqlite(_) if self.password_file.is_some() => {
                Err(StoreConfigError::PasswordFileWithoutPostgres)
            }
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(url) => postgres_options(url).map(|_| ()),
        }
    }

    /// Whether the store is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.backend(), Ok(Backend::Postgres(_)))
    }

    /// Resolves the location under the instance directory `dir`, reading the password
    /// file if there is one.
    pub fn locate(&self, dir: &Path) -> Result<StoreLocation, StoreConfigError> {
        self.check()?;
        match self.backend()? {
            Backend::Sqlite(path) => Ok(StoreLocation::Sqlite(dir.join(path))),
            Backend::Postgres(url) => {
                let mut options = postgres_options(url)?;
                if let Some(file) = &self.password_file {
                    options = options.password(&read_password(&dir.join(file))?);
                }
                Ok(StoreLocation::Postgres(Box::new(options)))
            }
        }
    }

    fn backend(&self) -> Result<Backend<'_>, StoreConfigError> {
        if let Some(path) = self.url.strip_prefix("sqlite:") {
            // `sqlite://PATH` is accepted as well as `sqlite:PATH`.
            return Ok(Backend::Sqlite(Path::new(
                path.strip_prefix("//").unwrap_or(path),
            )));
        }
        if self.url.starts_with("postgres://") || self.url.starts_with("postgresql://") {
            return Ok(Backend::Postgres(&self.url));
        }
        let scheme = self.url.split(':').next().unwrap_or_default().to_owned();
        Err(StoreConfigError::UnknownScheme { scheme })
    }
}

enum Backend<'a> {
    Sqlite(&'a Path),
    Postgres(&'a str),
}

/// Parses a PostgreSQL URL, refusing one that holds a password.
fn postgres_options(url: &str) -> Result<sqlx::postgres::PgConnectOptions, StoreConfigError> {
    use std::str::FromStr;
    let authority = url
        .split_once("://")
        .map_or("", |(_, rest)| rest.split(['/', '?']).next().unwrap_or(""));
    if let Some((userinfo, _)) = authority.rsplit_once('@') {
        if userinfo.contains(':') {
            return Err(StoreConfigError::PasswordInUrl);
        }
    }
    if url.contains("password=") {
        return Err(StoreConfigError::PasswordInUrl);
    }
    sqlx::postgres::PgConnectOptions::from_str(url).map_err(StoreConfigError::BadUrl)
}

/// The first line of an owner-only file.
fn read_password(path: &Path) -> Result<String, StoreConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let failed = |source| StoreConfigError::PasswordFile {
        path: path.to_owned(),
        source,
    };
    let mode = std::fs::metadata(path)
        .map_err(failed)?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(StoreConfigError::PasswordFileMode {
            path: path.to_owned(),
            mode,
        });
    }
    let text = std::fs::read_to_string(path).map_err(failed)?;
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn the_default_is_shuin_db_in_the_instance_dir() {
        let location = StoreSection::default().locate(Path::new("/i")).unwrap();
        assert!(matches!(location, StoreLocation::Sqlite(p) if p == Path::new("/i/shuin.db")));
        let absolute = StoreSection::with_url("sqlite:/var/db/x.db")
            .locate(Path::new("/i"))
            .unwrap();
        assert!(matches!(absolute, StoreLocation::Sqlite(p) if p == Path::new("/var/db/x.db")));
    }

    #[test]
    fn a_password_in_the_url_is_refused() {
        for url in [
            "postgres://shuin:secret@db/shuin",
            "postgres://db/shuin?password=secret",
        ] {
            let error = StoreSection::with_url(url).check().unwrap_err();
            assert!(
                matches!(error, StoreConfigError::PasswordInUrl),
                "{url}: {error}"
            );
        }
        StoreSection::with_url("postgres://shuin@db:5432/shuin?sslmode=require")
            .check()
            .unwrap();
    }

    #[test]
    fn unknown_schemes_and_misplaced_password_files_are_refused() {
        let error = StoreSection::with_url("mysql://x").check().unwrap_err();
        assert!(matches!(error, StoreConfigError::UnknownScheme { .. }));
        let section = StoreSection {
            url: DEFAULT_URL.into(),
            password_file: Some("pw".into()),
        };
        assert!(matches!(
            section.check().unwrap_err(),
            StoreConfigError::PasswordFileWithoutPostgres
        ));
    }

    #[test]
    fn the_password_file_must_be_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let section = StoreSection {
            url: "postgres://shuin@db/shuin".into(),
            password_file: Some("pw".into()),
        };
        let error = section.locate(dir.path()).unwrap_err();
        assert!(matches!(
            error,
            StoreConfigError::PasswordFileMode { mode: 0o644, .. }
        ));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            section.locate(dir.path()).unwrap(),
            StoreLocation::Postgres(_)
        ));
    }
}
