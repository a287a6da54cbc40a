//! A ceremony signs only what the facility book already holds: the fakes here count
//! signatures and refuse one kind of ledger entry.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::ceremony::InstanceCa;
use crate::ceremony::{
    approve, enroll, identity_of_certificate, serial, tbs_for, CaCertificateProfile, SignStep,
};
use shuin_core::{SignatureAlgorithm, SystemClock};
use shuin_keys::{BackendInfo, KeyBackend, KeyError, SoftwareSigner};
use shuin_ledger::Entry;
use shuin_store::sqlite::SqliteStore;
use shuin_store::{KeyedDraft, StoreError};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A store whose ledger refuses entries of one kind.
struct FailingLedger {
    inner: SqliteStore,
    fail_kind: &'static str,
}

#[async_trait::async_trait]
impl SettingsStore for FailingLedger {
    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.inner.setting(key).await
    }
    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.inner.set_setting(key, value).await
    }
}

#[async_trait::async_trait]
impl LedgerStore for FailingLedger {
    async fn append(
        &self,
        draft: EntryDraft,
        time: std::time::SystemTime,
    ) -> Result<Entry, StoreError> {
        if draft.kind == self.fail_kind {
            return Err(StoreError::Unavailable("the ledger is down".into()));
        }
        self.inner.append(draft, time).await
    }
    async fn append_batch(
        &self,
        drafts: Vec<KeyedDraft>,
        time: std::time::SystemTime,
    ) -> Result<Vec<Entry>, StoreError> {
        self.inner.append_batch(drafts, time).await
    }
    async fn ledger_rows_from(
        &self,
        from: u64,
    ) -> Result<Vec<shuin_ledger::StoredEntry>, StoreError> {
        self.inner.ledger_rows_from(from).await
    }
    async fn ledger_rows_page(
        &self,
        from: u64,
        limit: u64,
    ) -> Result<Vec<shuin_ledger::StoredEntry>, StoreError> {
        self.inner.ledger_rows_page(from, limit).await
    }
    async fn ledger_head(&self) -> Result<Option<shuin_ledger::TreeHead>, StoreError> {
        self.inner.ledger_head().await
    }
}

struct EveryoneHoldsTheRole;

#[async_trait::async_trait]
impl CustodianRoles for EveryoneHoldsTheRole {
    async fn holds_key_custodian(&self, _name: &str) -> Result<bool> {
        Ok(true)
    }
}

/// A software signer that counts its signatures.
#[derive(Debug)]
struct CountingSigner {
    inner: SoftwareSigner,
    signed: Arc<AtomicUsize>,
}

impl Signer for CountingSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.inner.algorithm()
    }
    fn public_key_der(&self) -> &[u8] {
        self.inner.public_key_der()
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.signed.fetch_add(1, Ordering::SeqCst);
        self.inner.sign(message)
    }
}

/// The instance's root and issuing keys; generates nothing.
#[derive(Debug)]
struct InstanceKeys {
    signers: BTreeMap<String, Arc<dyn Signer>>,
}

impl KeyBackend for InstanceKeys {
    fn signer(&self, key: &KeyRef) -> std::result::Result<Arc<dyn Signer>, KeyError> {
        self.signers
            .get(key.as_str())
            .cloned()
            .ok_or_else(|| KeyError::NotFound {
                uri: key.to_string(),
            })
    }
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: "software".into(),
            production_grade: false,
            note: "test".into(),
        }
    }
}

impl KeyGenerator for InstanceKeys {
    fn generate(&self, _label: &str, _spec: KeySpec) -> std::result::Result<KeyRef, KeyError> {
        Err(KeyError::GenerationFailed)
    }
}

impl CeremonyBackend for InstanceKeys {
    fn keys(&self) -> &dyn KeyGenerator {
        self
    }
    fn attributes(&self) -> Option<&dyn KeyAttributes> {
        None
    }
    fn key_label(&self, label: &str) -> String {
        label.to_owned()
    }
    fn key_uri(&self, label: &str) -> KeyRef {
        KeyRef::software(&format!("{label}.key.pem"))
    }
}

const POLICY: &str = "1.2.392.200091.99.1";

fn certificate(
    profile: CaCertificateProfile,
    subject: &dyn Signer,
    issuer: &dyn Signer,
    issuer_der: Option<&[u8]>,
) -> Vec<u8> {
    let issuing = profile == CaCertificateProfile::Issuing;
    let step = SignStep {
        profile,
        subject_key: "s".into(),
        issuer_key: "i".into(),
        serial: serial("00", "setup", usize::from(issuing))
            .unwrap()
            .to_hex(),
        common_name: format!("Test {profile:?}"),
        organization: None,
        not_before: "2026-01-01T00:00:00Z".into(),
        not_after: "2036-01-01T00:00:00Z".into(),
        signature_algorithm: issuer.algorithm().name().into(),
        policy_oid: issuing.then(|| POLICY.into()),
        root_crl_url: issuing.then(|| "https://ca.example.jp/repository/root.crl".into()),
        root_certificate_url: issuing.then(|| "https://ca.example.jp/repository/root.crt".into()),
        issuer_certificate_sha256: None,
        issuer_step: None,
        subject_public_key_sha256: None,
        tbs_sha256: None,
    };
    let identity = issuer_der.map(|der| identity_of_certificate(der).unwrap().0);
    let (tbs, bytes) = tbs_for(&step, subject.public_key_der(), identity.as_ref()).unwrap();
    let signature = issuer.sign(&bytes).unwrap();
    assemble_certificate(tbs, &signature)
        .unwrap()
        .to_der()
        .unwrap()
}

const RECERTIFY: &str = r#"
id = "recertify"
purpose = "Certify the issuing key again"
threshold = 1
custodians = ["a"]
[[steps]]
action = "sign_ca_certificate"
profile = "issuing"
subject_key = "issuing"
issuer_key = "root"
common_name = "Test Issuing again"
not_before = "2026-06-01T00:00:00Z"
validity_days = 365
"#;

/// Runs a one-step ceremony (the root certifies the issuing key again) on a store
/// whose ledger refuses `fail_kind`; returns the outcome, the signatures made with
/// the instance keys during the run, the kinds ledgered and the output directory.
async fn recertify(
    fail_kind: &'static str,
) -> (Result<RunOutcome>, usize, Vec<String>, tempfile::TempDir) {
    let (root, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let (issuing, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let root_der = certificate(CaCertificateProfile::Root, &root, &root, None);
    let issuing_der = certificate(
        CaCertificateProfile::Issuing,
        &issuing,
        &root,
        Some(&root_der),
    );
    let instance = InstanceFacts {
        public_url: "https://ca.example.jp".into(),
        policy_oid: POLICY.into(),
        ca: Some(InstanceCa {
            root_der,
            issuing_der,
        }),
        key_backend: "software".into(),
        token: None,
    };
    let store = FailingLedger {
        inner: SqliteStore::in_memory().await.unwrap(),
        fail_kind,
    };
    let actor = Actor {
        name: "admin".into(),
        role: "ca_admin".into(),
        zone: "high_security".into(),
    };
    let (custodian, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    enroll(
        &store,
        &EveryoneHoldsTheRole,
        "a",
        custodian.public_key_der(),
        &actor,
        SystemClock.now(),
    )
    .await
    .unwrap();
    let file: CeremonyFile = toml::from_str(RECERTIFY).unwrap();
    file.check().unwrap();
    let (statement, bytes) = statement_for(&store, &instance, &file).await.unwrap();
    let approval = approve(&statement, &bytes, "a", &custodian).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let approval_path = dir.path().join("a.json");
    std::fs::write(&approval_path, serde_json::to_vec(&approval).unwrap()).unwrap();

    let signed = Arc::new(AtomicUsize::new(0));
    let counting = |inner: SoftwareSigner| -> Arc<dyn Signer> {
        Arc::new(CountingSigner {
            inner,
            signed: signed.clone(),
        })
    };
    let backend = InstanceKeys {
        signers: [
            ("soft:root.key.pem".to_owned(), counting(root)),
            ("soft:issuing.key.pem".to_owned(), counting(issuing)),
        ]
        .into_iter()
        .collect(),
    };
    let approvals = [(
        approval_path.display().to_string(),
        std::fs::read(&approval_path).expect("approval"),
    )];
    let options = RunOptions {
        file: &file,
        instance: &instance,
        root_key: "soft:root.key.pem",
        issuing_key: "soft:issuing.key.pem",
        approvals: &approvals,
        operator: "admin",
        actor,
        record_out: &dir.path().join("record.json"),
        certificate_dir: &dir.path().join("ca"),
    };
    let outcome = run(
        &store,
        &EveryoneHoldsTheRole,
        options,
        || Ok(backend),
        &SystemClock,
    )
    .await;
    let kinds = store
        .inner
        .ledger_rows()
        .await
        .unwrap()
        .into_iter()
        .map(|row| Entry::from_canonical(&row.canonical).unwrap().kind)
        .collect();
    (outcome, signed.load(Ordering::SeqCst), kinds, dir)
}

#[tokio::test]
async fn a_ceremony_signs_once_after_ledgering_the_signing() {
    let (outcome, signed, kinds, dir) = recertify("none").await;
    let outcome = outcome.unwrap();
    assert_eq!(signed, 1);
    assert_eq!(
        kinds,
        [
            "ceremony.custodian_enrolled",
            "ceremony.started",
            "ca_certificate.signing",
            "ca_certificate.issued",
            "ceremony.completed"
        ]
    );
    assert!(outcome.record.starts_with(dir.path()) && outcome.record.exists());
    assert_eq!(outcome.certificates.len(), 1);
}

#[tokio::test]
async fn when_the_ledger_refuses_the_signing_entry_nothing_is_signed() {
    let (outcome, signed, kinds, dir) = recertify("ca_certificate.signing").await;
    let error = outcome.unwrap_err();
    assert!(
        matches!(&error, CeremonyError::Failed { source, .. } if matches!(**source, CeremonyError::Ledger(_))),
        "{error}"
    );
    assert_eq!(signed, 0, "a signature was made without its ledger entry");
    assert_eq!(
        kinds,
        [
            "ceremony.custodian_enrolled",
            "ceremony.started",
            "ceremony.failed"
        ]
    );
    assert!(!dir.path().join("record.json").exists());
    assert!(!dir.path().join("ca").exists());
}
