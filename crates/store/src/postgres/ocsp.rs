//! Pre-signed OCSP answers on PostgreSQL ([`crate::sql::ocsp`]): writers take the
//! advisory lock [`super::OCSP_LOCK`] first in their transaction, so they are serialised
//! (across processes too) and each reads the largest number after the previous commit.

use super::{unavailable, PostgresStore, OCSP_LOCK};
use sqlx::Row;

crate::sql::ocsp::ocsp_queries!(
    PostgresStore,
    sqlx::postgres::PgRow,
    begin: "BEGIN",
    advisory_lock: OCSP_LOCK
);
