//! Errors of the testkit.

use std::path::PathBuf;

/// Why a simulated CA, card or CRL could not be made or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestkitError {
    /// A card specification is unusable.
    #[error("invalid card specification: {0}")]
    InvalidSpec(String),
    /// Key generation, loading or signing failed.
    #[error("key: {0}")]
    Key(#[from] shuin_keys::KeyError),
    /// Encoding or decoding failed.
    #[error("DER: {0}")]
    Der(#[from] der::Error),
    /// The CMS signer failed.
    #[error("CMS: {0}")]
    Cms(#[from] shuin_client::cms_sign::CmsSignError),
    /// The random source failed.
    #[error("random: {0}")]
    Random(#[from] shuin_core::random::RandomError),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file's content is unusable.
    #[error("{}: {detail}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> TestkitError + '_ {
    move |source| TestkitError::Io {
        path: path.to_path_buf(),
        source,
    }
}
