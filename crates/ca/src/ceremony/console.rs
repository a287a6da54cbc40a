//! The instance's side of ceremonies: the facts a statement binds, the organisation
//! book answering the custodian role question, the instance's key backend naming keys
//! as `init` does, and what the operator console does with an admitted `ceremony` or
//! `ceremony_custodian` request. The caller passes the store, the configuration and
//! the opened backend.

use super::error::{invalid, Context};
use super::{
    CeremonyBackend, CeremonyError, CeremonyFile, CustodianRoles, EnrolledKey, InstanceCa,
    InstanceFacts, Result, RunOptions, RunOutcome, Statement,
};
use crate::config::CaSection;
use shuin_books::Admitted;
use shuin_core::operator::Role;
use shuin_core::Clock;
use shuin_keys::config::{KeyBackendConfig, OpenedBackend};
use shuin_keys::{KeyAttributes, KeyGenerator, KeyRef};
use shuin_store::{LedgerStore, SettingsStore};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Reads a certificate file, PEM or DER.
fn read_pem_or_der(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).context(path.display())?;
    Ok(match der::pem::decode_vec(&bytes) {
        Ok((_, der)) => der,
        Err(_) => bytes,
    })
}

/// The instance facts a statement is built from: its URL, its `[ca]` section and its
/// certificates (relative to the instance directory `dir`).
pub fn instance_facts(public_url: &str, ca: &CaSection, dir: &Path) -> Result<InstanceFacts> {
    let (key_backend, token) = ca.key_backend.binding();
    Ok(InstanceFacts {
        public_url: public_url.to_owned(),
        policy_oid: ca.policy_oid.clone(),
        ca: Some(InstanceCa {
            root_der: read_pem_or_der(&dir.join(&ca.root_certificate))?,
            issuing_der: read_pem_or_der(&dir.join(&ca.issuing_certificate))?,
        }),
        key_backend,
        token,
    })
}

/// The statement of `file` for the instance in `dir` (its URL and `[ca]` section), and
/// its canonical bytes, for custodians to approve.
pub async fn statement_for_instance<S: SettingsStore + ?Sized>(
    store: &S,
    public_url: &str,
    ca: &CaSection,
    dir: &Path,
    file: &CeremonyFile,
) -> Result<(Statement, Vec<u8>)> {
    let facts = instance_facts(public_url, ca, dir)?;
    super::statement_for(store, &facts, file).await
}

/// The organisation book answering the ceremony's role questions.
pub struct Registry<'a, S: ?Sized>(pub &'a S);

#[async_trait::async_trait]
impl<S: LedgerStore + Sync + ?Sized> CustodianRoles for Registry<'_, S> {
    async fn holds_key_custodian(&self, name: &str) -> Result<bool> {
        let roster = shuin_books::organisation::replay(self.0)
            .await
            .map_err(|e| CeremonyError::Roles(Box::new(e)))?;
        Ok(roster
            .operator(name)
            .is_some_and(|op| op.roles.contains(&Role::KeyCustodian)))
    }
}

/// The instance's opened key backend (the running server's), naming keys as `init`
/// does.
pub struct InstanceBackend<'a> {
    /// The opened backend.
    pub opened: &'a OpenedBackend,
    /// Its configuration, which names the keys.
    pub config: &'a KeyBackendConfig,
}

impl CeremonyBackend for InstanceBackend<'_> {
    fn keys(&self) -> &dyn KeyGenerator {
        self.opened.keys.as_ref()
    }

    fn attributes(&self) -> Option<&dyn KeyAttributes> {
        self.opened.attributes.as_deref()
    }

    fn describer(&self) -> Option<&dyn shuin_keys::KeyFactsReader> {
        self.opened.describer.as_deref()
    }

    fn key_label(&self, label: &str) -> String {
        self.config.key_label(label)
    }

    fn key_uri(&self, label: &str) -> KeyRef {
        self.config.key_uri(&self.key_label(label))
    }
}

/// What `ceremony run` sends beside its signed request: the ceremony file's text and
/// the approvals, each with where it came from.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunAttachment {
    config: String,
    approvals: Vec<(String, String)>,
}

impl RunAttachment {
    /// Reads the ceremony file `config` and the `approvals`; returns the ceremony's id
    /// (which the request signs) and the attachment.
    pub fn read(config: &Path, approvals: &[PathBuf]) -> Result<(String, RunAttachment)> {
        let file = CeremonyFile::load(config)?;
        let mut sent = RunAttachment {
            config: std::fs::read_to_string(config).context(config.display())?,
            approvals: Vec::new(),
        };
        for path in approvals {
            let text = std::fs::read_to_string(path).context(path.display())?;
            sent.approvals.push((path.display().to_string(), text));
        }
        Ok((file.id, sent))
    }
}

/// Where the console's ceremony runs: the instance directory, its URL and `[ca]`
/// section, and the server's opened key backend.
#[derive(Debug)]
pub struct ConsoleInstance<'a> {
    /// The instance directory (records go to `ceremonies/`, certificates to `ca/`).
    pub dir: &'a Path,
    /// The instance's public URL.
    pub public_url: &'a str,
    /// The `[ca]` section.
    pub ca: &'a CaSection,
    /// The running server's key backend.
    pub backend: &'a OpenedBackend,
}

/// The console's side of `ceremony run`: the request was admitted (a ca_admin, on the
/// local console); the ceremony checks M approvals and runs with the server's opened
/// key backend.
pub async fn run_on_console<S>(
    store: &S,
    instance: ConsoleInstance<'_>,
    admitted: &Admitted,
    attachment: &str,
    clock: &dyn Clock,
) -> Result<RunOutcome>
where
    S: SettingsStore + LedgerStore + Sync + ?Sized,
{
    let sent: RunAttachment = serde_json::from_str(attachment)
        .map_err(|e| invalid(format!("the ceremony attachment: {e}")))?;
    let file = CeremonyFile::parse(&sent.config, "(sent with the request)")?;
    if admitted.request.param("ceremony_id") != Some(file.id.as_str()) {
        return Err(invalid(
            "the signed ceremony_id is not the ceremony file's id",
        ));
    }
    let approvals: Vec<(String, Vec<u8>)> = sent
        .approvals
        .into_iter()
        .map(|(origin, text)| (origin, text.into_bytes()))
        .collect();
    let ca = instance.ca;
    let data = instance.dir;
    let facts = instance_facts(instance.public_url, ca, data)?;
    let record_out = data.join("ceremonies").join(format!("{}.json", file.id));
    let options = RunOptions {
        file: &file,
        instance: &facts,
        root_key: &ca.root_key,
        issuing_key: &ca.issuing_key,
        approvals: &approvals,
        operator: &admitted.operator,
        actor: admitted.actor(),
        record_out: &record_out,
        certificate_dir: &data.join("ca"),
    };
    let open_backend = || {
        Ok(InstanceBackend {
            opened: instance.backend,
            config: &ca.key_backend,
        })
    };
    super::run(store, &Registry(store), options, open_backend, clock).await
}

/// The console's side of `ceremony enroll-custodian` (a ca_admin's admitted request with
/// the parameters `name` and `public_key`, base64 SubjectPublicKeyInfo DER).
pub async fn enroll_on_console<S>(
    store: &S,
    admitted: &Admitted,
    now: SystemTime,
) -> Result<EnrolledKey>
where
    S: SettingsStore + LedgerStore + Sync + ?Sized,
{
    use base64::Engine;
    let name = admitted
        .request
        .param("name")
        .ok_or_else(|| invalid("the request names no custodian"))?;
    let spki = base64::engine::general_purpose::STANDARD
        .decode(admitted.request.param("public_key").unwrap_or_default())
        .map_err(|e| invalid(format!("public_key: {e}")))?;
    super::enroll(store, &Registry(store), name, &spki, &admitted.actor(), now).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use shuin_books::organisation::{actor, grant, INIT_ACTOR};
    use shuin_core::Zone;
    use shuin_store::sqlite::SqliteStore;

    const CA: &str = r#"
root_key = "soft:root.key.pem"
issuing_key = "soft:issuing.key.pem"
root_certificate = "ca/root.pem"
issuing_certificate = "ca/issuing.der"
policy_oid = "1.2.392.1"

[key_backend]
kind = "pkcs11"
module = "/m.so"
token = "T"
"#;

    #[test]
    fn facts_read_the_certificates_pem_or_der() {
        let ca: CaSection = toml::from_str(CA).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("ca")).unwrap();
        let pem =
            der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &[1, 2, 3]).unwrap();
        std::fs::write(dir.path().join("ca/root.pem"), pem).unwrap();
        let error = instance_facts("https://ca.example", &ca, dir.path()).unwrap_err();
        let missing = dir.path().join("ca/issuing.der");
        assert!(
            error
                .to_string()
                .starts_with(&format!("{}: ", missing.display())),
            "{error}"
        );
        std::fs::write(&missing, [4, 5]).unwrap();
        let facts = instance_facts("https://ca.example", &ca, dir.path()).unwrap();
        let certificates = facts.ca.unwrap();
        assert_eq!(certificates.root_der, vec![1, 2, 3]);
        assert_eq!(certificates.issuing_der, vec![4, 5]);
        assert_eq!(facts.key_backend, "pkcs11");
        assert_eq!(facts.token.as_deref(), Some("T"));
        assert_eq!(facts.policy_oid, "1.2.392.1");
    }

    #[test]
    fn the_backend_names_keys_as_init_does() {
        let config = KeyBackendConfig::Software { dir: "keys".into() };
        let opened = OpenedBackend {
            keys: Box::new(shuin_keys::SoftwareBackend::new("keys")),
            attributes: None,
            describer: None,
        };
        let backend = InstanceBackend {
            opened: &opened,
            config: &config,
        };
        assert_eq!(backend.key_label("root"), "root");
        assert_eq!(backend.key_uri("root"), config.key_uri("root"));
        assert!(backend.attributes().is_none());
    }

    #[tokio::test]
    async fn custodians_are_who_the_book_says() {
        let store = SqliteStore::in_memory().await.unwrap();
        let registry = Registry(&store);
        assert!(!registry.holds_key_custodian("K").await.unwrap());
        let admin = actor(INIT_ACTOR, Role::CaAdmin, Zone::HighSecurity);
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        grant(&store, "K", Role::KeyCustodian, &admin, now)
            .await
            .unwrap();
        grant(&store, "L", Role::Lra, &admin, now).await.unwrap();
        assert!(registry.holds_key_custodian("K").await.unwrap());
        assert!(!registry.holds_key_custodian("L").await.unwrap());
    }

    #[test]
    fn an_attachment_names_a_missing_approval() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("approval.json");
        let error = RunAttachment::read(&dir.path().join("none.toml"), &[missing]).unwrap_err();
        assert!(error.to_string().contains("none.toml"), "{error}");
    }
}
