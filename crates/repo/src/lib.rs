//! The repository (リポジトリ設備): the public content a signature verifier fetches.
//! It holds the CA certificates and the newest CRLs; the [`publish`] module copies them
//! to outside repositories (a directory, S3, LDAP) whenever they change, and the
//! [`tiles`] module keeps the ledger as a tiled log (C2SP `tlog-tiles`).

pub mod publish;
pub mod pushed;
pub mod tiles;

use sha2::{Digest, Sha256};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;
use tokio::sync::watch;

/// A published CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedCrl {
    /// The CRL number.
    pub number: u64,
    /// nextUpdate: caches may keep it until then.
    pub next_update: SystemTime,
    /// DER.
    pub der: Arc<Vec<u8>>,
}

impl From<shuin_store::CrlRecord> for PublishedCrl {
    /// The CRL as the CA stored it, ready to publish.
    fn from(record: shuin_store::CrlRecord) -> Self {
        PublishedCrl {
            number: record.number,
            next_update: record.next_update,
            der: Arc::new(record.der),
        }
    }
}

/// What the repository publishes.
#[derive(Debug)]
pub struct Repository {
    root_der: Vec<u8>,
    ca_der: Vec<u8>,
    terms: String,
    terms_sha256: String,
    ca_crl: RwLock<Option<PublishedCrl>>,
    root_crl: RwLock<Option<PublishedCrl>>,
    /// Bumped whenever a CRL is replaced; publishers wait on it.
    changes: watch::Sender<u64>,
    /// The CP/CPS (認証業務規程) text.
    cps: Option<String>,
    /// Delta and partition CRLs by file stem (`ca-delta`, `ca-p3`), served over HTTP.
    other_crls: RwLock<std::collections::BTreeMap<String, PublishedCrl>>,
    /// The URL verifiers and applicants reach the instance at (the repository page
    /// names the OCSP URL under it).
    public_url: String,
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
            ca_crl: RwLock::new(None),
            root_crl: RwLock::new(None),
            changes: watch::Sender::new(0),
            cps: None,
            other_crls: RwLock::new(std::collections::BTreeMap::new()),
            public_url: String::new(),
        }
    }

    /// Names the instance's public URL (`https://ca.example.jp`).
    pub fn with_public_url(mut self, public_url: &str) -> Self {
        self.public_url = public_url.trim_end_matches('/').to_owned();
        self
    }

    /// The instance's public URL without a trailing slash (empty if none was named).
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Adds the CP/CPS (認証業務規程) text.
    pub fn with_cps(mut self, cps: Option<String>) -> Self {
        self.cps = cps;
        self
    }

    /// Adds the CP/CPS read from `path`; without the file `/repository/cps` answers 404,
    /// and a warning says so.
    pub fn with_cps_file(self, path: &std::path::Path) -> Self {
        let cps = std::fs::read_to_string(path).ok();
        if cps.is_none() {
            tracing::warn!(path = %path.display(), "no CP/CPS file; /repository/cps answers 404");
        }
        self.with_cps(cps)
    }

    /// The CP/CPS text, if configured.
    pub fn cps(&self) -> Option<&str> {
        self.cps.as_deref()
    }

    /// Publishes a newer issuing-CA CRL (older numbers are ignored). Returns whether it
    /// replaced the current one.
    pub fn publish_ca_crl(&self, crl: PublishedCrl) -> bool {
        self.changed(publish(&self.ca_crl, crl))
    }

    /// Publishes a newer delta or partition CRL under its file stem.
    pub fn publish_other_crl(&self, stem: &str, crl: PublishedCrl) -> bool {
        let replaced = {
            let mut crls = self.other_crls.write().unwrap_or_else(|p| p.into_inner());
            if crls.get(stem).is_some_and(|c| c.number >= crl.number) {
                false
            } else {
                crls.insert(stem.to_owned(), crl);
                true
            }
        };
        self.changed(replaced)
    }

    /// Every delta and partition CRL, by file stem.
    pub fn other_crls(&self) -> Vec<(String, PublishedCrl)> {
        self.other_crls
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(stem, crl)| (stem.clone(), crl.clone()))
            .collect()
    }

    /// A delta or partition CRL by file stem.
    pub fn other_crl(&self, stem: &str) -> Option<PublishedCrl> {
        self.other_crls
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(stem)
            .cloned()
    }

    /// Publishes a newer root CRL.
    pub fn publish_root_crl(&self, crl: PublishedCrl) -> bool {
        self.changed(publish(&self.root_crl, crl))
    }

    fn changed(&self, replaced: bool) -> bool {
        if replaced {
            self.changes.send_modify(|generation| *generation += 1);
        }
        replaced
    }

    /// A receiver that is marked changed whenever a CRL is replaced.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The current issuing-CA CRL.
    pub fn ca_crl(&self) -> Option<PublishedCrl> {
        self.ca_crl
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The current root CRL.
    pub fn root_crl(&self) -> Option<PublishedCrl> {
        self.root_crl
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
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

fn publish(slot: &RwLock<Option<PublishedCrl>>, crl: PublishedCrl) -> bool {
    let mut current = slot.write().unwrap_or_else(|p| p.into_inner());
    if current.as_ref().is_some_and(|c| c.number >= crl.number) {
        return false;
    }
    *current = Some(crl);
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn the_cps_comes_from_its_file_when_there_is_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cps.md");
        let repository = || Repository::new(vec![1], vec![2], "terms".into());
        assert_eq!(repository().with_cps_file(&path).cps(), None);
        std::fs::write(&path, "# CP/CPS\n").unwrap();
        assert_eq!(repository().with_cps_file(&path).cps(), Some("# CP/CPS\n"));
    }
}
