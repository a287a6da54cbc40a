//! A person's own key (an operator's or a key custodian's), as opposed to the issuer
//! keys of `config`: a key on their PKCS#11 token, or, for development and tests only,
//! a PKCS#8 PEM key file.

use crate::{KeyError, Signer, SoftwareSigner};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Why a personal key could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersonalKeyError {
    /// The key file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The key file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The key file holds no usable PKCS#8 key.
    #[error("{}: {source}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<KeyError>,
    },
    /// A new key could not be generated.
    #[error("generating: {0}")]
    Generate(#[source] Box<KeyError>),
    /// A new key could not be PEM-encoded.
    #[error("PEM: {0}")]
    Pem(#[source] Box<KeyError>),
    /// A new key file could not be written.
    #[error("{}: {source}", path.display())]
    Write {
        /// The key file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<KeyError>,
    },
    /// The token could not be opened.
    #[error("opening PKCS#11 token {token:?} with {}: {source}", module.display())]
    Token {
        /// The token label.
        token: String,
        /// The PKCS#11 library.
        module: PathBuf,
        /// Why.
        #[source]
        source: Box<KeyError>,
    },
    /// The key is not on the token, or is unusable.
    #[error("the {holder} key {uri}: {source}")]
    Signer {
        /// Whose key it is (`operator`, `custodian`).
        holder: String,
        /// The key's `pkcs11:` URI.
        uri: String,
        /// Why.
        #[source]
        source: Box<KeyError>,
    },
}

/// Makes a `spec` key in a PKCS#8 PEM file at `path`, owner-only (0600): development
/// and tests only; production keys are generated on the person's token.
pub fn generate_file(path: &Path, spec: crate::KeySpec) -> Result<(), PersonalKeyError> {
    let (_, pkcs8) =
        SoftwareSigner::generate(spec).map_err(|e| PersonalKeyError::Generate(Box::new(e)))?;
    let pem = crate::pkcs8_pem(&pkcs8).map_err(|e| PersonalKeyError::Pem(Box::new(e)))?;
    crate::write_private_file(path, pem.as_bytes()).map_err(|e| PersonalKeyError::Write {
        path: path.to_owned(),
        source: Box::new(e),
    })
}

/// Opens the PKCS#8 PEM key file at `path` (development and tests only).
pub fn open_file(path: &Path) -> Result<Arc<dyn Signer>, PersonalKeyError> {
    let pem =
        Zeroizing::new(
            std::fs::read_to_string(path).map_err(|source| PersonalKeyError::Read {
                path: path.to_owned(),
                source,
            })?,
        );
    let signer = SoftwareSigner::from_pkcs8_pem(&pem).map_err(|e| PersonalKeyError::Key {
        path: path.to_owned(),
        source: Box::new(e),
    })?;
    Ok(Arc::new(signer))
}

/// Opens the key `uri` on its token through the PKCS#11 library `module`, logging in
/// with `pin`. `holder` says whose key it is in the error (`operator`, `custodian`).
#[cfg(feature = "pkcs11")]
pub fn open_pkcs11(
    module: &Path,
    uri: &crate::Pkcs11Uri,
    pin: Zeroizing<String>,
    holder: &str,
) -> Result<Arc<dyn Signer>, PersonalKeyError> {
    use crate::KeyBackend;
    let backend = crate::Pkcs11Backend::open(module, &uri.token, pin).map_err(|e| {
        PersonalKeyError::Token {
            token: uri.token.clone(),
            module: module.to_owned(),
            source: Box::new(e),
        }
    })?;
    backend
        .signer(&uri.to_key_ref())
        .map_err(|e| PersonalKeyError::Signer {
            holder: holder.to_owned(),
            uri: uri.to_uri(),
            source: Box::new(e),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeySpec;

    #[test]
    fn a_key_file_opens_and_errors_name_the_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("me.key");
        generate_file(&path, KeySpec::EcP256).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let opened = open_file(&path).unwrap();
        assert_eq!(opened.public_key_der().len(), 91);
        let error = generate_file(&dir.path().join("no/such/dir"), KeySpec::EcP256);
        assert!(matches!(error, Err(PersonalKeyError::Write { .. })));

        let missing = dir.path().join("missing.key");
        let error = open_file(&missing).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{}: ", missing.display())),
            "{error}"
        );

        std::fs::write(&path, "not a key").unwrap();
        let error = open_file(&path).unwrap_err();
        assert!(matches!(error, PersonalKeyError::Key { .. }), "{error:?}");
        assert!(error
            .to_string()
            .starts_with(&format!("{}: ", path.display())));
    }
}
