//! `[[publishers]]`: the outside repositories' settings, checked without secrets at
//! every configuration load, and the publishers built from them (secrets read from
//! owner-only files at start).

use super::{
    FilesystemPublisher, LdapPublisher, LdapSettings, PublishError, Publisher, S3Credentials,
    S3Publisher, S3Settings,
};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Why the publishers' settings are refused or the publishers cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublisherConfigError {
    /// A publisher's settings break a rule.
    #[error("publishers[{index}]: {problem}")]
    Invalid {
        /// The publisher's position in `[[publishers]]`.
        index: usize,
        /// What is wrong.
        problem: String,
    },
    /// A secret file is readable or writable by group or others.
    #[error("secret file {} has mode {mode:04o}: it must not be readable or writable by group or others (chmod 600 it)", path.display())]
    SecretNotPrivate {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A secret file cannot be read.
    #[error("secret file {}: {source}", path.display())]
    SecretUnreadable {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A secret file does not hold one line.
    #[error("secret file {} must hold the secret on one line", path.display())]
    SecretNotOneLine {
        /// The file.
        path: PathBuf,
    },
    /// A publisher cannot be made from its settings.
    #[error("{what}: {source}")]
    Build {
        /// Which publisher.
        what: &'static str,
        /// The publisher's error.
        #[source]
        source: PublishError,
    },
}

/// One outside repository; one variant per kind. Secrets only come from `*_file` paths
/// (owner-only permissions); relative paths are relative to the instance directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PublisherConfig {
    /// A directory a web server serves: `ca.crt`, `root.crt`, `ca.crl`, `root.crl`.
    Filesystem {
        /// The directory.
        dir: PathBuf,
    },
    /// An S3 bucket (or an S3-compatible store at `endpoint`).
    S3 {
        /// `None` for AWS itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        /// The bucket.
        bucket: String,
        /// Object name prefix, for example `repository`.
        #[serde(default)]
        prefix: String,
        /// The bucket's region.
        #[serde(default = "default_s3_region")]
        region: String,
        /// Both files, or neither (then the usual AWS environment and instance role).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access_key_id_file: Option<PathBuf>,
        /// The secret access key's file (with `access_key_id_file`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_access_key_file: Option<PathBuf>,
        /// Allows a plain http:// endpoint (local emulators only).
        #[serde(default)]
        allow_http: bool,
    },
    /// The CA's entry in an LDAP directory.
    Ldap {
        /// `ldap://host:port` or `ldaps://host:port`.
        url: String,
        /// The DN to bind as.
        bind_dn: String,
        /// The bind password's file.
        password_file: PathBuf,
        /// The CA's entry, which receives the certificates and CRLs.
        ca_entry_dn: String,
        /// Allow the bind password over plain `ldap://` (a directory on the same host or
        /// a private network only); refused unless set.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        allow_plaintext_bind: bool,
    },
}

fn default_s3_region() -> String {
    "us-east-1".into()
}

/// Checks the settings without reading secrets (at every config load).
pub fn check(configs: &[PublisherConfig]) -> Result<(), PublisherConfigError> {
    let mut seen = HashSet::new();
    for (index, config) in configs.iter().enumerate() {
        let at = |problem: &str| PublisherConfigError::Invalid {
            index,
            problem: problem.to_owned(),
        };
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
                allow_plaintext_bind,
            } => {
                if bind_dn.trim().is_empty() {
                    return Err(at("bind_dn must not be empty"));
                }
                if plain_bind_refused(url, *allow_plaintext_bind) {
                    return Err(at(PLAIN_BIND_REFUSED));
                }
                LdapPublisher::new(LdapSettings {
                    url: url.clone(),
                    bind_dn: bind_dn.clone(),
                    password: Zeroizing::default(),
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

const PLAIN_BIND_REFUSED: &str = "a simple bind over plain ldap:// sends the password in clear: use ldaps://, or set allow_plaintext_bind = true for a directory on a private network";

/// Whether `url` would send the bind password in clear (scheme `ldap`) without
/// `allow_plaintext_bind`.
fn plain_bind_refused(url: &str, allow_plaintext_bind: bool) -> bool {
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    scheme.eq_ignore_ascii_case("ldap") && !allow_plaintext_bind
}

/// `url`, unless a plain bind over it is refused (checked again when building, so a
/// configuration that skipped [`check`] still never binds in clear).
fn plain_bind_allowed(
    url: &str,
    allow: bool,
    index: usize,
) -> Result<String, PublisherConfigError> {
    if plain_bind_refused(url, allow) {
        return Err(PublisherConfigError::Invalid {
            index,
            problem: PLAIN_BIND_REFUSED.into(),
        });
    }
    Ok(url.to_owned())
}

/// Builds the configured publishers, reading their secret files; paths are relative to
/// the instance directory `dir`.
pub fn build(
    configs: &[PublisherConfig],
    dir: &Path,
) -> Result<Vec<Arc<dyn Publisher>>, PublisherConfigError> {
    let mut publishers: Vec<Arc<dyn Publisher>> = Vec::new();
    for (index, config) in configs.iter().enumerate() {
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
                    .map_err(|source| PublisherConfigError::Build {
                        what: "S3 publisher",
                        source,
                    })?,
                )
            }
            PublisherConfig::Ldap {
                url,
                bind_dn,
                password_file,
                ca_entry_dn,
                allow_plaintext_bind,
            } => Arc::new(
                LdapPublisher::new(LdapSettings {
                    url: plain_bind_allowed(url, *allow_plaintext_bind, index)?,
                    bind_dn: bind_dn.clone(),
                    password: read_secret_file(&dir.join(password_file))?,
                    ca_entry_dn: ca_entry_dn.clone(),
                })
                .map_err(|source| PublisherConfigError::Build {
                    what: "LDAP publisher",
                    source,
                })?,
            ),
        });
    }
    Ok(publishers)
}

/// Reads a secret: owner-only permissions, one line, the trailing newline dropped.
fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, PublisherConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let unreadable = |source| PublisherConfigError::SecretUnreadable {
        path: path.to_owned(),
        source,
    };
    let mode = std::fs::metadata(path)
        .map_err(unreadable)?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(PublisherConfigError::SecretNotPrivate {
            path: path.to_owned(),
            mode,
        });
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(unreadable)?);
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.is_empty() || secret.contains('\n') {
        return Err(PublisherConfigError::SecretNotOneLine {
            path: path.to_owned(),
        });
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
            allow_plaintext_bind = true
            "#,
        );
        assert_eq!(configs.len(), 3);
        check(&configs).unwrap();
        assert!(matches!(&configs[1], PublisherConfig::S3 { region, .. } if region == "us-east-1"));
    }

    #[test]
    fn the_examples_in_the_docs_parse_and_check() {
        let doc = include_str!("../../../../docs/repository.md");
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
        let mut configs = vec![PublisherConfig::Ldap {
            url: "ldap://127.0.0.1:1".into(),
            bind_dn: "cn=admin".into(),
            password_file: PathBuf::from("secret"),
            ca_entry_dn: "cn=CA,dc=jp".into(),
            allow_plaintext_bind: false,
        }];
        // A password over plain ldap:// is refused unless allowed explicitly, at the
        // check and again when building.
        assert!(check(&configs)
            .unwrap_err()
            .to_string()
            .contains("allow_plaintext_bind"));
        let built = build(&configs, work.path()).map(|p| p.len());
        assert!(
            built
                .unwrap_err()
                .to_string()
                .contains("allow_plaintext_bind"),
            "built a publisher that binds in clear"
        );
        if let PublisherConfig::Ldap {
            allow_plaintext_bind,
            ..
        } = &mut configs[0]
        {
            *allow_plaintext_bind = true;
        }
        check(&configs).unwrap();
        assert_eq!(build(&configs, work.path()).unwrap().len(), 1);
    }
}
