//! Signing keys behind a small synchronous trait (modelled on rustls `SigningKey` and
//! rcgen `SigningKey`), and the backends that hold them.
//!
//! Keys are named by URI: `soft:PATH` for the software backend (development and tests
//! only; every status output says so), `pkcs11:token=...;object=...` (RFC 7512) for HSMs,
//! `awskms:KEY` for AWS KMS (feature `awskms`).

pub mod activation;
mod attributes;
#[cfg(feature = "awskms")]
pub mod awskms;
pub mod config;
pub mod conformance;
mod counted;
mod error;
mod facts;
pub mod fips;
mod key_ref;
pub mod personal;
#[cfg(feature = "tls")]
pub mod personal_tls;
#[cfg(feature = "pkcs11")]
mod pkcs11;
mod pkcs11_uri;
pub mod pool_size;
pub mod share_files;
#[cfg(feature = "pkcs11")]
pub mod softhsm;
mod software;
pub mod validation;

pub use attributes::{check_issuer_key_policy, KeyAttributeEvidence, KeyAttributes, TokenFacts};
pub use error::KeyError;
pub use facts::{check_kms_key_policy, KeyFacts, KeyFactsReader, KmsKeyFacts};
pub use key_ref::KeyRef;
#[cfg(feature = "pkcs11")]
pub use pkcs11::{Pkcs11Backend, Pkcs11Signer};
pub use pkcs11_uri::Pkcs11Uri;
pub use pool_size::PoolSize;
pub use software::{pkcs8_pem, write_private_file, SoftwareBackend, SoftwareSigner};

use shuin_core::SignatureAlgorithm;
use std::sync::Arc;

/// A key that can sign. `sign` takes the whole message, not a digest.
pub trait Signer: Send + Sync + std::fmt::Debug {
    /// The signature algorithm this key produces.
    fn algorithm(&self) -> SignatureAlgorithm;
    /// DER SubjectPublicKeyInfo of the key.
    fn public_key_der(&self) -> &[u8];
    /// Signs `message`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;
}

/// Key types a backend can generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySpec {
    /// RSA 2048 bits, PKCS#1 v1.5 with SHA-256.
    Rsa2048,
    /// RSA 3072 bits.
    Rsa3072,
    /// RSA 4096 bits.
    Rsa4096,
    /// ECDSA P-256 with SHA-256.
    EcP256,
    /// ECDSA P-384 with SHA-384.
    EcP384,
}

impl KeySpec {
    /// Parses `rsa2048`, `rsa3072`, `rsa4096`, `p256`, `p384`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "rsa2048" => Some(KeySpec::Rsa2048),
            "rsa3072" => Some(KeySpec::Rsa3072),
            "rsa4096" => Some(KeySpec::Rsa4096),
            "p256" => Some(KeySpec::EcP256),
            "p384" => Some(KeySpec::EcP384),
            _ => None,
        }
    }
}

/// Facts about a backend for status output and evidence.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackendInfo {
    /// `software` or `pkcs11`.
    pub kind: String,
    /// Whether the backend is fit for production issuer keys.
    pub production_grade: bool,
    /// A human-readable note.
    pub note: String,
}

/// Where keys live.
pub trait KeyBackend: Send + Sync + std::fmt::Debug {
    /// A signer for an existing key.
    fn signer(&self, key: &KeyRef) -> Result<Arc<dyn Signer>, KeyError>;
    /// What this backend is.
    fn info(&self) -> BackendInfo;
    /// The figures of its signing pool, where it keeps one (PKCS#11).
    fn signing_pool(&self) -> Option<shuin_core::signing_pool::SigningPoolSnapshot> {
        None
    }
}

/// A backend that can create keys.
pub trait KeyGenerator: KeyBackend {
    /// Generates a key named `label` and returns its URI.
    fn generate(&self, label: &str, spec: KeySpec) -> Result<KeyRef, KeyError>;
}
