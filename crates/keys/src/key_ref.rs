//! Key names as URIs.

use crate::KeyError;
use std::fmt;

/// A key's name: `soft:PATH` or `pkcs11:...` (RFC 7512).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyRef(String);

impl KeyRef {
    /// Parses and checks the scheme.
    pub fn parse(uri: &str) -> Result<Self, KeyError> {
        if uri.starts_with("soft:") && uri.len() > 5 {
            return Ok(Self(uri.to_owned()));
        }
        if uri.starts_with("pkcs11:") {
            crate::Pkcs11Uri::parse(uri)?;
            return Ok(Self(uri.to_owned()));
        }
        Err(KeyError::UnsupportedUri {
            uri: uri.to_owned(),
            reason: "expected soft:PATH or pkcs11:...".into(),
        })
    }

    /// A software key at `path`.
    pub fn software(path: &str) -> Self {
        Self(format!("soft:{path}"))
    }

    /// A PKCS#11 key (canonical RFC 7512 text).
    pub fn pkcs11(uri: &crate::Pkcs11Uri) -> Self {
        Self(uri.to_uri())
    }

    /// The URI text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path of a `soft:` URI.
    pub fn software_path(&self) -> Option<&str> {
        self.0.strip_prefix("soft:")
    }
}

impl fmt::Debug for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyRef({})", self.0)
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
