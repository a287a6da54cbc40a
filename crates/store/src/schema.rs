//! The schema version both backends write into `schema_version` (see `schema.sql`). A
//! store refuses, before changing anything, a database that another version made.

use crate::StoreError;

/// The version of `sqlite/schema.sql` and `postgres/schema.sql`.
pub(crate) const VERSION: i64 = 1;

/// Reads the version of an existing database: `None` when it has no `schema_version`
/// table (a new database, or one made before the table existed, which is version 1).
pub(crate) const SELECT_VERSION: &str = "SELECT version FROM schema_version WHERE id = 0";

/// Refuses a database whose schema is not [`VERSION`].
pub(crate) fn check(found: Option<i64>) -> Result<(), StoreError> {
    match found {
        None => Ok(()),
        Some(found) if found == VERSION => Ok(()),
        Some(found) => Err(StoreError::SchemaVersion {
            found,
            expected: VERSION,
        }),
    }
}
