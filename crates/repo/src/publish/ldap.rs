//! An LDAP directory (RFC 4523 attributes on the CA's entry): `cACertificate;binary`
//! holds the issuing CA certificate, `certificateRevocationList;binary` its CRL and
//! `authorityRevocationList;binary` the root's CRL (the list of revoked CA certificates).
//! Each is replaced with a modify-replace; the entry is created (object classes
//! `pkiCA` plus a structural class matching its RDN) when it is missing. The root
//! certificate is distributed out of band and is not written to the directory.

use super::{ItemKind, PublishError, PublishedItem, Publisher};
use ldap3::{LdapConnAsync, LdapConnSettings, LdapError, LdapResult, Mod};
use std::collections::HashSet;
use std::time::Duration;
use zeroize::Zeroizing;

/// LDAP result codes used here (RFC 4511 appendix A).
const NO_SUCH_OBJECT: u32 = 32;
const ENTRY_ALREADY_EXISTS: u32 = 68;
const TYPE_OR_VALUE_EXISTS: u32 = 20;
/// The attribute of the delta CRL, allowed by the auxiliary class `deltaCRL` (RFC 4523).
const DELTA_ATTRIBUTE: &str = "deltaRevocationList;binary";

/// Where to publish.
#[derive(Clone)]
pub struct LdapSettings {
    /// `ldap://host:port` or `ldaps://host:port`.
    pub url: String,
    /// The DN to bind as.
    pub bind_dn: String,
    /// Its password (from the operator's secret file), zeroized on drop.
    pub password: Zeroizing<String>,
    /// The CA's entry, for example `cn=shuin CA,dc=example,dc=jp`.
    pub ca_entry_dn: String,
}

impl std::fmt::Debug for LdapSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapSettings")
            .field("url", &self.url)
            .field("bind_dn", &self.bind_dn)
            .field("password", &"<redacted>")
            .field("ca_entry_dn", &self.ca_entry_dn)
            .finish()
    }
}

/// Publishes attributes on the CA's LDAP entry.
#[derive(Debug)]
pub struct LdapPublisher {
    name: String,
    settings: LdapSettings,
    /// The RDN of the entry: attribute type and value, for creating it.
    rdn: (String, String),
}

/// One connection attempt, one bind and one modify are each bounded by this.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

impl LdapPublisher {
    /// Checks the settings (no network traffic yet).
    pub fn new(settings: LdapSettings) -> Result<Self, PublishError> {
        if !(settings.url.starts_with("ldap://") || settings.url.starts_with("ldaps://")) {
            return Err(PublishError::Settings(format!(
                "LDAP URL {:?} must start with ldap:// or ldaps://",
                settings.url
            )));
        }
        let rdn = first_rdn(&settings.ca_entry_dn).ok_or_else(|| {
            PublishError::Settings(format!(
                "CA entry DN {:?} must start with a single-valued RDN such as cn=...",
                settings.ca_entry_dn
            ))
        })?;
        structural_class(&rdn.0).ok_or_else(|| {
            PublishError::Settings(format!(
                "CA entry DN {:?}: the RDN type must be cn, o or ou",
                settings.ca_entry_dn
            ))
        })?;
        Ok(Self {
            name: format!(
                "ldap:{}/{}",
                settings.url.trim_end_matches('/'),
                settings.ca_entry_dn
            ),
            settings,
            rdn,
        })
    }

    /// The attribute an item goes to, if any.
    pub fn attribute(kind: ItemKind) -> Option<&'static str> {
        match kind {
            ItemKind::CaCertificate => Some("cACertificate;binary"),
            ItemKind::CaCrl => Some("certificateRevocationList;binary"),
            ItemKind::RootCrl => Some("authorityRevocationList;binary"),
            ItemKind::DeltaCrl => Some(DELTA_ATTRIBUTE),
            // Partitions are distribution points of their own, named by HTTP URLs in
            // the certificates; the CA entry holds only the complete CRL.
            ItemKind::RootCertificate | ItemKind::PartitionCrl(_) => None,
        }
    }

    fn error(&self, operation: &'static str) -> impl FnOnce(LdapError) -> PublishError + '_ {
        move |source| PublishError::Ldap {
            operation,
            dn: match operation {
                "connect" => self.settings.url.clone(),
                "bind" => self.settings.bind_dn.clone(),
                _ => self.settings.ca_entry_dn.clone(),
            },
            source: Box::new(source),
        }
    }

    async fn write(&self, attribute: &str, der: &[u8]) -> Result<(), PublishError> {
        let connection = LdapConnSettings::new().set_conn_timeout(OPERATION_TIMEOUT);
        let (driver, mut ldap) = LdapConnAsync::with_settings(connection, &self.settings.url)
            .await
            .map_err(self.error("connect"))?;
        let driver = tokio::spawn(async move {
            if let Err(e) = driver.drive().await {
                tracing::debug!(error = %e, "LDAP connection closed");
            }
        });
        let outcome = self.write_on(&mut ldap, attribute, der).await;
        let _ = ldap.unbind().await;
        driver.abort();
        outcome
    }

    async fn write_on(
        &self,
        ldap: &mut ldap3::Ldap,
        attribute: &str,
        der: &[u8],
    ) -> Result<(), PublishError> {
        let dn = self.settings.ca_entry_dn.as_str();
        ldap.with_timeout(OPERATION_TIMEOUT)
            .simple_bind(&self.settings.bind_dn, &self.settings.password)
            .await
            .and_then(LdapResult::success)
            .map_err(self.error("bind"))?;
        if attribute == DELTA_ATTRIBUTE {
            // An entry made before delta CRLs were switched on lacks the auxiliary class.
            let added = ldap
                .with_timeout(OPERATION_TIMEOUT)
                .modify(
                    dn,
                    vec![Mod::Add(
                        b"objectClass".to_vec(),
                        HashSet::from([b"deltaCRL".to_vec()]),
                    )],
                )
                .await
                .map_err(self.error("modify"))?;
            if ![0, TYPE_OR_VALUE_EXISTS, NO_SUCH_OBJECT].contains(&added.rc) {
                return added.success().map(|_| ()).map_err(self.error("modify"));
            }
        }
        let replace = || {
            vec![Mod::Replace(
                attribute.as_bytes().to_vec(),
                HashSet::from([der.to_vec()]),
            )]
        };
        let modified = ldap
            .with_timeout(OPERATION_TIMEOUT)
            .modify(dn, replace())
            .await
            .map_err(self.error("modify"))?;
        if modified.rc != NO_SUCH_OBJECT {
            return modified.success().map(|_| ()).map_err(self.error("modify"));
        }
        let (rdn_type, rdn_value) = &self.rdn;
        let structural = structural_class(rdn_type).unwrap_or("applicationProcess");
        let attributes: Vec<(Vec<u8>, HashSet<Vec<u8>>)> = vec![
            (
                b"objectClass".to_vec(),
                HashSet::from([
                    b"pkiCA".to_vec(),
                    b"deltaCRL".to_vec(),
                    structural.as_bytes().to_vec(),
                ]),
            ),
            (
                rdn_type.as_bytes().to_vec(),
                HashSet::from([rdn_value.as_bytes().to_vec()]),
            ),
            (attribute.as_bytes().to_vec(), HashSet::from([der.to_vec()])),
        ];
        let added = ldap
            .with_timeout(OPERATION_TIMEOUT)
            .add(dn, attributes)
            .await
            .map_err(self.error("add"))?;
        if added.rc == ENTRY_ALREADY_EXISTS {
            // Created meanwhile by someone else: replace as at first.
            return ldap
                .with_timeout(OPERATION_TIMEOUT)
                .modify(dn, replace())
                .await
                .and_then(LdapResult::success)
                .map(|_| ())
                .map_err(self.error("modify"));
        }
        tracing::info!(dn, "created the CA's LDAP entry");
        added.success().map(|_| ()).map_err(self.error("add"))
    }
}

#[async_trait::async_trait]
impl Publisher for LdapPublisher {
    fn name(&self) -> &str {
        &self.name
    }

    async fn publish(&self, item: &PublishedItem) -> Result<(), PublishError> {
        match Self::attribute(item.kind) {
            Some(attribute) => self.write(attribute, &item.der).await,
            None => Ok(()),
        }
    }
}

/// The structural object class that allows an RDN of this type (core schema).
fn structural_class(rdn_type: &str) -> Option<&'static str> {
    match rdn_type.to_ascii_lowercase().as_str() {
        "cn" | "commonname" => Some("applicationProcess"),
        "o" | "organizationname" => Some("organization"),
        "ou" | "organizationalunitname" => Some("organizationalUnit"),
        _ => None,
    }
}

/// The first RDN of a DN (RFC 4514 string form) as (type, unescaped value); `None` for
/// a multi-valued or malformed RDN.
fn first_rdn(dn: &str) -> Option<(String, String)> {
    let (rdn_type, rest) = dn.split_once('=')?;
    let rdn_type = rdn_type.trim();
    if rdn_type.is_empty()
        || !rdn_type
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return None;
    }
    let mut value = Vec::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            ',' => break,
            '+' => return None,
            '\\' => {
                let first = chars.next()?;
                if first.is_ascii_hexdigit() {
                    let second = chars.next()?;
                    let byte = u8::from_str_radix(&format!("{first}{second}"), 16).ok()?;
                    value.push(byte);
                } else {
                    let mut buffer = [0; 4];
                    value.extend_from_slice(first.encode_utf8(&mut buffer).as_bytes());
                }
            }
            c => {
                let mut buffer = [0; 4];
                value.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            }
        }
    }
    let value = String::from_utf8(value).ok()?;
    let value = value.trim();
    (!value.is_empty()).then(|| (rdn_type.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_first_rdn_is_unescaped() {
        assert_eq!(
            first_rdn("cn=shuin CA,dc=example,dc=jp"),
            Some(("cn".into(), "shuin CA".into()))
        );
        assert_eq!(
            first_rdn(r"cn=Shuin\, Inc. CA,dc=example"),
            Some(("cn".into(), "Shuin, Inc. CA".into()))
        );
        assert_eq!(
            first_rdn(r"cn=\E5\8D\B0 CA,dc=jp"),
            Some(("cn".into(), "印 CA".into()))
        );
        assert_eq!(first_rdn("cn=a+sn=b,dc=jp"), None);
        assert_eq!(first_rdn("dc=jp"), Some(("dc".into(), "jp".into())));
        assert_eq!(first_rdn("=x"), None);
        assert_eq!(first_rdn("cn=\\"), None);
    }

    #[test]
    fn settings_are_checked() {
        let settings = |url: &str, dn: &str| LdapSettings {
            url: url.into(),
            bind_dn: "cn=admin,dc=example,dc=jp".into(),
            password: Zeroizing::new("pw".into()),
            ca_entry_dn: dn.into(),
        };
        assert!(LdapPublisher::new(settings("ldap://127.0.0.1:389", "cn=CA,dc=jp")).is_ok());
        assert!(LdapPublisher::new(settings("http://x", "cn=CA,dc=jp")).is_err());
        assert!(LdapPublisher::new(settings("ldap://x", "dc=jp")).is_err());
        let printed = format!("{:?}", settings("ldap://x", "cn=CA"));
        assert!(!printed.contains("\"pw\""), "{printed}");
    }
}
