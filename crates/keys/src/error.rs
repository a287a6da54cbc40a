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
    /// No token carries the configured label.
    #[error("no PKCS#11 token labelled {label:?} in {module} (tokens present: {present})")]
    TokenNotFound {
        /// The label asked for.
        label: String,
        /// The PKCS#11 module.
        module: String,
        /// The labels that are there.
        present: String,
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
    /// Every session of the backend is busy and the signing queue is full (retryable).
    #[error("every session of the key backend is busy and {waiting} signatures wait already (the signing queue is full); try again later")]
    Busy {
        /// Signatures waiting for a session when this one was refused.
        waiting: u64,
    },
    /// Key generation failed.
    #[error("key generation failed")]
    GenerationFailed,
    /// A key with this label exists already; keys are never overwritten.
    #[error("a key labelled {label:?} already exists in {location}; refusing to create another")]
    AlreadyExists {
        /// The label asked for.
        label: String,
        /// Where (a directory, or a token).
        location: String,
    },
    /// The PKCS#11 library or device failed (possibly retryable: the device may be busy,
    /// absent or logged out).
    #[error("PKCS#11 {operation}: {source}")]
    Device {
        /// What was being done.
        operation: String,
        /// The library's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A key service over the network (AWS KMS) failed; `retryable` when it was
    /// throttled, timed out or could not be reached.
    #[error("{service} {operation}: {detail}")]
    Service {
        /// The service, e.g. `AWS KMS`.
        service: &'static str,
        /// What was being done, e.g. `Sign`.
        operation: &'static str,
        /// The service's error code and message (never credentials).
        detail: String,
        /// Whether trying again later may succeed.
        retryable: bool,
    },
    /// A signature from the backend does not verify under the key's public key: it is
    /// refused, never used.
    #[error("the signature made with {uri} does not verify under its public key; it was not used")]
    BadSignature {
        /// The key.
        uri: String,
    },
    /// The key's attributes break the issuer key policy (DESIGN.md section 7).
    #[error(
        "key {uri} fails the issuer key policy: {attribute} is {found}, it must be {required}"
    )]
    PolicyViolation {
        /// The key.
        uri: String,
        /// The failing attribute, e.g. `CKA_EXTRACTABLE`.
        attribute: &'static str,
        /// What the token reported (`true`, `false` or `not reported`).
        found: String,
        /// What the policy requires.
        required: &'static str,
    },
}
