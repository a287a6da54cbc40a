//! Signed checkpoints and leaf hashes on SQLite ([`crate::sql::checkpoints`]).

use super::{unavailable, SqliteStore};
use sqlx::Row;

crate::sql::checkpoints::checkpoint_queries!(SqliteStore, sqlx::sqlite::SqliteRow);
