//! What a backend says about one key, read when the CA opens its keys (survey item F4,
//! theme ❸ 3-3): a PKCS#11 key's attributes and token, or a KMS key's metadata. The
//! issuer key policy of DESIGN.md section 7 has a KMS form too: the key was made inside
//! the provider's HSMs (not imported), is for signing, and is enabled.

use crate::{KeyAttributeEvidence, KeyError, KeyRef};
use serde::{Deserialize, Serialize};

/// One key's facts, by backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "snake_case")]
pub enum KeyFacts {
    /// The private key's attributes and the token that holds it.
    Pkcs11 {
        /// As `C_GetAttributeValue` and `C_GetTokenInfo` report them.
        attributes: KeyAttributeEvidence,
    },
    /// The key's metadata (`DescribeKey`).
    Awskms {
        /// As KMS reports it.
        metadata: KmsKeyFacts,
    },
    /// A key in a file: there is no module to describe.
    Software,
}

/// What KMS says about a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmsKeyFacts {
    /// The key's ARN.
    pub arn: String,
    /// The region the client used.
    pub region: String,
    /// e.g. `ECC_NIST_P256`.
    pub key_spec: Option<String>,
    /// `SIGN_VERIFY` for a CA key.
    pub key_usage: Option<String>,
    /// `AWS_KMS` (generated in KMS), `EXTERNAL` (imported), `AWS_CLOUDHSM` or
    /// `EXTERNAL_KEY_STORE`.
    pub origin: Option<String>,
    /// `CUSTOMER` or `AWS`.
    pub key_manager: Option<String>,
    /// e.g. `Enabled`, `PendingDeletion`.
    pub key_state: Option<String>,
    /// Whether the key can be used.
    pub enabled: bool,
    /// Whether it is a multi-Region key.
    pub multi_region: Option<bool>,
    /// RFC 3339, when KMS reports it.
    pub creation_date: Option<String>,
    /// The custom key store (CloudHSM cluster), if any.
    pub custom_key_store_id: Option<String>,
    /// The CloudHSM cluster, if any.
    pub cloud_hsm_cluster_id: Option<String>,
}

/// A backend that can describe its keys.
pub trait KeyFactsReader: Send + Sync {
    /// The facts of the key named by `key`.
    fn key_facts(&self, key: &KeyRef) -> Result<KeyFacts, KeyError>;

    /// The key's access policy document, where the backend keeps one with the key (the
    /// KMS key policy, `GetKeyPolicy`); `None` where access is not the key's own (a
    /// PKCS#11 token's PIN).
    fn key_policy(&self, key: &KeyRef) -> Result<Option<String>, KeyError> {
        let _ = key;
        Ok(None)
    }
}

/// The issuer key policy for a KMS key: generated in the provider's HSMs (`AWS_KMS` or
/// `AWS_CLOUDHSM`, never imported or held outside), usable for signing only, enabled.
/// The error names the first failing field.
pub fn check_kms_key_policy(facts: &KmsKeyFacts) -> Result<(), KeyError> {
    let violation = |attribute, found: Option<&str>, required| KeyError::PolicyViolation {
        uri: format!("awskms:{}", facts.arn),
        attribute,
        found: found.unwrap_or("not reported").to_owned(),
        required,
    };
    let origin = facts.origin.as_deref();
    if !matches!(origin, Some("AWS_KMS" | "AWS_CLOUDHSM")) {
        return Err(violation("Origin", origin, "AWS_KMS or AWS_CLOUDHSM"));
    }
    let usage = facts.key_usage.as_deref();
    if usage != Some("SIGN_VERIFY") {
        return Err(violation("KeyUsage", usage, "SIGN_VERIFY"));
    }
    if !facts.enabled || facts.key_state.as_deref() != Some("Enabled") {
        return Err(violation("KeyState", facts.key_state.as_deref(), "Enabled"));
    }
    Ok(())
}

impl KeyFacts {
    /// The issuer key policy's verdict on these facts (PKCS#11 attributes, or the KMS
    /// form); a software key fails it.
    pub fn issuer_policy(&self) -> Result<(), KeyError> {
        match self {
            KeyFacts::Pkcs11 { attributes } => crate::check_issuer_key_policy(attributes),
            KeyFacts::Awskms { metadata } => check_kms_key_policy(metadata),
            KeyFacts::Software => Err(KeyError::PolicyViolation {
                uri: "soft:".into(),
                attribute: "backend",
                found: "software".into(),
                required: "an HSM or KMS",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kms() -> KmsKeyFacts {
        KmsKeyFacts {
            arn: "arn:aws:kms:ap-northeast-1:1:key/k".into(),
            region: "ap-northeast-1".into(),
            key_spec: Some("ECC_NIST_P256".into()),
            key_usage: Some("SIGN_VERIFY".into()),
            origin: Some("AWS_KMS".into()),
            key_manager: Some("CUSTOMER".into()),
            key_state: Some("Enabled".into()),
            enabled: true,
            multi_region: Some(false),
            creation_date: None,
            custom_key_store_id: None,
            cloud_hsm_cluster_id: None,
        }
    }

    #[test]
    fn a_kms_key_made_in_kms_for_signing_passes() {
        assert!(check_kms_key_policy(&kms()).is_ok());
        let cloudhsm = KmsKeyFacts {
            origin: Some("AWS_CLOUDHSM".into()),
            ..kms()
        };
        assert!(check_kms_key_policy(&cloudhsm).is_ok());
    }

    #[test]
    fn imported_disabled_or_unreported_kms_keys_fail_naming_the_field() {
        let refused = |facts: KmsKeyFacts, field: &str| {
            let e = check_kms_key_policy(&facts).err().map(|e| e.to_string());
            assert!(
                e.as_deref().is_some_and(|e| e.contains(field)),
                "{field}: {e:?}"
            );
        };
        refused(
            KmsKeyFacts {
                origin: Some("EXTERNAL".into()),
                ..kms()
            },
            "Origin",
        );
        refused(
            KmsKeyFacts {
                origin: None,
                ..kms()
            },
            "Origin",
        );
        refused(
            KmsKeyFacts {
                key_usage: Some("ENCRYPT_DECRYPT".into()),
                ..kms()
            },
            "KeyUsage",
        );
        refused(
            KmsKeyFacts {
                enabled: false,
                key_state: Some("Disabled".into()),
                ..kms()
            },
            "KeyState",
        );
        assert!(KeyFacts::Software.issuer_policy().is_err());
    }
}
