//! Where the applicant's JPKI signing key comes from: a card over PKCS#11 (OpenSC for a
//! real My Number card), its signing PIN read from a file, or a card held as files
//! (development and tests).

use crate::apply::{CardSigner, FileCard};
use crate::error::ClientError;
use std::path::PathBuf;

/// The applicant's card, before it is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardSource {
    /// A card held as files: a PKCS#8 PEM key and its certificate (PEM or DER).
    Files {
        /// The signing key.
        key: PathBuf,
        /// The signing certificate.
        cert: PathBuf,
    },
    /// A JPKI card through a PKCS#11 module; the signing PIN comes from `pin_file`
    /// (mode 0600).
    #[cfg(feature = "pkcs11")]
    Pkcs11 {
        /// The PKCS#11 library.
        module: PathBuf,
        /// The card's token label.
        token: String,
        /// The file holding the signing PIN.
        pin_file: PathBuf,
    },
}

impl CardSource {
    /// Opens the card for signing.
    pub fn open(self) -> Result<Box<dyn CardSigner>, ClientError> {
        match self {
            CardSource::Files { key, cert } => Ok(Box::new(FileCard::load(&cert, &key)?)),
            #[cfg(feature = "pkcs11")]
            CardSource::Pkcs11 {
                module,
                token,
                pin_file,
            } => {
                let pin = shuin_keys::config::read_pin_file(&pin_file)
                    .map_err(|e| ClientError::Key(e.to_string()))?;
                Ok(Box::new(crate::Pkcs11Card::open(&module, &token, pin)?))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_card_file_is_named() {
        let source = CardSource::Files {
            key: PathBuf::from("/nonexistent/key.pem"),
            cert: PathBuf::from("/nonexistent/cert.pem"),
        };
        let error = source
            .open()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("/nonexistent/cert.pem"), "{error}");
    }

    #[cfg(feature = "pkcs11")]
    #[test]
    fn a_missing_pin_file_stops_before_the_module_loads() {
        let source = CardSource::Pkcs11 {
            module: PathBuf::from("/nonexistent/module.so"),
            token: "JPKI".into(),
            pin_file: PathBuf::from("/nonexistent/pin"),
        };
        let error = source
            .open()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("/nonexistent/pin"), "{error}");
    }
}
