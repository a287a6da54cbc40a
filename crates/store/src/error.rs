//! Storage errors.

/// What kind of uniqueness a write violated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConflictKind {
    /// The serial is taken.
    Serial,
    /// The public key is already reserved or certified.
    Key,
    /// The nonce exists.
    Nonce,
    /// The certificate is already revoked.
    Revoked,
    /// Another unique value.
    Other,
}

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A UNIQUE constraint refused the write.
    #[error("conflict: {0:?}")]
    Conflict(ConflictKind),
    /// The row to update does not exist.
    #[error("not found")]
    NotFound,
    /// The database is unreachable or failed (retryable).
    #[error("storage unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Stored data does not decode.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database was made by another version of shuin (its schema version differs).
    #[error(
        "the database has schema version {found}; this shuin uses version {expected} \
         (upgrade or downgrade shuin to match, or restore a backup)"
    )]
    SchemaVersion {
        /// The version in the database.
        found: i64,
        /// The version this build uses.
        expected: i64,
    },
}
