//! The ceremony record (statement, custodians' keys, approvals, witnesses, resulting
//! keys and certificates), as written into the facility book (`ceremony.completed`) and
//! to a file, and its offline verification: `shuin ceremony verify --record FILE` needs
//! nothing but the file.

use super::approval::Approval;
use super::error::{at_step, not_verified, Context, Result};
use super::file::CaCertificateProfile;
use super::statement::{
    identity_of_certificate, sha256_hex, spki_algorithm, Statement, StatementStep,
};
use base64::Engine;
use der::{Decode, Encode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The record's `format`.
pub const RECORD_FORMAT: &str = "shuin-ceremony-record/1";

/// What a completed ceremony did, with everything needed to check it offline.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub format: String,
    /// The statement the custodians approved.
    pub statement: Statement,
    /// SHA-256 of its canonical bytes.
    pub statement_sha256: String,
    /// The enrolled keys of the statement's custodians.
    pub custodian_keys: Vec<CustodianKey>,
    pub approvals: Vec<Approval>,
    /// The `ca_admin` who ran it.
    pub operator: String,
    pub started_at: String,
    pub completed_at: String,
    /// One per statement step, in order.
    pub results: Vec<StepResult>,
}

/// A custodian's enrolled key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustodianKey {
    pub name: String,
    /// DER SubjectPublicKeyInfo, standard base64.
    pub public_key: String,
}

/// What a step produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepResult {
    GenerateKey {
        label: String,
        /// The key's URI in the backend.
        uri: String,
        /// `software`, `pkcs11` or `awskms`.
        backend: String,
        production_grade: bool,
        /// DER SubjectPublicKeyInfo, standard base64.
        public_key: String,
        public_key_sha256: String,
        /// The backend's evidence (`key.attributes`): PKCS#11 attributes or KMS key
        /// metadata; absent for software keys.
        attributes: Option<serde_json::Value>,
        policy_passed: Option<bool>,
        /// The KMS key policy document, as `GetKeyPolicy` gave it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_policy: Option<serde_json::Value>,
    },
    SignCaCertificate {
        serial: String,
        tbs_sha256: String,
        /// DER, standard base64.
        certificate: String,
        certificate_sha256: String,
        /// The instance's root certificate when it is the issuer (DER, base64).
        issuer_certificate: Option<String>,
    },
    /// The termination was approved and recorded (`termination.approved`); the server
    /// carries it out (docs/termination.md).
    TerminateBusiness { approved: bool },
}

/// The canonical bytes of any serialisable value.
pub fn canonical_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let value = serde_json::to_value(value).context("encoding")?;
    shuin_ledger::canonical::to_canonical_bytes(&value).context("canonical JSON")
}

fn decode(what: &str, text: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| not_verified(format!("{what} is not base64")))
}

/// What an offline verification found.
#[derive(Debug, Serialize)]
pub struct Verified {
    pub ceremony_id: String,
    pub statement_sha256: String,
    pub approved_by: Vec<String>,
    pub threshold: u8,
    pub witnesses: Vec<String>,
    pub keys: Vec<String>,
    pub certificates: Vec<String>,
}

/// Verifies a record on its own: the statement's hash, each approval against the
/// custodian keys pinned by the statement, the threshold, every generated key against
/// its statement step and every certificate (its TBS rebuilt from the statement, and its
/// signature by the issuer). Errors name the first thing that does not hold.
pub fn verify(record: &Record) -> Result<Verified> {
    if record.format != RECORD_FORMAT {
        return Err(not_verified(format!(
            "record format {:?}: expected {RECORD_FORMAT}",
            record.format
        )));
    }
    let statement = &record.statement;
    let statement_bytes = super::statement::canonical(statement)?;
    if sha256_hex(&statement_bytes) != record.statement_sha256 {
        return Err(not_verified(format!(
            "the statement's sha256 is {}, the record says {}: the statement was altered",
            sha256_hex(&statement_bytes),
            record.statement_sha256
        )));
    }
    let mut keys = BTreeMap::new();
    for custodian in &record.custodian_keys {
        let der = decode("a custodian key", &custodian.public_key)?;
        let pinned = statement
            .custodians
            .iter()
            .find(|c| c.name == custodian.name)
            .ok_or_else(|| {
                not_verified(format!(
                    "{:?} is not a custodian of the statement",
                    custodian.name
                ))
            })?;
        if sha256_hex(&der) != pinned.public_key_sha256 {
            return Err(not_verified(format!(
                "the key recorded for custodian {:?} is not the one the statement pins",
                custodian.name
            )));
        }
        keys.insert(custodian.name.clone(), der);
    }
    let approved_by =
        super::approval::check(statement, &statement_bytes, &record.approvals, &keys)?;
    if record.results.len() != statement.steps.len() {
        return Err(not_verified(format!(
            "the statement has {} steps, the record {} results",
            statement.steps.len(),
            record.results.len()
        )));
    }
    // Public keys generated, and certificates made, by step.
    let mut generated: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut certificates: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    let mut verified = Verified {
        ceremony_id: statement.ceremony_id.clone(),
        statement_sha256: record.statement_sha256.clone(),
        approved_by,
        threshold: statement.threshold,
        witnesses: statement.witnesses.clone(),
        keys: Vec::new(),
        certificates: Vec::new(),
    };
    for (index, (step, result)) in statement.steps.iter().zip(&record.results).enumerate() {
        let number = u32::try_from(index + 1).context("step count")?;
        let at = |e: String| at_step(number, not_verified(e));
        match (step, result) {
            (
                StatementStep::GenerateKey { label, algorithm },
                StepResult::GenerateKey {
                    label: made,
                    public_key,
                    public_key_sha256,
                    policy_passed,
                    uri,
                    ..
                },
            ) => {
                if label != made {
                    return Err(at(format!(
                        "generated {made:?} where {label:?} was approved"
                    )));
                }
                let der = decode("public_key", public_key).map_err(|e| at_step(number, e))?;
                if &sha256_hex(&der) != public_key_sha256 {
                    return Err(at("public_key_sha256 does not match the public key".into()));
                }
                let spec = shuin_keys::KeySpec::parse(algorithm)
                    .ok_or_else(|| at(format!("unknown algorithm {algorithm:?}")))?;
                if spki_algorithm(&der).map_err(|e| at_step(number, e))?
                    != super::statement::spec_algorithm(spec)
                {
                    return Err(at(format!("the generated key is not a {algorithm} key")));
                }
                if *policy_passed == Some(false) {
                    return Err(at("the key failed the issuer key policy".into()));
                }
                verified
                    .keys
                    .push(format!("{label} {uri} sha256 {public_key_sha256}"));
                generated.insert(label.clone(), der);
            }
            (
                StatementStep::SignCaCertificate(sign),
                StepResult::SignCaCertificate {
                    serial,
                    tbs_sha256,
                    certificate,
                    certificate_sha256,
                    issuer_certificate,
                },
            ) => {
                let der = decode("certificate", certificate).map_err(|e| at_step(number, e))?;
                if &sha256_hex(&der) != certificate_sha256 {
                    return Err(at(
                        "certificate_sha256 does not match the certificate".into()
                    ));
                }
                let cert = x509_cert::Certificate::from_der(&der)
                    .map_err(|e| at(format!("not a certificate: {e}")))?;
                let cert_spki = cert
                    .tbs_certificate
                    .subject_public_key_info
                    .to_der()
                    .map_err(|e| at(e.to_string()))?;
                // The subject key: generated in this ceremony, or pinned by the statement.
                match generated.get(&sign.subject_key) {
                    Some(spki) if *spki != cert_spki => {
                        return Err(at(format!(
                            "the certificate does not certify the key generated as {:?}",
                            sign.subject_key
                        )))
                    }
                    Some(_) => {}
                    None if sign.subject_public_key_sha256.as_deref()
                        != Some(sha256_hex(&cert_spki).as_str()) =>
                    {
                        return Err(at(
                            "the certificate does not certify the approved key".into()
                        ))
                    }
                    None => {}
                }
                // The issuer: itself, the instance root, or a root made by an earlier step.
                let issuer_der = match (
                    sign.profile,
                    &sign.issuer_certificate_sha256,
                    sign.issuer_step,
                ) {
                    (CaCertificateProfile::Root, _, _) => None,
                    (CaCertificateProfile::Issuing, Some(pinned), _) => {
                        let issuer = decode(
                            "issuer_certificate",
                            issuer_certificate.as_deref().unwrap_or_default(),
                        )
                        .map_err(|e| at_step(number, e))?;
                        if sha256_hex(&issuer) != *pinned {
                            return Err(at(
                                "the issuer certificate is not the root the statement names".into(),
                            ));
                        }
                        Some(issuer)
                    }
                    (CaCertificateProfile::Issuing, None, Some(step)) => Some(
                        certificates
                            .get(&step)
                            .cloned()
                            .ok_or_else(|| at(format!("step {step} made no certificate")))?,
                    ),
                    _ => return Err(at("the statement names no issuer".into())),
                };
                let (issuer_identity, issuer_spki) = match &issuer_der {
                    Some(issuer) => {
                        let (identity, spki) =
                            identity_of_certificate(issuer).map_err(|e| at_step(number, e))?;
                        (Some(identity), spki)
                    }
                    None => (None, cert_spki.clone()),
                };
                let (_, expected) =
                    super::statement::tbs_for(sign, &cert_spki, issuer_identity.as_ref())
                        .map_err(|e| at_step(number, e))?;
                let actual = cert
                    .tbs_certificate
                    .to_der()
                    .map_err(|e| at(e.to_string()))?;
                if actual != expected {
                    return Err(at(
                        "the certificate's TBS is not the one the statement describes".into(),
                    ));
                }
                if *tbs_sha256 != sha256_hex(&actual)
                    || sign.tbs_sha256.as_ref().is_some_and(|h| *h != *tbs_sha256)
                    || *serial != sign.serial
                {
                    return Err(at(
                        "the TBS hash or serial differs from the approved one".into()
                    ));
                }
                let signature = cert
                    .signature
                    .as_bytes()
                    .ok_or_else(|| at("signature bits".into()))?;
                shuin_core::signature::verify(
                    &issuer_spki,
                    cert.signature_algorithm.oid,
                    &actual,
                    signature,
                )
                .map_err(|_| {
                    at("the certificate's signature does not verify with the issuer key".into())
                })?;
                verified.certificates.push(format!(
                    "{} serial {} sha256 {certificate_sha256}",
                    sign.common_name, sign.serial
                ));
                certificates.insert(number, der);
            }
            (StatementStep::TerminateBusiness(_), StepResult::TerminateBusiness { approved }) => {
                if !approved {
                    return Err(at("the termination was not recorded".into()));
                }
            }
            _ => return Err(at("the result is not of the statement's kind".into())),
        }
    }
    Ok(verified)
}
