//! Signed checkpoints and leaf hashes on SQLite ([`crate::checkpoint_queries`]).

use super::{unavailable, SqliteStore};
use sqlx::Row;

crate::checkpoint_queries::checkpoint_queries!(
    SqliteStore,
    sqlx::sqlite::SqliteRow,
    reads,
    "?1",
    "?2",
    "?3"
);
