//! Registrations, the notice outbox and certificate flags on PostgreSQL
//! ([`crate::sql::lifecycle`]).

use super::{unavailable, PostgresStore};
use sqlx::Row;

crate::sql::lifecycle::lifecycle_queries!(PostgresStore, sqlx::postgres::PgRow);
