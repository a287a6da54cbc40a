//! The evidence of a key just made, in `init` or in a key ceremony: what its backend
//! says about it, recorded as `key.attributes` in the facility book before the key is
//! used, with the issuer key policy's verdict (DESIGN.md section 7). A PKCS#11 key gives
//! its attributes and token; a KMS key its metadata and its key policy document (survey
//! item F4, theme ❸ 3-3). A backend that cannot describe keys (software) gives none.

use serde_json::{json, Value};
use shuin_keys::{
    check_issuer_key_policy, check_kms_key_policy, KeyAttributes, KeyError, KeyFacts,
    KeyFactsReader, KeyRef,
};

/// What was read about a new key, and the policy's verdict on it.
#[derive(Debug)]
pub struct GeneratedKeyEvidence {
    /// `pkcs11` or `awskms`.
    pub backend: &'static str,
    /// The PKCS#11 attribute evidence, or the KMS key metadata.
    pub attributes: Value,
    /// The key's policy document, where the backend keeps one (KMS): JSON when it
    /// parses, the text otherwise.
    pub key_policy: Option<Value>,
    /// The issuer key policy's verdict; its error names the failing attribute.
    pub verdict: Result<(), KeyError>,
}

impl GeneratedKeyEvidence {
    /// The `key.attributes` entry's payload.
    pub fn payload(&self) -> Value {
        let mut payload = json!({
            "backend": self.backend,
            "attributes": self.attributes,
            "policy_passed": self.verdict.is_ok(),
        });
        if let Some(policy) = &self.key_policy {
            payload["key_policy"] = policy.clone();
        }
        payload
    }
}

/// Reads what the backend says about `key`: through `attributes` (PKCS#11) when the
/// backend has that, else through `describer` (KMS). `Ok(None)` when it has neither.
pub fn read(
    attributes: Option<&dyn KeyAttributes>,
    describer: Option<&dyn KeyFactsReader>,
    key: &KeyRef,
) -> Result<Option<GeneratedKeyEvidence>, KeyError> {
    if let Some(reader) = attributes {
        let evidence = reader.attributes(key)?;
        return Ok(Some(GeneratedKeyEvidence {
            backend: "pkcs11",
            attributes: to_value(key, &evidence)?,
            key_policy: None,
            verdict: check_issuer_key_policy(&evidence),
        }));
    }
    let Some(describer) = describer else {
        return Ok(None);
    };
    let facts = describer.key_facts(key)?;
    let (backend, attributes, verdict) = match &facts {
        KeyFacts::Pkcs11 { attributes } => (
            "pkcs11",
            to_value(key, attributes)?,
            check_issuer_key_policy(attributes),
        ),
        KeyFacts::Awskms { metadata } => (
            "awskms",
            to_value(key, metadata)?,
            check_kms_key_policy(metadata),
        ),
        KeyFacts::Software => return Ok(None),
    };
    let key_policy = describer
        .key_policy(key)?
        .map(|text| serde_json::from_str(&text).unwrap_or(Value::String(text)));
    Ok(Some(GeneratedKeyEvidence {
        backend,
        attributes,
        key_policy,
        verdict,
    }))
}

fn to_value<T: serde::Serialize>(key: &KeyRef, evidence: &T) -> Result<Value, KeyError> {
    serde_json::to_value(evidence).map_err(|e| KeyError::Rejected {
        uri: key.to_string(),
        reason: format!("its evidence cannot be recorded: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shuin_keys::KmsKeyFacts;

    /// A KMS as a describer: the key's metadata with `origin`, and a policy document.
    struct Kms {
        origin: &'static str,
        policy: &'static str,
    }

    impl KeyFactsReader for Kms {
        fn key_facts(&self, key: &KeyRef) -> Result<KeyFacts, KeyError> {
            Ok(KeyFacts::Awskms {
                metadata: KmsKeyFacts {
                    arn: key.as_str().trim_start_matches("awskms:").into(),
                    region: "ap-northeast-1".into(),
                    key_spec: Some("ECC_NIST_P256".into()),
                    key_usage: Some("SIGN_VERIFY".into()),
                    origin: Some(self.origin.into()),
                    key_manager: Some("CUSTOMER".into()),
                    key_state: Some("Enabled".into()),
                    enabled: true,
                    multi_region: Some(false),
                    creation_date: None,
                    custom_key_store_id: None,
                    cloud_hsm_cluster_id: None,
                },
            })
        }

        fn key_policy(&self, _key: &KeyRef) -> Result<Option<String>, KeyError> {
            Ok(Some(self.policy.into()))
        }
    }

    fn key() -> KeyRef {
        KeyRef::aws_kms("arn:aws:kms:ap-northeast-1:123456789012:key/k")
    }

    #[test]
    fn a_kms_key_gives_its_metadata_and_policy_document() {
        let kms = Kms {
            origin: "AWS_KMS",
            policy: r#"{"Version":"2012-10-17","Statement":[]}"#,
        };
        let evidence = read(None, Some(&kms), &key()).unwrap().unwrap();
        assert!(evidence.verdict.is_ok());
        let payload = evidence.payload();
        assert_eq!(payload["backend"], "awskms");
        assert_eq!(payload["attributes"]["origin"], "AWS_KMS");
        assert_eq!(payload["key_policy"]["Version"], "2012-10-17");
        assert_eq!(payload["policy_passed"], true);
    }

    #[test]
    fn an_imported_kms_key_fails_the_policy_and_says_so() {
        let kms = Kms {
            origin: "EXTERNAL",
            policy: "not json",
        };
        let evidence = read(None, Some(&kms), &key()).unwrap().unwrap();
        let error = evidence.verdict.as_ref().unwrap_err().to_string();
        assert!(error.contains("Origin"), "{error}");
        let payload = evidence.payload();
        assert_eq!(payload["policy_passed"], false);
        assert_eq!(payload["key_policy"], "not json");
    }

    #[test]
    fn a_backend_that_cannot_describe_gives_nothing() {
        assert!(read(None, None, &key()).unwrap().is_none());
    }
}
