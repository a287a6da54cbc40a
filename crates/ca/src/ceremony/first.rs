//! The first key ceremony of an instance: on a production key backend the root and
//! issuing keys are not made by whoever runs `init`, but by a ceremony that M custodians
//! approved (docs/keys.md "The first key ceremony"). The ceremony file must make exactly
//! one self-signed root over a key it generates and one issuing certificate under that
//! root over another key it generates; the instance then adopts those two keys and
//! certificates from the completed, verified record.

use super::custodians::CustodianRoles;
use super::error::{invalid, Result};
use super::file::{CaCertificateProfile, CeremonyFile, Step};
use super::record::{Record, StepResult};
use super::run::{CeremonyBackend, RunOptions, RunOutcome};
use super::statement::{InstanceFacts, Statement, StatementStep};
use base64::Engine;
use shuin_core::Clock;
use shuin_keys::KeyRef;
use shuin_ledger::Actor;
use shuin_store::{LedgerStore, SettingsStore};
use std::collections::BTreeMap;
use std::path::Path;

/// The labels of the keys a first ceremony makes for the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstKeys {
    /// The key certified by the ceremony's self-signed root certificate.
    pub root_label: String,
    /// The key certified by the ceremony's issuing certificate under that root.
    pub issuing_label: String,
}

/// What the instance takes from its completed first ceremony.
#[derive(Debug, Clone)]
pub struct Adopted {
    pub root_key: KeyRef,
    pub issuing_key: KeyRef,
    pub root_der: Vec<u8>,
    pub issuing_der: Vec<u8>,
}

/// Checks that `file` can be an instance's first ceremony, and names the keys it makes.
pub fn first_keys(file: &CeremonyFile) -> Result<FirstKeys> {
    let generated: Vec<&str> = file
        .steps
        .iter()
        .filter_map(|step| match step {
            Step::GenerateKey { label, .. } => Some(label.as_str()),
            Step::SignCaCertificate { .. } | Step::TerminateBusiness { .. } => None,
        })
        .collect();
    let signed = |wanted: CaCertificateProfile| -> Vec<(&str, &str)> {
        file.steps
            .iter()
            .filter_map(|step| match step {
                Step::SignCaCertificate {
                    profile,
                    subject_key,
                    issuer_key,
                    ..
                } if *profile == wanted => Some((subject_key.as_str(), issuer_key.as_str())),
                _ => None,
            })
            .collect()
    };
    let (roots, issuings) = (
        signed(CaCertificateProfile::Root),
        signed(CaCertificateProfile::Issuing),
    );
    let [(root, _)] = roots.as_slice() else {
        return Err(invalid(format!(
            "the first key ceremony signs exactly one root certificate (this file signs {})",
            roots.len()
        )));
    };
    let [(issuing, issuer)] = issuings.as_slice() else {
        return Err(invalid(format!(
            "the first key ceremony signs exactly one issuing certificate (this file signs {})",
            issuings.len()
        )));
    };
    if issuer != root {
        return Err(invalid(format!(
            "the issuing certificate must be signed by the ceremony's root key {root:?}, not {issuer:?}"
        )));
    }
    for key in [root, issuing] {
        if !generated.contains(key) {
            return Err(invalid(format!(
                "the key {key:?} is not generated in this ceremony; the first ceremony certifies only keys it generates"
            )));
        }
    }
    if root == issuing {
        return Err(invalid(
            "the root and the issuing CA need two different keys",
        ));
    }
    Ok(FirstKeys {
        root_label: (*root).to_owned(),
        issuing_label: (*issuing).to_owned(),
    })
}

/// The first ceremony of a new instance, planned before anything is written: the file,
/// the keys it makes, and the statement the custodians approve.
#[derive(Debug, Clone)]
pub struct FirstPlan {
    pub file: CeremonyFile,
    pub keys: FirstKeys,
    pub instance: InstanceFacts,
    /// The custodians' names (their operator certificates' CN) and keys (DER
    /// SubjectPublicKeyInfo): their operator keys also sign their approvals.
    pub custodians: Vec<(String, Vec<u8>)>,
    pub statement: Statement,
    /// The statement's canonical bytes: what the custodians sign.
    pub statement_bytes: Vec<u8>,
}

impl FirstPlan {
    /// Checks `file` as a first ceremony of `instance` (which has no CA yet) and builds
    /// its statement with the custodians' keys pinned.
    pub fn new(
        file: CeremonyFile,
        instance: InstanceFacts,
        custodians: Vec<(String, Vec<u8>)>,
    ) -> Result<FirstPlan> {
        if instance.ca.is_some() {
            return Err(invalid(
                "the first key ceremony is for an instance without a CA",
            ));
        }
        let keys = first_keys(&file)?;
        let pins = custodians
            .iter()
            .map(|(name, spki)| (name.clone(), super::statement::sha256_hex(spki)))
            .collect();
        let statement = super::statement::build(&file, &instance, &pins)?;
        let statement_bytes = super::statement::canonical(&statement)?;
        Ok(FirstPlan {
            file,
            keys,
            instance,
            custodians,
            statement,
            statement_bytes,
        })
    }

    /// Checks the approvals (origin, bytes) against the statement and the threshold;
    /// returns the approving custodians. Nothing is recorded: the caller checks before
    /// it writes anything, and [`run_first`] checks again with the books.
    pub fn check_approvals(&self, approvals: &[(String, Vec<u8>)]) -> Result<Vec<String>> {
        let parsed = approvals
            .iter()
            .map(|(origin, bytes)| super::approval::parse(origin, bytes))
            .collect::<Result<Vec<_>>>()?;
        let keys: BTreeMap<String, Vec<u8>> = self.custodians.iter().cloned().collect();
        super::approval::check(&self.statement, &self.statement_bytes, &parsed, &keys)
    }
}

/// Where a first ceremony's effects go, and who runs it.
#[derive(Debug)]
pub struct FirstRun<'a> {
    pub approvals: &'a [(String, Vec<u8>)],
    /// `init`'s actor.
    pub actor: Actor,
    pub record_out: &'a Path,
    pub certificate_dir: &'a Path,
}

/// Runs the first ceremony of a new instance whose custodians hold `key_custodian` in the
/// organisation book already: enrols their keys as ceremony keys (ledgered
/// `ceremony.custodian_enrolled`), runs the ceremony (refused without M valid approvals,
/// every key generation and signature ledgered before it happens) and returns what the
/// instance adopts.
pub async fn run_first<S, B>(
    store: &S,
    roles: &dyn CustodianRoles,
    plan: &FirstPlan,
    run: FirstRun<'_>,
    backend: B,
    clock: &dyn Clock,
) -> Result<(RunOutcome, Adopted)>
where
    S: SettingsStore + LedgerStore + ?Sized,
    B: CeremonyBackend,
{
    for (name, spki) in &plan.custodians {
        super::custodians::enroll(store, roles, name, spki, &run.actor, clock.now()).await?;
    }
    let outcome = super::run::run(
        store,
        roles,
        RunOptions {
            file: &plan.file,
            instance: &plan.instance,
            root_key: "",
            issuing_key: "",
            approvals: run.approvals,
            operator: &run.actor.name,
            actor: run.actor.clone(),
            record_out: run.record_out,
            certificate_dir: run.certificate_dir,
        },
        || Ok(backend),
        clock,
    )
    .await?;
    let adopted = adopt(&outcome.contents, &plan.keys)?;
    Ok((outcome, adopted))
}

/// The root and issuing keys and certificates a completed first ceremony made, read from
/// its record (which `ceremony::run` verified before ledgering it).
pub fn adopt(record: &Record, keys: &FirstKeys) -> Result<Adopted> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let (mut root_key, mut issuing_key, mut root_der, mut issuing_der) = (None, None, None, None);
    for (step, result) in record.statement.steps.iter().zip(&record.results) {
        match (step, result) {
            (StatementStep::GenerateKey { label, .. }, StepResult::GenerateKey { uri, .. }) => {
                let key = KeyRef::parse(uri).map_err(|e| invalid(format!("key {uri}: {e}")))?;
                if *label == keys.root_label {
                    root_key = Some(key);
                } else if *label == keys.issuing_label {
                    issuing_key = Some(key);
                }
            }
            (
                StatementStep::SignCaCertificate(sign),
                StepResult::SignCaCertificate { certificate, .. },
            ) => {
                let der = b64
                    .decode(certificate)
                    .map_err(|_| invalid("a certificate in the record is not base64"))?;
                match sign.profile {
                    CaCertificateProfile::Root if sign.subject_key == keys.root_label => {
                        root_der = Some(der)
                    }
                    CaCertificateProfile::Issuing if sign.subject_key == keys.issuing_label => {
                        issuing_der = Some(der)
                    }
                    _ => {}
                }
            }
            _ => return Err(invalid("the record's results do not follow its statement")),
        }
    }
    match (root_key, issuing_key, root_der, issuing_der) {
        (Some(root_key), Some(issuing_key), Some(root_der), Some(issuing_der)) => Ok(Adopted {
            root_key,
            issuing_key,
            root_der,
            issuing_der,
        }),
        _ => Err(invalid(
            "the record lacks the root or the issuing key or certificate of the first ceremony",
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const FIRST: &str = r#"
id = "first-keys"
purpose = "The instance's root and issuing keys"
threshold = 1
custodians = ["a"]

[[steps]]
action = "generate_key"
label = "root-1"
algorithm = "p384"

[[steps]]
action = "sign_ca_certificate"
profile = "root"
subject_key = "root-1"
issuer_key = "root-1"
common_name = "Test Root"
not_before = "2026-01-01T00:00:00Z"
validity_days = 7300

[[steps]]
action = "generate_key"
label = "issuing-1"
algorithm = "p256"

[[steps]]
action = "sign_ca_certificate"
profile = "issuing"
subject_key = "issuing-1"
issuer_key = "root-1"
common_name = "Test Issuing"
not_before = "2026-01-01T00:00:00Z"
validity_days = 3650
"#;

    /// The software backend in a directory, naming keys as `init` does.
    struct Software(shuin_keys::SoftwareBackend);

    impl CeremonyBackend for Software {
        fn keys(&self) -> &dyn shuin_keys::KeyGenerator {
            &self.0
        }
        fn attributes(&self) -> Option<&dyn shuin_keys::KeyAttributes> {
            None
        }
        fn key_label(&self, label: &str) -> String {
            label.to_owned()
        }
        fn key_uri(&self, label: &str) -> KeyRef {
            KeyRef::software(&format!("{label}.key.pem"))
        }
    }

    struct Custodians;

    #[async_trait::async_trait]
    impl CustodianRoles for Custodians {
        async fn holds_key_custodian(&self, _name: &str) -> Result<bool> {
            Ok(true)
        }
    }

    /// Runs the first ceremony of [`FIRST`] with `approve` deciding whether custodian
    /// "a" approves; returns the outcome and whether the root key exists afterwards.
    async fn first_run(approve: bool) -> (Result<(RunOutcome, Adopted)>, bool) {
        use shuin_keys::{KeyBackend, KeySpec, Signer, SoftwareSigner};
        let (custodian, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
        let instance = InstanceFacts {
            public_url: "https://ca.example.jp".into(),
            policy_oid: "1.2.392.200091.99.1".into(),
            ca: None,
            key_backend: "software".into(),
            token: None,
        };
        let plan = FirstPlan::new(
            file(FIRST),
            instance,
            vec![("a".into(), custodian.public_key_der().to_vec())],
        )
        .unwrap();
        assert_eq!(plan.statement.instance.root_certificate_sha256, None);
        let dir = tempfile::tempdir().unwrap();
        let mut approvals = Vec::new();
        if approve {
            let approval = super::super::approval::approve(
                &plan.statement,
                &plan.statement_bytes,
                "a",
                &custodian,
            )
            .unwrap();
            approvals.push(("a.json".to_owned(), serde_json::to_vec(&approval).unwrap()));
            assert_eq!(plan.check_approvals(&approvals).unwrap(), ["a"]);
        }
        let store = shuin_store::sqlite::SqliteStore::in_memory().await.unwrap();
        let keys = dir.path().join("keys");
        let by = Actor {
            name: "shuin-init".into(),
            role: "ca_admin".into(),
            zone: "high_security".into(),
        };
        let outcome = run_first(
            &store,
            &Custodians,
            &plan,
            FirstRun {
                approvals: &approvals,
                actor: by,
                record_out: &dir.path().join("first.json"),
                certificate_dir: dir.path(),
            },
            Software(shuin_keys::SoftwareBackend::new(&keys)),
            &shuin_core::SystemClock,
        )
        .await;
        let root_exists = shuin_keys::SoftwareBackend::new(&keys)
            .signer(&KeyRef::software("root-1.key.pem"))
            .is_ok();
        (outcome, root_exists)
    }

    #[tokio::test]
    async fn an_approved_first_ceremony_gives_the_instance_its_root_and_issuing_ca() {
        let (outcome, root_exists) = first_run(true).await;
        let (_, adopted) = outcome.unwrap();
        assert!(root_exists);
        assert_eq!(adopted.root_key.as_str(), "soft:root-1.key.pem");
        assert_eq!(adopted.issuing_key.as_str(), "soft:issuing-1.key.pem");
        let root = <x509_cert::Certificate as der::Decode>::from_der(&adopted.root_der).unwrap();
        let issuing =
            <x509_cert::Certificate as der::Decode>::from_der(&adopted.issuing_der).unwrap();
        assert_eq!(issuing.tbs_certificate.issuer, root.tbs_certificate.subject);
    }

    #[tokio::test]
    async fn without_the_approvals_the_first_ceremony_generates_nothing() {
        let (outcome, root_exists) = first_run(false).await;
        assert!(
            matches!(outcome, Err(crate::ceremony::CeremonyError::Refused { .. })),
            "{:?}",
            outcome.err()
        );
        assert!(!root_exists, "a key was generated without M approvals");
    }

    fn file(text: &str) -> CeremonyFile {
        CeremonyFile::parse(text, "test").unwrap()
    }

    #[test]
    fn a_first_ceremony_names_its_root_and_issuing_keys() {
        assert_eq!(
            first_keys(&file(FIRST)).unwrap(),
            FirstKeys {
                root_label: "root-1".into(),
                issuing_label: "issuing-1".into()
            }
        );
    }

    #[test]
    fn a_ceremony_without_an_issuing_certificate_cannot_be_first() {
        let text = FIRST.split("[[steps]]\naction = \"generate_key\"\nlabel = \"issuing-1\"");
        let only_root = text.into_iter().next().unwrap();
        let e = first_keys(&file(only_root)).unwrap_err().to_string();
        assert!(e.contains("exactly one issuing certificate"), "{e}");
    }

    #[test]
    fn a_ceremony_that_certifies_the_instance_keys_cannot_be_first() {
        let text = FIRST.replace(
            "subject_key = \"issuing-1\"\nissuer_key = \"root-1\"",
            "subject_key = \"issuing\"\nissuer_key = \"root-1\"",
        );
        let e = first_keys(&file(&text)).unwrap_err().to_string();
        assert!(e.contains("not generated in this ceremony"), "{e}");
    }
}
