//! Client errors, with the server's reason code when there is one.

/// Why an application could not be completed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server refused with a problem document.
    #[error("the server refused the request: {code} (HTTP {status}): {detail}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The stable reason code.
        code: String,
        /// The server's explanation.
        detail: String,
    },
    /// The server could not be reached or answered nonsense.
    #[error("talking to the server failed: {0}")]
    Transport(String),
    /// The terms the server published do not match the hash in the challenge.
    #[error("the terms at {url} do not match the challenge's terms_sha256; refusing to consent")]
    TermsChanged {
        /// Where the terms were fetched.
        url: String,
    },
    /// Local key or card trouble.
    #[error("key or card: {0}")]
    Key(String),
    /// Building the CSR or CMS failed.
    #[error("encoding: {0}")]
    Encoding(String),
    /// A file for the applicant's results could not be written, or would overwrite a
    /// private key.
    #[error("{0}")]
    File(String),
}
