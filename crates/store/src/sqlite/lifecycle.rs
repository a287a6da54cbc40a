//! Registrations, the notice outbox and certificate flags on SQLite ([`crate::sql::lifecycle`]).

use super::{unavailable, SqliteStore};
use sqlx::Row;

crate::sql::lifecycle::lifecycle_queries!(SqliteStore, sqlx::sqlite::SqliteRow);
