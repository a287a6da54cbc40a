//! RA errors: a reason-coded rejection, or trouble behind the RA.

use shuin_core::reason::Rejection;
use shuin_core::ReasonCode;

/// Why the RA did not answer with an outcome.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RaError {
    /// The request was refused with a stable code.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// Storage, ledger or CA trouble (retryable); nothing was made visible.
    #[error("service unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl RaError {
    /// Shorthand for a rejection.
    pub fn reject(code: ReasonCode, detail: impl Into<String>) -> Self {
        RaError::Rejected(Rejection::new(code, detail))
    }

    /// The reason code an edge should report.
    pub fn code(&self) -> ReasonCode {
        match self {
            RaError::Rejected(r) => r.code,
            RaError::Unavailable(_) => ReasonCode::ServiceUnavailable,
        }
    }
}

impl From<shuin_store::StoreError> for RaError {
    fn from(e: shuin_store::StoreError) -> Self {
        RaError::Unavailable(Box::new(e))
    }
}
