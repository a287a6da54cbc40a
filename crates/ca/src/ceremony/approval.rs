//! Custodian approvals: each custodian signs the canonical statement bytes with their
//! own enrolled credential (a PKCS#8 key file, or a key on their own PKCS#11 token), on
//! any machine, without the instance. The checks here are shared by `ceremony run` and
//! the offline `ceremony verify`.

use super::error::{custodian_error, CeremonyError, Context, Result};
use super::statement::{sha256_hex, Statement};
use base64::Engine;
use serde::{Deserialize, Serialize};
use shuin_keys::Signer;
use std::collections::{BTreeMap, BTreeSet};

/// The approval's `format`.
pub const APPROVAL_FORMAT: &str = "shuin-ceremony-approval/1";

/// One custodian's signature over one statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    pub format: String,
    pub ceremony_id: String,
    /// SHA-256 of the canonical statement bytes that were signed.
    pub statement_sha256: String,
    /// The custodian's name as enrolled.
    pub custodian: String,
    /// The signing key's SubjectPublicKeyInfo (DER, standard base64).
    pub public_key: String,
    /// `rsa-pkcs1-sha256`, `ecdsa-p256-sha256` or `ecdsa-p384-sha384`.
    pub signature_algorithm: String,
    /// Over the canonical statement bytes (standard base64).
    pub signature: String,
}

/// Signs `statement_bytes` (already checked to be a canonical statement) as `custodian`.
pub fn approve(
    statement: &Statement,
    statement_bytes: &[u8],
    custodian: &str,
    signer: &dyn Signer,
) -> Result<Approval> {
    let spki = signer.public_key_der();
    let pinned = statement
        .custodians
        .iter()
        .find(|c| c.name == custodian)
        .ok_or_else(|| {
            custodian_error(format!(
                "{custodian:?} is not a custodian of ceremony {}",
                statement.ceremony_id
            ))
        })?;
    if pinned.public_key_sha256 != sha256_hex(spki) {
        return Err(custodian_error(format!(
            "this credential is not the key enrolled for {custodian:?} (enrolled key sha256 {}, this key {})",
            pinned.public_key_sha256,
            sha256_hex(spki)
        )));
    }
    let signature = signer
        .sign(statement_bytes)
        .context("signing the statement")?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(Approval {
        format: APPROVAL_FORMAT.into(),
        ceremony_id: statement.ceremony_id.clone(),
        statement_sha256: sha256_hex(statement_bytes),
        custodian: custodian.to_owned(),
        public_key: b64.encode(spki),
        signature_algorithm: signer.algorithm().name().into(),
        signature: b64.encode(signature),
    })
}

/// Reads an approval file.
pub fn read(path: &std::path::Path) -> Result<Approval> {
    let bytes = std::fs::read(path).context(path.display())?;
    parse(&path.display().to_string(), &bytes)
}

/// Parses an approval's bytes; `origin` names it in errors (a file, or a request's
/// attachment).
pub(super) fn parse(origin: &str, bytes: &[u8]) -> Result<Approval> {
    serde_json::from_slice(bytes).context(format!("{origin}: not a ceremony approval"))
}

/// Checks `approvals` of `statement` against the custodians' keys (`keys`: name to DER
/// SubjectPublicKeyInfo, from the registry or from a record) and the threshold. Any bad
/// approval refuses the whole set, naming it; returns the approving custodians.
pub fn check(
    statement: &Statement,
    statement_bytes: &[u8],
    approvals: &[Approval],
    keys: &BTreeMap<String, Vec<u8>>,
) -> Result<Vec<String>> {
    let statement_sha256 = sha256_hex(statement_bytes);
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut seen = BTreeSet::new();
    for (index, approval) in approvals.iter().enumerate() {
        let who = &approval.custodian;
        let refuse = |reason: String| CeremonyError::Approval {
            number: index + 1,
            custodian: who.clone(),
            reason,
        };
        if approval.format != APPROVAL_FORMAT {
            return Err(refuse(format!(
                "format {:?} is not {APPROVAL_FORMAT}",
                approval.format
            )));
        }
        if approval.statement_sha256 != statement_sha256
            || approval.ceremony_id != statement.ceremony_id
        {
            return Err(refuse(format!(
                "it approves another statement (ceremony {}, sha256 {}); this one is ceremony {}, sha256 {statement_sha256}",
                approval.ceremony_id, approval.statement_sha256, statement.ceremony_id
            )));
        }
        let Some(pinned) = statement.custodians.iter().find(|c| &c.name == who) else {
            return Err(refuse("not a custodian of this ceremony".into()));
        };
        if !seen.insert(who.clone()) {
            return Err(refuse(
                "this custodian has approved already; each counts once".into(),
            ));
        }
        let enrolled = keys
            .get(who)
            .ok_or_else(|| refuse("no enrolled key for this custodian".into()))?;
        let given = b64
            .decode(&approval.public_key)
            .map_err(|_| refuse("public_key is not base64".into()))?;
        if &given != enrolled || sha256_hex(enrolled) != pinned.public_key_sha256 {
            return Err(refuse(format!(
                "signed with a key that is not the one enrolled for this custodian (enrolled sha256 {})",
                pinned.public_key_sha256
            )));
        }
        let algorithm = super::statement::algorithm_by_name(&approval.signature_algorithm)
            .ok_or_else(|| {
                refuse(format!(
                    "unknown signature_algorithm {:?}",
                    approval.signature_algorithm
                ))
            })?;
        let signature = b64
            .decode(&approval.signature)
            .map_err(|_| refuse("signature is not base64".into()))?;
        shuin_core::signature::verify(
            enrolled,
            algorithm.algorithm_identifier().oid,
            statement_bytes,
            &signature,
        )
        .map_err(|_| refuse("the signature does not verify with the enrolled key: the approval was altered or signs other bytes".into()))?;
    }
    if seen.len() < usize::from(statement.threshold) {
        return Err(CeremonyError::BelowThreshold {
            ceremony_id: statement.ceremony_id.clone(),
            threshold: statement.threshold,
            valid: seen.len(),
        });
    }
    Ok(seen.into_iter().collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::ceremony::statement::{InstanceBinding, StatementCustodian, StatementStep};
    use shuin_keys::{KeySpec, SoftwareSigner};

    fn statement(keys: &[(&str, &SoftwareSigner)]) -> Statement {
        Statement {
            format: crate::ceremony::statement::STATEMENT_FORMAT.into(),
            ceremony_id: "c1".into(),
            purpose: "test".into(),
            threshold: 2,
            instance: InstanceBinding {
                public_url: "https://ca.example.jp".into(),
                root_certificate_sha256: Some("00".into()),
                key_backend: "software".into(),
                token: None,
            },
            custodians: keys
                .iter()
                .map(|(name, signer)| StatementCustodian {
                    name: (*name).into(),
                    public_key_sha256: sha256_hex(signer.public_key_der()),
                })
                .collect(),
            witnesses: vec![],
            steps: vec![StatementStep::GenerateKey {
                label: "k".into(),
                algorithm: "p256".into(),
            }],
        }
    }

    #[test]
    fn approvals_are_checked_one_by_one_and_counted() {
        let (a, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
        let (b, _) = SoftwareSigner::generate(KeySpec::Rsa2048).unwrap();
        let (c, _) = SoftwareSigner::generate(KeySpec::EcP384).unwrap();
        let statement = statement(&[("a", &a), ("b", &b)]);
        let bytes = crate::ceremony::statement::canonical(&statement).unwrap();
        let keys: BTreeMap<String, Vec<u8>> = [("a", &a), ("b", &b)]
            .iter()
            .map(|(n, s)| ((*n).to_owned(), s.public_key_der().to_vec()))
            .collect();
        let approve_a = approve(&statement, &bytes, "a", &a).unwrap();
        let approve_b = approve(&statement, &bytes, "b", &b).unwrap();
        let both = [approve_a.clone(), approve_b.clone()];
        assert_eq!(check(&statement, &bytes, &both, &keys).unwrap(), ["a", "b"]);

        let error = |approvals: &[Approval]| {
            check(&statement, &bytes, approvals, &keys)
                .unwrap_err()
                .to_string()
        };
        assert!(error(std::slice::from_ref(&approve_a)).contains("needs 2"));
        assert!(error(&[approve_a.clone(), approve_a.clone()]).contains("approved already"));
        let mut forged = approve_a.clone();
        forged.custodian = "b".into();
        assert!(error(&[approve_a.clone(), forged]).contains("not the one enrolled"));
        let mut stranger = approve_b.clone();
        stranger.custodian = "c".into();
        assert!(error(&[approve_a.clone(), stranger]).contains("not a custodian"));
        let mut flipped = approve_b.clone();
        let mut signature = base64::engine::general_purpose::STANDARD
            .decode(&flipped.signature)
            .unwrap();
        signature[10] ^= 1;
        flipped.signature = base64::engine::general_purpose::STANDARD.encode(signature);
        assert!(error(&[approve_a.clone(), flipped]).contains("does not verify"));
        let other = {
            let mut s = statement.clone();
            s.purpose = "something else".into();
            s
        };
        let other_bytes = crate::ceremony::statement::canonical(&other).unwrap();
        let stale = approve(&other, &other_bytes, "b", &b).unwrap();
        assert!(error(&[approve_a, stale]).contains("another statement"));
        // A credential that is not the enrolled one cannot even make an approval.
        assert!(approve(&statement, &bytes, "a", &c).is_err());
    }
}
