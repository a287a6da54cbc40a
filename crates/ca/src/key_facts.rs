//! The CA's keys described each time they are opened (at start, or at unseal on a sealed
//! instance): one `key.facts` entry in the facility book names every key the CA uses,
//! its URI and what its backend says about it (PKCS#11 attributes and token, or KMS key
//! metadata), with the issuer key policy's verdict. The audit pack shows these as read,
//! and a key that could not be described as missing (docs/audit-pack.md, "Keys").

use crate::checkpoint::AUDIT_KEY_SETTING;
use crate::config::CaSection;
use crate::ocsp_responder::OCSP_KEY_SETTING;
use serde::Serialize;
use shuin_keys::config::OpenedBackend;
use shuin_keys::{KeyFacts, KeyRef};
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{LedgerStore, SettingsStore, StoreError};
use std::time::SystemTime;

/// What a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyRole {
    /// Signs the issuing CA's certificate and the root CRL.
    Root,
    /// Signs subscriber certificates and CRLs.
    Issuing,
    /// Certifies operators' and nodes' keys.
    OperatorCa,
    /// Signs OCSP responses.
    Ocsp,
    /// Signs ledger checkpoints.
    Audit,
}

impl KeyRole {
    /// The role's name in entries (`key:<name>` subjects).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRole::Root => "root",
            KeyRole::Issuing => "issuing",
            KeyRole::OperatorCa => "operator_ca",
            KeyRole::Ocsp => "ocsp",
            KeyRole::Audit => "audit",
        }
    }
}

/// One key as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyDescription {
    /// What it is for.
    pub role: KeyRole,
    /// Its URI.
    pub uri: String,
    /// What the backend says; `None` when it could not say (see `error`).
    pub facts: Option<KeyFacts>,
    /// Why the facts could not be read.
    pub error: Option<String>,
    /// The issuer key policy's verdict on the facts: `None` when it passed.
    pub policy_failure: Option<String>,
}

/// The keys `ca` names and the OCSP and audit keys the settings name.
pub async fn key_uris<S: SettingsStore + ?Sized>(
    ca: &CaSection,
    store: &S,
) -> Result<Vec<(KeyRole, String)>, StoreError> {
    let mut keys = vec![
        (KeyRole::Root, ca.root_key.clone()),
        (KeyRole::Issuing, ca.issuing_key.clone()),
    ];
    if let Some(key) = &ca.operator_ca_key {
        keys.push((KeyRole::OperatorCa, key.clone()));
    }
    for (role, setting) in [
        (KeyRole::Ocsp, OCSP_KEY_SETTING),
        (KeyRole::Audit, AUDIT_KEY_SETTING),
    ] {
        if let Some(uri) = store.setting(setting).await? {
            keys.push((role, uri));
        }
    }
    Ok(keys)
}

/// Describes each key (this blocks: it asks the token or KMS).
pub fn describe(backend: &OpenedBackend, keys: &[(KeyRole, String)]) -> Vec<KeyDescription> {
    keys.iter()
        .map(|(role, uri)| {
            let read = KeyRef::parse(uri).and_then(|key| backend.key_facts(&key));
            let (facts, error) = match read {
                Ok(Some(facts)) => (Some(facts), None),
                Ok(None) => (None, Some("the backend does not describe its keys".into())),
                Err(e) => (None, Some(e.to_string())),
            };
            let policy_failure = match &facts {
                Some(f) => f.issuer_policy().err().map(|e| e.to_string()),
                None => Some("no facts to check".into()),
            };
            KeyDescription {
                role: *role,
                uri: uri.clone(),
                facts,
                error,
                policy_failure,
            }
        })
        .collect()
}

/// Records the descriptions in the facility book (`key.facts`); `at` is `start` or
/// `unseal`.
pub async fn record<S: LedgerStore + ?Sized>(
    store: &S,
    backend_kind: &str,
    described: &[KeyDescription],
    at: &str,
    now: SystemTime,
) -> Result<(), StoreError> {
    let draft = EntryDraft {
        book: Book::Facility,
        kind: "key.facts".into(),
        actor: Actor {
            name: "shuin-ca".into(),
            role: "system".into(),
            zone: "high_security".into(),
        },
        subjects: described
            .iter()
            .map(|d| format!("key:{}", d.role.as_str()))
            .collect(),
        payload: serde_json::json!({"at": at, "backend": backend_kind, "keys": described}),
        evidence: vec![],
    };
    store.append(draft, now).await.map(|_| ())
}

/// Why the issuing key is refused on its facts.
#[derive(Debug, thiserror::Error)]
#[error("refusing the issuing key: {0}")]
pub struct IssuingKeyRefused(String);

/// A KMS issuing key must pass the KMS form of the issuer key policy (a PKCS#11 key's
/// attributes are checked before the backend is handed over; software keys are for
/// development).
pub fn admit_kms_issuing_key(described: &[KeyDescription]) -> Result<(), IssuingKeyRefused> {
    for d in described {
        if let (KeyRole::Issuing, Some(KeyFacts::Awskms { .. }), Some(why)) =
            (d.role, &d.facts, &d.policy_failure)
        {
            return Err(IssuingKeyRefused(why.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use shuin_keys::{KeyError, KeyFactsReader, KmsKeyFacts};
    use shuin_store::sqlite::SqliteStore;

    struct Kms(Option<&'static str>);

    impl KeyFactsReader for Kms {
        fn key_facts(&self, key: &KeyRef) -> Result<KeyFacts, KeyError> {
            let Some(origin) = self.0 else {
                return Err(KeyError::NotFound {
                    uri: key.to_string(),
                });
            };
            Ok(KeyFacts::Awskms {
                metadata: KmsKeyFacts {
                    arn: "arn:aws:kms:ap-northeast-1:1:key/k".into(),
                    region: "ap-northeast-1".into(),
                    key_spec: Some("ECC_NIST_P256".into()),
                    key_usage: Some("SIGN_VERIFY".into()),
                    origin: Some(origin.into()),
                    key_manager: Some("CUSTOMER".into()),
                    key_state: Some("Enabled".into()),
                    enabled: true,
                    multi_region: None,
                    creation_date: None,
                    custom_key_store_id: None,
                    cloud_hsm_cluster_id: None,
                },
            })
        }
    }

    fn backend(describer: Option<Kms>) -> OpenedBackend {
        OpenedBackend {
            keys: Box::new(shuin_keys::SoftwareBackend::new("keys")),
            attributes: None,
            describer: describer.map(|d| -> Box<dyn KeyFactsReader> { Box::new(d) }),
        }
    }

    fn keys() -> Vec<(KeyRole, String)> {
        vec![
            (KeyRole::Root, "awskms:root".into()),
            (KeyRole::Issuing, "awskms:issuing".into()),
        ]
    }

    #[test]
    fn software_keys_are_described_as_software_and_fail_the_policy() {
        let described = describe(&backend(None), &[(KeyRole::Issuing, "soft:i.pem".into())]);
        assert_eq!(described[0].facts, Some(KeyFacts::Software));
        assert!(described[0].error.is_none());
        assert!(described[0].policy_failure.is_some());
        // Software keys are for development: their facts do not refuse them.
        assert!(admit_kms_issuing_key(&described).is_ok());
    }

    #[test]
    fn an_imported_kms_issuing_key_is_refused_and_a_generated_one_admitted() {
        let imported = describe(&backend(Some(Kms(Some("EXTERNAL")))), &keys());
        let refused = admit_kms_issuing_key(&imported).err().unwrap().to_string();
        assert!(refused.contains("Origin"), "{refused}");
        let made = describe(&backend(Some(Kms(Some("AWS_KMS")))), &keys());
        assert!(made.iter().all(|d| d.policy_failure.is_none()));
        assert!(admit_kms_issuing_key(&made).is_ok());
    }

    #[test]
    fn a_key_that_cannot_be_read_is_recorded_with_its_error_not_as_fine() {
        let described = describe(&backend(Some(Kms(None))), &keys());
        assert!(described[0].facts.is_none());
        assert!(described[0]
            .error
            .as_deref()
            .unwrap()
            .contains("awskms:root"));
        assert_eq!(
            described[0].policy_failure.as_deref(),
            Some("no facts to check")
        );
        let bad_uri = describe(&backend(None), &[(KeyRole::Audit, "nonsense".into())]);
        assert!(bad_uri[0].error.is_some());
    }

    #[tokio::test]
    async fn the_descriptions_go_into_the_facility_book_naming_each_key() {
        let store = SqliteStore::in_memory().await.unwrap();
        let described = describe(&backend(Some(Kms(Some("AWS_KMS")))), &keys());
        record(
            &store,
            "awskms",
            &described,
            "start",
            SystemTime::UNIX_EPOCH,
        )
        .await
        .unwrap();
        let rows = store.ledger_rows().await.unwrap();
        let entry = shuin_ledger::Entry::from_canonical(&rows[0].canonical).unwrap();
        assert_eq!(entry.kind, "key.facts");
        assert_eq!(entry.book, Book::Facility);
        assert_eq!(entry.subjects, ["key:root", "key:issuing"]);
        assert_eq!(entry.payload["keys"][1]["role"], "issuing");
        assert_eq!(entry.payload["keys"][1]["facts"]["backend"], "awskms");
        assert_eq!(
            entry.payload["keys"][1]["facts"]["metadata"]["origin"],
            "AWS_KMS"
        );
    }

    #[tokio::test]
    async fn the_ocsp_and_audit_keys_come_from_the_settings() {
        let store = SqliteStore::in_memory().await.unwrap();
        let ca: CaSection = toml::from_str(
            "root_key = \"soft:root\"\nissuing_key = \"soft:issuing\"\nroot_certificate = \"r.pem\"\nissuing_certificate = \"i.pem\"\npolicy_oid = \"1.2.392.1\"\n[key_backend]\nkind = \"software\"\ndir = \"keys\"\n",
        )
        .unwrap();
        assert_eq!(key_uris(&ca, &store).await.unwrap().len(), 2);
        store
            .set_setting(OCSP_KEY_SETTING, "soft:ocsp")
            .await
            .unwrap();
        store
            .set_setting(AUDIT_KEY_SETTING, "soft:audit")
            .await
            .unwrap();
        let roles: Vec<_> = key_uris(&ca, &store)
            .await
            .unwrap()
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        assert_eq!(
            roles,
            [
                KeyRole::Root,
                KeyRole::Issuing,
                KeyRole::Ocsp,
                KeyRole::Audit
            ]
        );
    }
}
