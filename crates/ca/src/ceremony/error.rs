//! Why a ceremony operation did not go through. The texts are what `shuin ceremony`
//! prints, and what refusals record in the facility book.

use shuin_store::StoreError;
use std::fmt::Display;

/// A boxed source error from outside this crate (an encoder, a parser, the caller).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a ceremony operation (file check, statement, approval, enrolment, run,
/// verification, anchoring) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CeremonyError {
    /// The ceremony file, a statement or an approval breaks a rule (bad input).
    #[error("{0}")]
    Invalid(String),
    /// The ceremony file at `path` is unusable.
    #[error("ceremony file {path}: {source}")]
    File {
        /// The file, as displayed.
        path: String,
        /// What is wrong with it.
        #[source]
        source: Box<CeremonyError>,
    },
    /// Something is wrong at one step (of a ceremony file, or of a record).
    #[error("step {number}: {source}")]
    Step {
        /// The 1-based step number.
        number: u32,
        /// What is wrong there.
        #[source]
        source: Box<CeremonyError>,
    },
    /// One approval of a set is bad; the whole set is refused.
    #[error("approval {number} ({custodian:?}): {reason}")]
    Approval {
        /// The 1-based position of the approval in the set.
        number: usize,
        /// The custodian it names.
        custodian: String,
        /// Why it is refused.
        reason: String,
    },
    /// Fewer valid approvals than the threshold.
    #[error("ceremony {ceremony_id} needs {threshold} custodian approvals and has {valid} valid")]
    BelowThreshold {
        /// The ceremony.
        ceremony_id: String,
        /// M.
        threshold: u8,
        /// How many distinct custodians approved validly.
        valid: usize,
    },
    /// A custodian or a custodian's key cannot be enrolled, or used for this ceremony.
    #[error("{0}")]
    Custodian(String),
    /// The ceremony was refused before anything was generated or signed (ledgered as
    /// `ceremony.refused`).
    #[error("ceremony refused: {reason}")]
    Refused {
        /// Why, as ledgered.
        reason: String,
    },
    /// The ceremony failed after it started (ledgered as `ceremony.failed`).
    #[error("ceremony {ceremony_id} failed: {source}")]
    Failed {
        /// The ceremony.
        ceremony_id: String,
        /// What failed.
        #[source]
        source: Box<CeremonyError>,
    },
    /// A ceremony record does not verify.
    #[error("{0}")]
    Record(String),
    /// A ceremony record is not anchored in a ledger export.
    #[error("{0}")]
    Anchor(String),
    /// The ledger export given to anchor a record does not verify.
    #[error("the ledger export does not verify: {0}")]
    LedgerExport(#[source] shuin_ledger::ExportError),
    /// Reading or writing a setting failed.
    #[error("storage: {0}")]
    Storage(#[source] StoreError),
    /// Appending to the ledger failed: what it was to record was not done.
    #[error("ledger: {0}")]
    Ledger(#[source] StoreError),
    /// The caller's role lookup failed (the organisation book).
    #[error("{0}")]
    Roles(#[source] BoxError),
    /// The caller could not open the instance's key backend.
    #[error("{0}")]
    Backend(#[source] BoxError),
    /// An underlying operation failed: reading a file, a key operation, encoding or
    /// decoding.
    #[error("{what}: {source}")]
    Context {
        /// What was being done.
        what: String,
        /// The error it gave.
        #[source]
        source: BoxError,
    },
    /// A check that cannot fail did.
    #[error("internal: {0}")]
    Internal(String),
}

/// The ceremony result.
pub type Result<T, E = CeremonyError> = std::result::Result<T, E>;

/// Adds what was being done to an error, keeping it as the source.
pub(crate) trait Context<T> {
    fn context(self, what: impl Display) -> Result<T>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl Display) -> Result<T> {
        self.map_err(|e| CeremonyError::Context {
            what: what.to_string(),
            source: Box::new(e),
        })
    }
}

pub(crate) fn invalid(text: impl Into<String>) -> CeremonyError {
    CeremonyError::Invalid(text.into())
}

pub(crate) fn not_verified(text: impl Into<String>) -> CeremonyError {
    CeremonyError::Record(text.into())
}

pub(crate) fn unanchored(text: impl Into<String>) -> CeremonyError {
    CeremonyError::Anchor(text.into())
}

pub(crate) fn custodian_error(text: impl Into<String>) -> CeremonyError {
    CeremonyError::Custodian(text.into())
}

/// Wraps `error` as found at step `number`.
pub(crate) fn at_step(number: u32, error: CeremonyError) -> CeremonyError {
    CeremonyError::Step {
        number,
        source: Box::new(error),
    }
}
