//! Pre-signed OCSP answers on SQLite ([`crate::sql::ocsp`]): writers start with `BEGIN
//! IMMEDIATE`, taking the write lock before reading the largest number, so they are
//! serialised (across processes too) and no read snapshot is ever upgraded.

use super::{unavailable, SqliteStore};
use sqlx::Row;

crate::sql::ocsp::ocsp_queries!(SqliteStore, sqlx::sqlite::SqliteRow, begin: "BEGIN IMMEDIATE");
