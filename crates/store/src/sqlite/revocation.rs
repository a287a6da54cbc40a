//! Revocations and CRLs on SQLite ([`crate::sql::revocations`]): `revoke` runs in a
//! `BEGIN IMMEDIATE` transaction (the write lock at once, so the certificate cannot
//! change between the check and the insert).

use super::{unavailable, SqliteStore};
use sqlx::Row;

crate::sql::revocations::revocation_queries!(
    SqliteStore,
    sqlx::sqlite::SqliteRow,
    begin: "BEGIN IMMEDIATE",
    lock_issued: ""
);
