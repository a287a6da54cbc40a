//! The SQL of the stores, once for both backends: sqlx binds `$N` placeholders on SQLite
//! too. Each module holds a macro that implements store traits for a backend's store type
//! with the same query texts; per backend there remains only what truly differs:
//! connecting and the schema (`sqlite/mod.rs`, `postgres/mod.rs`), locking (the ledger's
//! transaction, `BEGIN IMMEDIATE` against `FOR UPDATE`/`FOR SHARE`), constraint names
//! (each backend's `unavailable`) and collation.

pub(crate) mod applicant;
pub(crate) mod certificates;
pub(crate) mod lifecycle;
pub(crate) mod revocations;
