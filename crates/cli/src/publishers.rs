//! The outside repositories (`[[publishers]]` in shuin.toml): checking their settings,
//! building them (secrets read from owner-only files at start), running the publish
//! queue beside the server, and writing `publication.succeeded` to the revocation book
//! for every CRL a publisher has put in place.

use crate::config::PublisherConfig;
use crate::failure::{msg, Context, Result};
use crate::runtime::Instance;
use shuin_core::Clock;
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_repo::publish::{
    FilesystemPublisher, ItemKind, LdapPublisher, LdapSettings, PublicationRecorder, PublishQueue,
    PublishedItem, Publisher, QueueSettings, S3Credentials, S3Publisher, S3Settings,
};
use shuin_store::LedgerStore;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Checks the settings without reading secrets (at every config load).
pub(crate) fn check(configs: &[PublisherConfig]) -> Result<()> {
    let mut seen = HashSet::new();
    for (index, config) in configs.iter().enumerate() {
        let at = |problem: &str| msg(format!("publishers[{index}]: {problem}"));
        let identity = match config {
            PublisherConfig::Filesystem { dir } => {
                if dir.as_os_str().is_empty() {
                    return Err(at("dir must not be empty"));
                }
                format!("filesystem {}", dir.display())
            }
            PublisherConfig::S3 {
                endpoint,
                bucket,
                prefix,
                region,
                access_key_id_file,
                secret_access_key_file,
                allow_http,
            } => {
                if bucket.trim().is_empty() || region.trim().is_empty() {
                    return Err(at("bucket and region must not be empty"));
                }
                if let Some(endpoint) = endpoint {
                    if endpoint.starts_with("http://") {
                        if !allow_http {
                            return Err(at(
                                "an http:// endpoint needs allow_http = true (local emulators only)",
                            ));
                        }
                    } else if !endpoint.starts_with("https://") {
                        return Err(at("endpoint must start with https:// (or http://)"));
                    }
                }
                if access_key_id_file.is_some() != secret_access_key_file.is_some() {
                    return Err(at(
                        "give both access_key_id_file and secret_access_key_file, or neither",
                    ));
                }
                format!(
                    "s3 {} {bucket} {}",
                    endpoint.as_deref().unwrap_or(""),
                    prefix.trim_matches('/')
                )
            }
            PublisherConfig::Ldap {
                url,
                bind_dn,
                password_file: _,
                ca_entry_dn,
            } => {
                if bind_dn.trim().is_empty() {
                    return Err(at("bind_dn must not be empty"));
                }
                LdapPublisher::new(LdapSettings {
                    url: url.clone(),
                    bind_dn: bind_dn.clone(),
                    password: String::new(),
                    ca_entry_dn: ca_entry_dn.clone(),
                })
                .map_err(|e| at(&e.to_string()))?;
                format!("ldap {url} {ca_entry_dn}")
            }
        };
        if !seen.insert(identity) {
            return Err(at("publishes to the same place as an earlier publisher"));
        }
    }
    Ok(())
}

/// Builds the configured publishers, reading their secret files; paths are relative to
/// the instance directory `dir`.
pub(crate) fn build(configs: &[PublisherConfig], dir: &Path) -> Result<Vec<Arc<dyn Publisher>>> {
    let mut publishers: Vec<Arc<dyn Publisher>> = Vec::new();
    for config in configs {
        publishers.push(match config {
            PublisherConfig::Filesystem { dir: target } => {
                Arc::new(FilesystemPublisher::new(dir.join(target)))
            }
            PublisherConfig::S3 {
                endpoint,
                bucket,
                prefix,
                region,
                access_key_id_file,
                secret_access_key_file,
                allow_http,
            } => {
                let credentials = match (access_key_id_file, secret_access_key_file) {
                    (Some(id), Some(secret)) => Some(S3Credentials {
                        access_key_id: read_secret_file(&dir.join(id))?.to_string(),
                        secret_access_key: read_secret_file(&dir.join(secret))?.to_string(),
                    }),
                    _ => None,
                };
                Arc::new(
                    S3Publisher::new(S3Settings {
                        endpoint: endpoint.clone(),
                        bucket: bucket.clone(),
                        prefix: prefix.clone(),
                        region: region.clone(),
                        credentials,
                        allow_http: *allow_http,
                    })
                    .context("S3 publisher")?,
                )
            }
            PublisherConfig::Ldap {
                url,
                bind_dn,
                password_file,
                ca_entry_dn,
            } => Arc::new(
                LdapPublisher::new(LdapSettings {
                    url: url.clone(),
                    bind_dn: bind_dn.clone(),
                    password: read_secret_file(&dir.join(password_file))?.to_string(),
                    ca_entry_dn: ca_entry_dn.clone(),
                })
                .context("LDAP publisher")?,
            ),
        });
    }
    Ok(publishers)
}

/// Starts publishing the instance's repository; `None` without publishers. Dropping the
/// queue stops it.
pub(crate) fn start(instance: &Instance) -> Option<PublishQueue> {
    if instance.publishers.is_empty() {
        return None;
    }
    let recorder = Arc::new(LedgerRecorder {
        ledger: instance.store.clone(),
        clock: instance.state.clock.clone(),
    });
    Some(PublishQueue::start(
        instance.state.repository.clone(),
        instance.publishers.clone(),
        recorder,
        QueueSettings::default(),
    ))
}

/// Writes `publication.succeeded` entries to the revocation book.
struct LedgerRecorder<L> {
    ledger: Arc<L>,
    clock: Arc<dyn Clock>,
}

#[async_trait::async_trait]
impl<L: LedgerStore + 'static> PublicationRecorder for LedgerRecorder<L> {
    async fn record(
        &self,
        publisher: &str,
        item: &PublishedItem,
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let draft = publication_entry(publisher, item);
        self.ledger.append(draft, self.clock.now()).await?;
        Ok(())
    }
}

/// The ledger entry for one publication of a CRL.
fn publication_entry(publisher: &str, item: &PublishedItem) -> EntryDraft {
    let scope = match item.kind {
        ItemKind::RootCrl | ItemKind::RootCertificate => "root".to_owned(),
        ItemKind::CaCrl | ItemKind::CaCertificate => "ca".to_owned(),
        // The same scope names as the CRL store and `/repository/<scope>.crl`.
        ItemKind::DeltaCrl => "ca-delta".to_owned(),
        ItemKind::PartitionCrl(index) => format!("ca-p{index}"),
    };
    let sha256 = item.sha256_hex();
    let mut subjects = Vec::new();
    if let Some(number) = item.crl_number {
        subjects.push(format!("crl:{scope}:{number}"));
    }
    EntryDraft {
        book: Book::Revocation,
        kind: "publication.succeeded".into(),
        actor: Actor {
            name: "shuin-repo".into(),
            role: "system".into(),
            zone: "repository".into(),
        },
        subjects,
        payload: serde_json::json!({
            "publisher": publisher,
            "item": item.kind.file_name(),
            "crl_number": item.crl_number,
            "sha256": sha256,
        }),
        evidence: vec![format!("sha256:{sha256}")],
    }
}

/// Reads a secret: owner-only permissions, one line, the trailing newline dropped.
fn read_secret_file(path: &Path) -> Result<Zeroizing<String>> {
    use std::os::unix::fs::PermissionsExt;
    let what = format!("secret file {}", path.display());
    let mode = std::fs::metadata(path).context(&what)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(msg(format!(
            "{what} has mode {mode:04o}: it must not be readable or writable by group or others (chmod 600 it)"
        )));
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).context(&what)?);
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.is_empty() || secret.contains('\n') {
        return Err(msg(format!("{what} must hold the secret on one line")));
    }
    Ok(Zeroizing::new(secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    fn parse(text: &str) -> Vec<PublisherConfig> {
        #[derive(serde::Deserialize)]
        struct Only {
            publishers: Vec<PublisherConfig>,
        }
        toml::from_str::<Only>(text).unwrap().publishers
    }

    #[test]
    fn the_three_kinds_parse_and_check() {
        let configs = parse(
            r#"
            [[publishers]]
            kind = "filesystem"
            dir = "published"

            [[publishers]]
            kind = "s3"
            endpoint = "http://127.0.0.1:5000"
            bucket = "repository"
            prefix = "pki"
            access_key_id_file = "secrets/s3-id"
            secret_access_key_file = "secrets/s3-secret"
            allow_http = true

            [[publishers]]
            kind = "ldap"
            url = "ldap://127.0.0.1:389"
            bind_dn = "cn=admin,dc=example,dc=jp"
            password_file = "secrets/ldap"
            ca_entry_dn = "cn=shuin CA,dc=example,dc=jp"
            "#,
        );
        assert_eq!(configs.len(), 3);
        check(&configs).unwrap();
        assert!(matches!(&configs[1], PublisherConfig::S3 { region, .. } if region == "us-east-1"));
    }

    #[test]
    fn the_examples_in_the_docs_parse_and_check() {
        let doc = include_str!("../../../docs/repository.md");
        let mut blocks = 0;
        for block in doc.split("```toml").skip(1) {
            let text = block.split("```").next().unwrap();
            let configs = parse(text);
            assert!(!configs.is_empty());
            check(&configs).unwrap();
            blocks += 1;
        }
        assert_eq!(blocks, 1);
    }

    #[test]
    fn bad_settings_are_refused() {
        let refused = |text: &str, needle: &str| {
            let configs = parse(text);
            let error = check(&configs).unwrap_err().to_string();
            assert!(error.contains(needle), "{error}");
        };
        refused(
            "[[publishers]]\nkind = \"s3\"\nbucket = \"b\"\nendpoint = \"http://x\"",
            "allow_http",
        );
        refused(
            "[[publishers]]\nkind = \"s3\"\nbucket = \"b\"\naccess_key_id_file = \"id\"",
            "both",
        );
        refused(
            "[[publishers]]\nkind = \"ldap\"\nurl = \"http://x\"\nbind_dn = \"cn=a\"\npassword_file = \"p\"\nca_entry_dn = \"cn=CA\"",
            "ldap://",
        );
        refused(
            "[[publishers]]\nkind = \"filesystem\"\ndir = \"a\"\n[[publishers]]\nkind = \"filesystem\"\ndir = \"a\"",
            "same place",
        );
        assert!(
            toml::from_str::<PublisherConfig>("kind = \"filesystem\"\ndir = \"a\"\nextra = 1")
                .is_err()
        );
    }

    #[test]
    fn secret_files_must_be_private() {
        let work = tempfile::tempdir().unwrap();
        let path = work.path().join("secret");
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(read_secret_file(&path)
            .unwrap_err()
            .to_string()
            .contains("chmod 600"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_secret_file(&path).unwrap().as_str(), "s3cret");
        let configs = vec![PublisherConfig::Ldap {
            url: "ldap://127.0.0.1:1".into(),
            bind_dn: "cn=admin".into(),
            password_file: PathBuf::from("secret"),
            ca_entry_dn: "cn=CA,dc=jp".into(),
        }];
        assert_eq!(build(&configs, work.path()).unwrap().len(), 1);
    }

    #[test]
    fn the_ledger_entry_names_publisher_item_number_and_hash() {
        let item = PublishedItem {
            kind: ItemKind::CaCrl,
            crl_number: Some(42),
            der: Arc::new(vec![0x30, 0x00]),
        };
        let entry = publication_entry("s3:bucket", &item);
        assert_eq!(entry.kind, "publication.succeeded");
        assert_eq!(entry.book, Book::Revocation);
        assert_eq!(entry.subjects, ["crl:ca:42"]);
        assert_eq!(entry.payload["publisher"], "s3:bucket");
        assert_eq!(entry.payload["item"], "ca.crl");
        assert_eq!(entry.payload["crl_number"], 42);
        assert_eq!(entry.payload["sha256"], item.sha256_hex());
    }
}
