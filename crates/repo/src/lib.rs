//! The repository (リポジトリ設備): the public content a signature verifier fetches.
//! CRLs, OCSP and the publishers (filesystem, S3, LDAP) arrive with the revocation work.

use sha2::{Digest, Sha256};

/// What the repository publishes.
#[derive(Debug, Clone)]
pub struct Repository {
    root_der: Vec<u8>,
    ca_der: Vec<u8>,
    terms: String,
    terms_sha256: String,
}

impl Repository {
    /// Publishes the given CA certificates and terms (重要事項).
    pub fn new(root_der: Vec<u8>, ca_der: Vec<u8>, terms: String) -> Self {
        let terms_sha256 = hex::encode(Sha256::digest(terms.as_bytes()));
        Self {
            root_der,
            ca_der,
            terms,
            terms_sha256,
        }
    }

    /// DER of the root certificate.
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// DER of the issuing CA certificate.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// The terms text, exactly as hashed.
    pub fn terms(&self) -> &str {
        &self.terms
    }

    /// Hex SHA-256 of the terms' UTF-8 bytes.
    pub fn terms_sha256(&self) -> &str {
        &self.terms_sha256
    }
}
