//! Key names as URIs.

use crate::KeyError;
use std::fmt;

/// A key's name: `soft:PATH`, `pkcs11:...` (RFC 7512) or `awskms:KEY`.
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
        if let Some(key_id) = uri.strip_prefix("awskms:") {
            if !key_id.is_empty() && key_id.chars().all(|c| c.is_ascii_graphic()) {
                return Ok(Self(uri.to_owned()));
            }
        }
        Err(KeyError::UnsupportedUri {
            uri: uri.to_owned(),
            reason: "expected soft:PATH, pkcs11:... or awskms:KEY (a key ARN, id or alias)".into(),
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

    /// An AWS KMS key (its ARN, id, or `alias/NAME`).
    pub fn aws_kms(key_id: &str) -> Self {
        Self(format!("awskms:{key_id}"))
    }

    /// The key id of an `awskms:` URI.
    pub fn aws_kms_key_id(&self) -> Option<&str> {
        self.0.strip_prefix("awskms:")
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
