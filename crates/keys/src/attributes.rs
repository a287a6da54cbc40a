//! Key attribute evidence (an optional backend power) and the issuer key policy of
//! DESIGN.md section 7: an issuer key must be sensitive, non-extractable, never have been
//! extractable, and have been generated on the token.

use crate::{KeyBackend, KeyError, KeyRef};
use serde::{Deserialize, Serialize};

/// The token that holds a key, as it describes itself (`C_GetTokenInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenFacts {
    /// `label`.
    pub label: String,
    /// `manufacturerID`.
    pub manufacturer: String,
    /// `model`.
    pub model: String,
    /// `serialNumber`.
    pub serial: String,
    /// `firmwareVersion`, `major.minor`.
    pub firmware_version: String,
    /// `hardwareVersion`, `major.minor`.
    pub hardware_version: String,
}

/// What a token says about one private key. An attribute the token did not report is
/// `None` (PKCS#11 lets `C_GetAttributeValue` leave attributes out), and the policy treats
/// a missing attribute as a failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAttributeEvidence {
    /// The key's URI.
    pub uri: String,
    /// `CKA_KEY_TYPE` (`rsa` or `ec`).
    pub key_type: String,
    /// `CKA_ID`, hex.
    pub id_hex: String,
    /// `CKA_SENSITIVE`.
    pub sensitive: Option<bool>,
    /// `CKA_EXTRACTABLE`.
    pub extractable: Option<bool>,
    /// `CKA_NEVER_EXTRACTABLE`.
    pub never_extractable: Option<bool>,
    /// `CKA_ALWAYS_SENSITIVE`.
    pub always_sensitive: Option<bool>,
    /// `CKA_LOCAL` (generated on the token).
    pub local: Option<bool>,
    /// The token.
    pub token: TokenFacts,
}

/// A backend that can report a key's attributes.
pub trait KeyAttributes: KeyBackend {
    /// Reads the attributes of the private key named by `key`.
    fn attributes(&self, key: &KeyRef) -> Result<KeyAttributeEvidence, KeyError>;
}

/// Checks DESIGN.md section 7: `CKA_SENSITIVE=true`, `CKA_EXTRACTABLE=false`,
/// `CKA_NEVER_EXTRACTABLE=true`, `CKA_LOCAL=true`. The error names the first failing
/// attribute.
pub fn check_issuer_key_policy(evidence: &KeyAttributeEvidence) -> Result<(), KeyError> {
    let rules: [(&'static str, Option<bool>, bool); 4] = [
        ("CKA_SENSITIVE", evidence.sensitive, true),
        ("CKA_EXTRACTABLE", evidence.extractable, false),
        ("CKA_NEVER_EXTRACTABLE", evidence.never_extractable, true),
        ("CKA_LOCAL", evidence.local, true),
    ];
    for (attribute, found, required) in rules {
        if found != Some(required) {
            return Err(KeyError::PolicyViolation {
                uri: evidence.uri.clone(),
                attribute,
                found: found.map_or_else(|| "not reported".to_owned(), |b| b.to_string()),
                required: if required { "true" } else { "false" },
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> KeyAttributeEvidence {
        KeyAttributeEvidence {
            uri: "pkcs11:token=t;object=k".into(),
            key_type: "rsa".into(),
            id_hex: "01".into(),
            sensitive: Some(true),
            extractable: Some(false),
            never_extractable: Some(true),
            always_sensitive: Some(true),
            local: Some(true),
            token: TokenFacts {
                label: "t".into(),
                manufacturer: "m".into(),
                model: "x".into(),
                serial: "1".into(),
                firmware_version: "2.6".into(),
                hardware_version: "2.6".into(),
            },
        }
    }

    #[test]
    fn the_policy_names_the_failing_attribute() {
        assert!(check_issuer_key_policy(&good()).is_ok());
        type Edit = fn(&mut KeyAttributeEvidence);
        let cases: [(Edit, &str); 5] = [
            (|e| e.sensitive = Some(false), "CKA_SENSITIVE is false"),
            (|e| e.extractable = Some(true), "CKA_EXTRACTABLE is true"),
            (
                |e| e.never_extractable = Some(false),
                "CKA_NEVER_EXTRACTABLE is false",
            ),
            (|e| e.local = None, "CKA_LOCAL is not reported"),
            (|e| e.extractable = None, "CKA_EXTRACTABLE is not reported"),
        ];
        for (edit, text) in cases {
            let mut evidence = good();
            edit(&mut evidence);
            let error = check_issuer_key_policy(&evidence).unwrap_err().to_string();
            assert!(error.contains(text), "{error}");
        }
    }

    #[test]
    fn evidence_is_json() {
        let json = serde_json::to_value(good()).unwrap();
        assert_eq!(json["extractable"], false);
        assert_eq!(json["token"]["model"], "x");
        let back: KeyAttributeEvidence = serde_json::from_value(json).unwrap();
        assert_eq!(back, good());
    }
}
