//! Errors of the key layer.

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The URI does not name a key this backend understands.
    #[error("unsupported key URI {uri:?}: {reason}")]
    UnsupportedUri {
        /// The URI.
        uri: String,
        /// Why.
        reason: String,
    },
    /// The key does not exist.
    #[error("key {uri:?} not found")]
    NotFound {
        /// The URI.
        uri: String,
    },
    /// The key material is unusable.
    #[error("key {uri:?} is unusable: {reason}")]
    Rejected {
        /// The URI.
        uri: String,
        /// Why.
        reason: String,
    },
    /// Storage trouble reading or writing a key.
    #[error("key storage: {0}")]
    Io(#[from] std::io::Error),
    /// The signing operation failed (retryable: the device may be busy or absent).
    #[error("signing failed")]
    SigningFailed,
    /// Key generation failed.
    #[error("key generation failed")]
    GenerationFailed,
}
