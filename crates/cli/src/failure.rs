//! The binary's error: one clear line for stderr, exit status non-zero.

/// The binary's error: a message, printed as one line.
#[derive(Debug)]
pub(crate) struct Error(pub(crate) String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The binary's result.
pub(crate) type Result<T> = std::result::Result<T, Error>;

/// An error from a message.
pub(crate) fn msg(text: impl Into<String>) -> Error {
    Error(text.into())
}

/// Adds context to any displayable error.
pub(crate) trait Context<T> {
    fn context(self, what: impl std::fmt::Display) -> Result<T>;
}

impl<T, E: std::fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl std::fmt::Display) -> Result<T> {
        self.map_err(|e| Error(format!("{what}: {e}")))
    }
}

/// Any library error becomes its one line, so `?` reports it as it reads (the binary's
/// error is not itself a `std::error::Error`, which keeps this conversion coherent).
impl<E: std::error::Error> From<E> for Error {
    fn from(error: E) -> Self {
        Error(error.to_string())
    }
}
