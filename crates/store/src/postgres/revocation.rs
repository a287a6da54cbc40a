//! Revocations and CRLs on PostgreSQL ([`crate::sql::revocations`]): `revoke` locks the
//! certificate row `FOR SHARE`. Serials sort bytewise: the column is `COLLATE "C"`
//! (schema.sql), as in SQLite.

use super::{unavailable, PostgresStore};
use sqlx::Row;

crate::sql::revocations::revocation_queries!(
    PostgresStore,
    sqlx::postgres::PgRow,
    begin: "BEGIN",
    lock_issued: " FOR SHARE"
);
