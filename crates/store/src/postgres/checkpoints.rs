//! Signed checkpoints and leaf hashes on PostgreSQL ([`crate::sql::checkpoints`]).

use super::{unavailable, PostgresStore};
use sqlx::Row;

crate::sql::checkpoints::checkpoint_queries!(PostgresStore, sqlx::postgres::PgRow);
