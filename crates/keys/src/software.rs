//! The software backend (aws-lc-rs): PKCS#8 files on disk, for development and tests.
//! It is never production-grade, and says so.

use crate::counted::CountedSigner;
use crate::{BackendInfo, KeyBackend, KeyError, KeyGenerator, KeyRef, KeySpec, Signer};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING,
    ECDSA_P384_SHA384_ASN1_SIGNING, RSA_PKCS1_SHA256,
};
use shuin_core::signing_pool::{SigningPoolFigures, SigningPoolSnapshot};
use shuin_core::SignatureAlgorithm;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

enum Inner {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// A software key. Not `Clone`; `Debug` shows only the algorithm.
pub struct SoftwareSigner {
    inner: Inner,
    algorithm: SignatureAlgorithm,
    spki_der: Vec<u8>,
}

impl fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SoftwareSigner({})", self.algorithm.name())
    }
}

impl SoftwareSigner {
    /// Loads an unencrypted PKCS#8 v1 key (RSA, or EC P-256/P-384).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let rejected = |reason: &str| KeyError::Rejected {
            uri: "(pkcs8)".into(),
            reason: reason.into(),
        };
        if let Ok(key) = RsaKeyPair::from_pkcs8(der) {
            let spki_der = key
                .public_key()
                .as_der()
                .map_err(|_| rejected("cannot encode the RSA public key"))?
                .as_ref()
                .to_vec();
            return Ok(Self {
                inner: Inner::Rsa(key),
                algorithm: SignatureAlgorithm::RsaPkcs1Sha256,
                spki_der,
            });
        }
        for (signing, algorithm) in [
            (
                &ECDSA_P256_SHA256_ASN1_SIGNING,
                SignatureAlgorithm::EcdsaP256Sha256,
            ),
            (
                &ECDSA_P384_SHA384_ASN1_SIGNING,
                SignatureAlgorithm::EcdsaP384Sha384,
            ),
        ] {
            if let Ok(key) = EcdsaKeyPair::from_pkcs8(signing, der) {
                let spki_der = key
                    .public_key()
                    .as_der()
                    .map_err(|_| rejected("cannot encode the EC public key"))?
                    .as_ref()
                    .to_vec();
                return Ok(Self {
                    inner: Inner::Ec(key),
                    algorithm,
                    spki_der,
                });
            }
        }
        Err(rejected("not an RSA or EC P-256/P-384 PKCS#8 key"))
    }

    /// Loads a PEM `PRIVATE KEY`.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        let (label, der) =
            der::pem::decode_vec(pem.as_bytes()).map_err(|_| KeyError::Rejected {
                uri: "(pem)".into(),
                reason: "not PEM".into(),
            })?;
        let der = Zeroizing::new(der);
        if label != "PRIVATE KEY" {
            return Err(KeyError::Rejected {
                uri: "(pem)".into(),
                reason: format!("expected a PKCS#8 \"PRIVATE KEY\", found {label:?}"),
            });
        }
        Self::from_pkcs8_der(&der)
    }

    /// Generates a key; returns it with its PKCS#8 DER (zeroized on drop).
    pub fn generate(spec: KeySpec) -> Result<(Self, Zeroizing<Vec<u8>>), KeyError> {
        let der: Zeroizing<Vec<u8>> = match spec {
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                let size = match spec {
                    KeySpec::Rsa3072 => KeySize::Rsa3072,
                    KeySpec::Rsa4096 => KeySize::Rsa4096,
                    _ => KeySize::Rsa2048,
                };
                let key = RsaKeyPair::generate(size).map_err(|_| KeyError::GenerationFailed)?;
                let pkcs8: Pkcs8V1Der<'static> =
                    key.as_der().map_err(|_| KeyError::GenerationFailed)?;
                Zeroizing::new(pkcs8.as_ref().to_vec())
            }
            KeySpec::EcP256 | KeySpec::EcP384 => {
                let signing = if spec == KeySpec::EcP256 {
                    &ECDSA_P256_SHA256_ASN1_SIGNING
                } else {
                    &ECDSA_P384_SHA384_ASN1_SIGNING
                };
                let key =
                    EcdsaKeyPair::generate(signing).map_err(|_| KeyError::GenerationFailed)?;
                let doc = key.to_pkcs8v1().map_err(|_| KeyError::GenerationFailed)?;
                Zeroizing::new(doc.as_ref().to_vec())
            }
        };
        let signer = Self::from_pkcs8_der(&der)?;
        Ok((signer, der))
    }
}

impl Signer for SoftwareSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn public_key_der(&self) -> &[u8] {
        &self.spki_der
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match &self.inner {
            Inner::Rsa(key) => {
                let mut signature = vec![0u8; key.public_modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(|_| KeyError::SigningFailed)?;
                Ok(signature)
            }
            Inner::Ec(key) => key
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::SigningFailed),
        }
    }
}

/// PEM text of a PKCS#8 key.
pub fn pkcs8_pem(der_bytes: &[u8]) -> Result<Zeroizing<String>, KeyError> {
    der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, der_bytes)
        .map(Zeroizing::new)
        .map_err(|_| KeyError::GenerationFailed)
}

/// Writes a file readable only by its owner.
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}

/// Keys as PKCS#8 PEM files under one directory. `soft:` paths are relative to it.
/// Signatures made with its signers are counted (`/metrics`, like a PKCS#11 pool's).
#[derive(Debug, Clone)]
pub struct SoftwareBackend {
    dir: PathBuf,
    figures: Arc<SigningPoolFigures>,
}

impl SoftwareBackend {
    /// A backend rooted at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            figures: Arc::default(),
        }
    }

    fn path_of(&self, key: &KeyRef) -> Result<PathBuf, KeyError> {
        let relative = key
            .software_path()
            .ok_or_else(|| KeyError::UnsupportedUri {
                uri: key.to_string(),
                reason: "the software backend takes soft: URIs".into(),
            })?;
        if relative.contains("..") || relative.starts_with('/') {
            return Err(KeyError::UnsupportedUri {
                uri: key.to_string(),
                reason: "soft: paths are relative to the key directory".into(),
            });
        }
        Ok(self.dir.join(relative))
    }
}

impl KeyBackend for SoftwareBackend {
    fn signer(&self, key: &KeyRef) -> Result<Arc<dyn Signer>, KeyError> {
        let path = self.path_of(key)?;
        let pem = Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => KeyError::NotFound {
                uri: key.to_string(),
            },
            _ => KeyError::Io(e),
        })?);
        let signer = SoftwareSigner::from_pkcs8_pem(&pem).map_err(|e| KeyError::Rejected {
            uri: key.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Arc::new(CountedSigner {
            inner: Arc::new(signer),
            figures: self.figures.clone(),
        }))
    }

    fn signing_pool(&self) -> Option<SigningPoolSnapshot> {
        Some(self.figures.snapshot("software", "keys"))
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: "software".into(),
            production_grade: false,
            note: "software keys on disk: for development and tests only, not an HSM".into(),
        }
    }
}

impl KeyGenerator for SoftwareBackend {
    fn generate(&self, label: &str, spec: KeySpec) -> Result<KeyRef, KeyError> {
        if label.is_empty()
            || !label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(KeyError::UnsupportedUri {
                uri: label.into(),
                reason: "labels are ASCII letters, digits, - and _".into(),
            });
        }
        std::fs::create_dir_all(&self.dir)?;
        let (_, der) = SoftwareSigner::generate(spec)?;
        let pem = pkcs8_pem(&der)?;
        let name = format!("{label}.key.pem");
        match write_private_file(&self.dir.join(&name), pem.as_bytes()) {
            Err(KeyError::Io(e)) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(KeyError::AlreadyExists {
                    label: label.into(),
                    location: self.dir.display().to_string(),
                })
            }
            other => other,
        }?;
        Ok(KeyRef::software(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_sign_verifiably() {
        for spec in [KeySpec::Rsa2048, KeySpec::EcP256, KeySpec::EcP384] {
            let (signer, _) = SoftwareSigner::generate(spec).unwrap_or_else(|e| panic!("{e}"));
            let signature = signer.sign(b"hello").unwrap_or_else(|e| panic!("{e}"));
            let oid = signer.algorithm().algorithm_identifier().oid;
            assert!(shuin_core::signature::verify(
                signer.public_key_der(),
                oid,
                b"hello",
                &signature
            )
            .is_ok());
            assert!(shuin_core::signature::verify(
                signer.public_key_der(),
                oid,
                b"hellO",
                &signature
            )
            .is_err());
        }
    }

    #[test]
    fn backend_round_trip_and_refuses_escapes() {
        let dir = std::env::temp_dir().join(format!("shuin-keys-{}", std::process::id()));
        let backend = SoftwareBackend::new(&dir);
        let key = backend
            .generate("issuer", KeySpec::EcP256)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(backend.signer(&key).is_ok());
        assert!(backend.signer(&KeyRef::software("../etc/passwd")).is_err());
        assert!(
            backend.generate("issuer", KeySpec::EcP256).is_err(),
            "never overwrite a key"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
