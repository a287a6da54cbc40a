//! Signed checkpoints and leaf hashes on PostgreSQL ([`crate::checkpoint_queries`]).

use super::{unavailable, PostgresStore};
use sqlx::Row;

crate::checkpoint_queries::checkpoint_queries!(
    PostgresStore,
    sqlx::postgres::PgRow,
    pool,
    "$1",
    "$2",
    "$3"
);
