//! Publishers: copies of the repository's CA certificates and CRLs in outside
//! repositories (リポジトリ設備) that verifiers read: a directory served by a web server,
//! an S3 bucket, an LDAP directory.
//!
//! A [`Publisher`] puts one [`PublishedItem`] in one place. The [`PublishQueue`] runs
//! every publisher in its own task, retries failures with backoff and reports each new
//! CRL it published to a [`PublicationRecorder`] (the ledger, in the `shuin` binary).
//! Issuance and revocation never wait for it.
//!
//! The [`LogQueue`] copies the ledger's tiled log (`ledger/tile/...`, then
//! `ledger/checkpoint`: C2SP `tlog-tiles`) to the publishers that carry it (a directory
//! and S3; not LDAP), so the log can be read without the server.

mod config;
mod filesystem;
mod ldap;
mod log;
mod queue;
mod record;
mod s3;

pub use config::{build, check, PublisherConfig, PublisherConfigError};
pub use filesystem::FilesystemPublisher;
pub use ldap::{LdapPublisher, LdapSettings};
pub use log::{LogFile, LogQueue};
pub use queue::{Backoff, PublicationRecorder, PublishQueue, PublisherStatus, QueueSettings};
pub use record::{publication_entry, LedgerRecorder};
pub use s3::{S3Credentials, S3Publisher, S3Settings};

use crate::Repository;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemKind {
    /// The root certificate (`root.crt`).
    RootCertificate,
    /// The issuing CA certificate (`ca.crt`).
    CaCertificate,
    /// The root's CRL (`root.crl`), which lists revoked CA certificates (an ARL).
    RootCrl,
    /// The issuing CA's full CRL (`ca.crl`).
    CaCrl,
    /// The issuing CA's delta CRL (`ca-delta.crl`), when configured.
    DeltaCrl,
    /// One partition of the issuing CA's CRL (`ca-p<N>.crl`), when configured.
    PartitionCrl(u32),
}

impl ItemKind {
    /// Every kind, certificates first.
    pub const ALL: [ItemKind; 4] = [
        ItemKind::RootCertificate,
        ItemKind::CaCertificate,
        ItemKind::RootCrl,
        ItemKind::CaCrl,
    ];

    /// The file or object name, as under `/repository/`.
    pub fn file_name(self) -> std::borrow::Cow<'static, str> {
        match self {
            ItemKind::RootCertificate => "root.crt".into(),
            ItemKind::CaCertificate => "ca.crt".into(),
            ItemKind::RootCrl => "root.crl".into(),
            ItemKind::CaCrl => "ca.crl".into(),
            ItemKind::DeltaCrl => "ca-delta.crl".into(),
            ItemKind::PartitionCrl(index) => format!("ca-p{index}.crl").into(),
        }
    }

    /// The kind of a delta or partition CRL from its repository file stem (`ca-delta`,
    /// `ca-p<N>`), as `Repository::other_crls` names them.
    pub fn of_other_crl(stem: &str) -> Option<ItemKind> {
        if stem == "ca-delta" {
            return Some(ItemKind::DeltaCrl);
        }
        let index = stem.strip_prefix("ca-p")?;
        if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        index.parse().ok().map(ItemKind::PartitionCrl)
    }

    /// The media type of the DER (RFC 2585 section 4).
    pub fn content_type(self) -> &'static str {
        if self.is_crl() {
            "application/pkix-crl"
        } else {
            "application/pkix-cert"
        }
    }

    /// Whether this is a CRL.
    pub fn is_crl(self) -> bool {
        !matches!(self, ItemKind::RootCertificate | ItemKind::CaCertificate)
    }
}

impl std::fmt::Display for ItemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.file_name())
    }
}

/// One version of one item: DER bytes, and the CRL number for CRLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedItem {
    /// What it is.
    pub kind: ItemKind,
    /// The CRL number (CRLs only).
    pub crl_number: Option<u64>,
    /// DER, exactly as served under `/repository/`.
    pub der: Arc<Vec<u8>>,
}

impl PublishedItem {
    /// Hex SHA-256 of the DER.
    pub fn sha256_hex(&self) -> String {
        hex::encode(Sha256::digest(self.der.as_slice()))
    }

    /// Distinguishes versions of one kind: the CRL number, or 0 for certificates (which
    /// do not change while a process runs).
    pub fn version(&self) -> u64 {
        self.crl_number.unwrap_or(0)
    }

    /// The items the repository holds now: both certificates, and the CRLs it has
    /// (the root's, the full, delta and partition CRLs of the issuing CA).
    pub fn current(repository: &Repository) -> Vec<PublishedItem> {
        let mut items = vec![
            PublishedItem {
                kind: ItemKind::RootCertificate,
                crl_number: None,
                der: Arc::new(repository.root_der().to_vec()),
            },
            PublishedItem {
                kind: ItemKind::CaCertificate,
                crl_number: None,
                der: Arc::new(repository.ca_der().to_vec()),
            },
        ];
        for (kind, crl) in [
            (ItemKind::RootCrl, repository.root_crl()),
            (ItemKind::CaCrl, repository.ca_crl()),
        ] {
            if let Some(crl) = crl {
                items.push(PublishedItem {
                    kind,
                    crl_number: Some(crl.number),
                    der: crl.der,
                });
            }
        }
        for (stem, crl) in repository.other_crls() {
            if let Some(kind) = ItemKind::of_other_crl(&stem) {
                items.push(PublishedItem {
                    kind,
                    crl_number: Some(crl.number),
                    der: crl.der,
                });
            }
        }
        items
    }
}

/// Puts items in one outside repository. Implementations are idempotent: publishing the
/// same item twice leaves the same result.
#[async_trait::async_trait]
pub trait Publisher: Send + Sync {
    /// A name for logs and the ledger, unique among the configured publishers.
    fn name(&self) -> &str;
    /// Publishes one item, replacing the previous version.
    async fn publish(&self, item: &PublishedItem) -> Result<(), PublishError>;
    /// Whether this publisher carries the ledger's tiled log ([`LogQueue`]).
    fn carries_log(&self) -> bool {
        false
    }
    /// Publishes one file of the ledger's tiled log under `ledger/`, replacing the
    /// previous version; publishers that do not carry the log do nothing.
    async fn publish_log_file(&self, file: &LogFile) -> Result<(), PublishError> {
        let _ = file;
        Ok(())
    }
}

/// Why a publication failed. Every variant is worth retrying unless the configuration is
/// wrong ([`PublishError::is_permanent`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// A local file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The object store refused or could not be reached.
    #[error("S3 object {location}: {source}")]
    ObjectStore {
        /// The object path.
        location: String,
        /// The cause.
        #[source]
        source: object_store::Error,
    },
    /// The LDAP server refused or could not be reached.
    #[error("LDAP {operation} {dn}: {source}")]
    Ldap {
        /// connect, bind, modify or add.
        operation: &'static str,
        /// The entry (or URL, for connect).
        dn: String,
        /// The cause (boxed: it is large).
        #[source]
        source: Box<ldap3::LdapError>,
    },
    /// The publisher settings cannot work.
    #[error("publisher settings: {0}")]
    Settings(String),
    /// The attempt took too long.
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    /// Published, but the publication could not be recorded (it is published again).
    #[error("recording the publication: {0}")]
    Record(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The ledger's tiles or checkpoint could not be read.
    #[error("reading the tiled log: {0}")]
    Tiles(#[source] crate::tiles::TilesError),
}

impl PublishError {
    /// Whether retrying cannot help (the settings are wrong). The queue still retries,
    /// at the slowest rate, since settings may be fixed outside (a bucket created).
    pub fn is_permanent(&self) -> bool {
        matches!(self, PublishError::Settings(_))
    }
}

#[cfg(test)]
mod tests {
    use super::ItemKind;

    #[test]
    fn delta_and_partition_crls_are_named_as_in_the_repository() {
        for kind in [
            ItemKind::DeltaCrl,
            ItemKind::PartitionCrl(0),
            ItemKind::PartitionCrl(17),
        ] {
            let name = kind.file_name();
            let stem = name.strip_suffix(".crl").unwrap_or_default();
            assert_eq!(ItemKind::of_other_crl(stem), Some(kind));
            assert!(kind.is_crl());
        }
        for stem in [
            "ca",
            "root",
            "ca-p",
            "ca-p-1",
            "ca-p1x",
            "ca-p99999999999",
            "ca-delta2",
        ] {
            assert_eq!(ItemKind::of_other_crl(stem), None, "{stem}");
        }
    }
}
