//! The SQL of the stores, once for both backends: sqlx binds `$N` placeholders on SQLite
//! too. Each module holds a macro that implements store traits for a backend's store type
//! with the same query texts; per backend there remains only what truly differs:
//! connecting and the schema (`sqlite/mod.rs`, `postgres/mod.rs`), locking (the ledger's
//! transaction, `BEGIN IMMEDIATE` against `FOR UPDATE`/`FOR SHARE` or an advisory lock), constraint names
//! (each backend's `unavailable`) and collation (in each `schema.sql`). Evidence
//! retention's queries sit with their rules in [`crate::retention`].

pub(crate) mod applicant;
pub(crate) mod certificates;
pub(crate) mod checkpoints;
pub(crate) mod ledger;
pub(crate) mod lifecycle;
pub(crate) mod ocsp;
pub(crate) mod orders;
pub(crate) mod revocations;
