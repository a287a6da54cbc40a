//! The ceremony statement: what custodians approve. It is RFC 8785 canonical JSON made
//! from the ceremony file and the instance, reproducibly, so `ceremony run` rebuilds it
//! byte for byte and checks that the approvals sign exactly these bytes.
//!
//! A key that the ceremony generates does not exist when custodians approve, so a
//! signing step that certifies it cannot carry the TBS hash. The statement then commits
//! to every TBS field but the public key (serial, names, validity, profile, issuer, URLs,
//! policy): `ceremony verify` rebuilds the TBS from the statement and the generated key
//! recorded in the record and requires the certificate's TBS to be exactly that. A step
//! that certifies an existing key with an existing issuer carries `tbs_sha256` itself.

use super::error::{invalid, CeremonyError, Context, Result};
use super::file::{CaCertificateProfile, CeremonyFile, Step, INSTANCE_ROOT};
use der::{Decode, Encode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shuin_core::issuance::{CaProfile, IssuerIdentity};
use shuin_core::key_policy::AcceptedKey;
use shuin_core::x509::name::NameBuilder;
use shuin_core::x509::template::tbs_der;
use shuin_core::{Serial, SignatureAlgorithm};
use shuin_keys::KeySpec;
use spki::SubjectPublicKeyInfoOwned;
use std::collections::BTreeMap;
use std::time::Duration;
use x509_cert::certificate::TbsCertificate;

/// The statement's `format`.
pub const STATEMENT_FORMAT: &str = "shuin-ceremony-statement/1";

/// What custodians approve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    pub format: String,
    pub ceremony_id: String,
    pub purpose: String,
    pub threshold: u8,
    pub instance: InstanceBinding,
    pub custodians: Vec<StatementCustodian>,
    pub witnesses: Vec<String>,
    pub steps: Vec<StatementStep>,
}

/// The instance the ceremony belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceBinding {
    pub public_url: String,
    /// SHA-256 of the instance's root certificate (DER) when the statement was made;
    /// `null` for the first key ceremony, which makes the instance's root.
    pub root_certificate_sha256: Option<String>,
    /// `software` or `pkcs11`.
    pub key_backend: String,
    /// The token label for PKCS#11.
    pub token: Option<String>,
}

/// A custodian who may approve, pinned to the enrolled key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementCustodian {
    pub name: String,
    /// SHA-256 of the enrolled SubjectPublicKeyInfo (DER).
    pub public_key_sha256: String,
}

/// One step as approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum StatementStep {
    GenerateKey { label: String, algorithm: String },
    SignCaCertificate(Box<SignStep>),
    TerminateBusiness(TerminateStep),
}

/// A termination step: exactly what the file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminateStep {
    pub reason: String,
    pub successor: Option<String>,
    pub final_crl_days: u32,
}

/// A signing step: every TBS field but, for a key generated in the ceremony, the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignStep {
    pub profile: CaCertificateProfile,
    pub subject_key: String,
    pub issuer_key: String,
    /// Hex; derived from the instance, the ceremony id and the step (see [`serial`]).
    pub serial: String,
    pub common_name: String,
    pub organization: Option<String>,
    pub not_before: String,
    pub not_after: String,
    /// The signature algorithm of the issuer key.
    pub signature_algorithm: String,
    /// Issuing profile: the accredited policy and the root's repository URLs.
    pub policy_oid: Option<String>,
    pub root_crl_url: Option<String>,
    pub root_certificate_url: Option<String>,
    /// The issuer is the instance's root certificate with this SHA-256 ...
    pub issuer_certificate_sha256: Option<String>,
    /// ... or the root certificate made by this (1-based) step; both absent when
    /// self-signed.
    pub issuer_step: Option<u32>,
    /// SHA-256 of the subject key when it exists before the ceremony.
    pub subject_public_key_sha256: Option<String>,
    /// SHA-256 of the TBSCertificate when it is known before the ceremony.
    pub tbs_sha256: Option<String>,
}

/// What the statement needs from the instance.
#[derive(Debug, Clone)]
pub struct InstanceFacts {
    pub public_url: String,
    pub policy_oid: String,
    /// The instance's CA certificates; `None` before the first key ceremony.
    pub ca: Option<InstanceCa>,
    pub key_backend: String,
    pub token: Option<String>,
}

/// The CA certificates of an instance (DER).
#[derive(Debug, Clone)]
pub struct InstanceCa {
    pub root_der: Vec<u8>,
    pub issuing_der: Vec<u8>,
}

/// What a serial is derived from: the instance's root certificate, or, in the first key
/// ceremony (no root yet), the instance's URL and the custodians' keys, so that two
/// instances' first ceremonies do not share serials.
fn serial_seed(instance: &InstanceFacts, custodians: &[StatementCustodian]) -> String {
    match &instance.ca {
        Some(ca) => sha256_hex(&ca.root_der),
        None => {
            let mut seed = format!("first-ceremony\0{}", instance.public_url);
            for custodian in custodians {
                seed.push('\0');
                seed.push_str(&custodian.public_key_sha256);
            }
            sha256_hex(seed.as_bytes())
        }
    }
}

/// The signature algorithm a key of `spec` signs with.
pub fn spec_algorithm(spec: KeySpec) -> SignatureAlgorithm {
    match spec {
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
            SignatureAlgorithm::RsaPkcs1Sha256
        }
        KeySpec::EcP256 => SignatureAlgorithm::EcdsaP256Sha256,
        KeySpec::EcP384 => SignatureAlgorithm::EcdsaP384Sha384,
    }
}

/// The signature algorithm of a public key (RSA, EC P-256 or P-384 as the key policy
/// accepts them).
pub fn spki_algorithm(spki_der: &[u8]) -> Result<SignatureAlgorithm> {
    match shuin_core::key_policy::check_subscriber_key(spki_der) {
        Ok(AcceptedKey::Rsa { .. }) => Ok(SignatureAlgorithm::RsaPkcs1Sha256),
        Ok(AcceptedKey::EcP256) => Ok(SignatureAlgorithm::EcdsaP256Sha256),
        Ok(AcceptedKey::EcP384) => Ok(SignatureAlgorithm::EcdsaP384Sha384),
        Err(e) => Err(invalid(format!("unusable public key: {}", e.detail))),
    }
}

/// Parses an algorithm name as [`SignatureAlgorithm::name`] writes it.
pub fn algorithm_by_name(name: &str) -> Option<SignatureAlgorithm> {
    [
        SignatureAlgorithm::RsaPkcs1Sha256,
        SignatureAlgorithm::EcdsaP256Sha256,
        SignatureAlgorithm::EcdsaP384Sha384,
    ]
    .into_iter()
    .find(|a| a.name() == name)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The serial of step `index` (0-based): 16 bytes of SHA-256 over a label, the root
/// certificate's hash (or, in the first ceremony, a seed from the instance's URL and the
/// custodians' keys), the ceremony id and the index, positive with the top byte never
/// zero. A ceremony id runs once per instance, so serials do not repeat; the content of
/// a CA certificate is chosen by the custodians, so the serial needs no unpredictability
/// against a requester.
pub fn serial(seed: &str, ceremony_id: &str, index: usize) -> Result<Serial> {
    let digest = Sha256::new()
        .chain_update(b"shuin-ceremony-serial\0")
        .chain_update(seed.as_bytes())
        .chain_update(b"\0")
        .chain_update(ceremony_id.as_bytes())
        .chain_update(b"\0")
        .chain_update(index.to_string().as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Serial::from_magnitude(&bytes).ok_or_else(|| CeremonyError::Internal("ceremony serial".into()))
}

/// The subject and issuer of a certificate as a ceremony needs them.
pub fn identity_of_certificate(der: &[u8]) -> Result<(IssuerIdentity, Vec<u8>)> {
    let cert = x509_cert::Certificate::from_der(der).context("certificate")?;
    let spki = cert.tbs_certificate.subject_public_key_info.clone();
    let spki_der = spki.to_der().context("certificate public key")?;
    Ok((
        IssuerIdentity {
            name: cert.tbs_certificate.subject.clone(),
            key_id: shuin_core::x509::extensions::key_identifier(&spki),
        },
        spki_der,
    ))
}

/// The TBSCertificate of `step` for the subject key `subject_spki_der`, under `issuer`
/// (`None` when self-signed), linted.
pub fn tbs_for(
    step: &SignStep,
    subject_spki_der: &[u8],
    issuer: Option<&IssuerIdentity>,
) -> Result<(TbsCertificate, Vec<u8>)> {
    let spki = SubjectPublicKeyInfoOwned::from_der(subject_spki_der).context("subject key")?;
    let mut name = NameBuilder::new().country("JP").context("subject name")?;
    if let Some(organization) = &step.organization {
        name = name.organization(organization).context("subject name")?;
    }
    let subject = name
        .common_name(&step.common_name)
        .context("subject name")?
        .build();
    let serial = Serial::from_hex(&step.serial).ok_or_else(|| invalid("statement serial"))?;
    let not_before = shuin_core::timefmt::parse_rfc3339(&step.not_before)
        .ok_or_else(|| invalid("statement not_before"))?;
    let not_after = shuin_core::timefmt::parse_rfc3339(&step.not_after)
        .ok_or_else(|| invalid("statement not_after"))?;
    let validity = not_after
        .duration_since(not_before)
        .map_err(|_| invalid("statement validity ends before it starts"))?;
    let algorithm = algorithm_by_name(&step.signature_algorithm)
        .ok_or_else(|| invalid("statement signature_algorithm"))?;
    let template = match (step.profile, issuer) {
        (CaCertificateProfile::Root, None) => {
            CaProfile::root(subject, spki, serial, not_before, validity)
        }
        (CaCertificateProfile::Issuing, Some(root)) => {
            let policy = step
                .policy_oid
                .as_deref()
                .and_then(shuin_core::signature::parse_oid)
                .ok_or_else(|| invalid("statement policy_oid"))?;
            CaProfile::issuing(
                root,
                subject,
                spki,
                serial,
                not_before,
                validity,
                policy,
                step.root_crl_url.as_deref().unwrap_or_default(),
                step.root_certificate_url.as_deref().unwrap_or_default(),
            )
        }
        _ => {
            return Err(CeremonyError::Internal(
                "profile and issuer do not match".into(),
            ))
        }
    }
    .context("certificate template")?;
    let tbs = template.to_tbs(algorithm).context("TBS")?;
    let findings = shuin_core::lint::lint_tbs(&tbs);
    if !findings.is_empty() {
        return Err(invalid(format!(
            "the certificate of {:?} fails lint: {findings:?}",
            step.common_name
        )));
    }
    let bytes = tbs_der(&tbs).context("TBS")?;
    Ok((tbs, bytes))
}

/// A key the ceremony knows at this step: the instance's, or one generated earlier.
fn known_key<'a>(
    keys: &'a BTreeMap<String, (SignatureAlgorithm, Option<Vec<u8>>)>,
    name: &str,
) -> Result<&'a (SignatureAlgorithm, Option<Vec<u8>>)> {
    keys.get(name).ok_or_else(|| {
        if name == INSTANCE_ROOT || name == super::file::INSTANCE_ISSUING {
            invalid(format!(
                "the key {name:?} names the instance's {name} key, and this instance has none yet: the first key ceremony generates its keys under new labels"
            ))
        } else {
            invalid(format!("unknown key {name:?}"))
        }
    })
}

/// Builds the statement. `custodian_keys` maps each enrolled custodian to the SHA-256 of
/// the enrolled key.
pub fn build(
    file: &CeremonyFile,
    instance: &InstanceFacts,
    custodian_keys: &BTreeMap<String, String>,
) -> Result<Statement> {
    let base = instance.public_url.trim_end_matches('/');
    let mut custodians = Vec::new();
    for name in &file.custodians {
        let key = custodian_keys.get(name).ok_or_else(|| {
            invalid(format!(
                "custodian {name:?} is not enrolled (at init, give their --custodian-csr; on a running instance, `shuin ceremony enroll-custodian`)"
            ))
        })?;
        custodians.push(StatementCustodian {
            name: name.clone(),
            public_key_sha256: key.clone(),
        });
    }
    let seed = serial_seed(instance, &custodians);
    // Per key: its algorithm, and its public key when it exists already; the instance's
    // root (hash and identity) when it has one.
    let mut keys: BTreeMap<String, (SignatureAlgorithm, Option<Vec<u8>>)> = BTreeMap::new();
    let mut instance_root = None;
    if let Some(ca) = &instance.ca {
        let (root_identity, root_spki) = identity_of_certificate(&ca.root_der)?;
        let (_, issuing_spki) = identity_of_certificate(&ca.issuing_der)?;
        keys.insert(
            INSTANCE_ROOT.into(),
            (spki_algorithm(&root_spki)?, Some(root_spki)),
        );
        keys.insert(
            super::file::INSTANCE_ISSUING.into(),
            (spki_algorithm(&issuing_spki)?, Some(issuing_spki)),
        );
        instance_root = Some((sha256_hex(&ca.root_der), root_identity));
    }
    // Root certificates made in this ceremony: key -> (step number, identity if known).
    let mut made_roots: BTreeMap<String, (u32, Option<IssuerIdentity>)> = BTreeMap::new();
    let mut steps = Vec::new();
    for (index, step) in file.steps.iter().enumerate() {
        match step {
            Step::TerminateBusiness {
                reason,
                successor,
                final_crl_days,
            } => steps.push(StatementStep::TerminateBusiness(TerminateStep {
                reason: reason.clone(),
                successor: successor.clone(),
                final_crl_days: *final_crl_days,
            })),
            Step::GenerateKey { label, algorithm } => {
                let spec = KeySpec::parse(algorithm)
                    .ok_or_else(|| invalid(format!("algorithm {algorithm:?}")))?;
                keys.insert(label.clone(), (spec_algorithm(spec), None));
                steps.push(StatementStep::GenerateKey {
                    label: label.clone(),
                    algorithm: algorithm.clone(),
                });
            }
            Step::SignCaCertificate {
                profile,
                subject_key,
                issuer_key,
                common_name,
                organization,
                not_before,
                validity_days,
            } => {
                let start = shuin_core::timefmt::parse_rfc3339(not_before)
                    .ok_or_else(|| invalid(format!("not_before {not_before:?}")))?;
                let end = start + Duration::from_secs(u64::from(*validity_days) * 86_400);
                let (algorithm, _) = known_key(&keys, issuer_key)?;
                let subject_spki = known_key(&keys, subject_key)?.1.clone();
                let issuing = *profile == CaCertificateProfile::Issuing;
                let (issuer_certificate_sha256, issuer_step, issuer) = match profile {
                    CaCertificateProfile::Root => (None, None, None),
                    CaCertificateProfile::Issuing => {
                        match (made_roots.get(issuer_key), &instance_root) {
                            (Some((number, identity)), _) => (None, Some(*number), identity.clone()),
                            (None, Some((sha256, identity))) => {
                                (Some(sha256.clone()), None, Some(identity.clone()))
                            }
                            (None, None) => {
                                return Err(invalid(format!(
                                    "the key {issuer_key:?} has no root certificate: this instance has no root yet"
                                )))
                            }
                        }
                    }
                };
                let step_number = u32::try_from(index + 1).context("step count")?;
                let mut sign = SignStep {
                    profile: *profile,
                    subject_key: subject_key.clone(),
                    issuer_key: issuer_key.clone(),
                    serial: serial(&seed, &file.id, index)?.to_hex(),
                    common_name: common_name.clone(),
                    organization: organization.clone(),
                    not_before: shuin_core::timefmt::rfc3339(start),
                    not_after: shuin_core::timefmt::rfc3339(end),
                    signature_algorithm: algorithm.name().into(),
                    policy_oid: issuing.then(|| instance.policy_oid.clone()),
                    root_crl_url: issuing.then(|| format!("{base}/repository/root.crl")),
                    root_certificate_url: issuing.then(|| format!("{base}/repository/root.crt")),
                    issuer_certificate_sha256,
                    issuer_step,
                    subject_public_key_sha256: subject_spki.as_deref().map(sha256_hex),
                    tbs_sha256: None,
                };
                let self_signed = *profile == CaCertificateProfile::Root;
                let mut identity = None;
                if let Some(spki_der) = &subject_spki {
                    if self_signed || issuer.is_some() {
                        let (tbs, bytes) = tbs_for(&sign, spki_der, issuer.as_ref())?;
                        sign.tbs_sha256 = Some(sha256_hex(&bytes));
                        identity = Some(IssuerIdentity {
                            name: tbs.subject.clone(),
                            key_id: shuin_core::x509::extensions::key_identifier(
                                &tbs.subject_public_key_info,
                            ),
                        });
                    }
                }
                if self_signed {
                    made_roots.insert(subject_key.clone(), (step_number, identity));
                }
                steps.push(StatementStep::SignCaCertificate(Box::new(sign)));
            }
        }
    }
    Ok(Statement {
        format: STATEMENT_FORMAT.into(),
        ceremony_id: file.id.clone(),
        purpose: file.purpose.clone(),
        threshold: file.threshold,
        instance: InstanceBinding {
            public_url: base.to_owned(),
            root_certificate_sha256: instance_root.map(|(sha256, _)| sha256),
            key_backend: instance.key_backend.clone(),
            token: instance.token.clone(),
        },
        custodians,
        witnesses: file.witnesses.clone(),
        steps,
    })
}

/// The canonical bytes of a statement: what custodians sign.
pub fn canonical(statement: &Statement) -> Result<Vec<u8>> {
    let value = serde_json::to_value(statement).context("statement")?;
    shuin_ledger::canonical::to_canonical_bytes(&value).context("statement")
}

/// Reads a statement file; it must be exactly the canonical form.
pub fn parse(bytes: &[u8]) -> Result<Statement> {
    let statement: Statement = serde_json::from_slice(bytes).context("not a ceremony statement")?;
    if statement.format != STATEMENT_FORMAT {
        return Err(invalid(format!(
            "statement format {:?}: expected {STATEMENT_FORMAT}",
            statement.format
        )));
    }
    let trimmed = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if canonical(&statement)? != trimmed {
        return Err(invalid(
            "the statement is not in its canonical form (was it edited or reformatted?)",
        ));
    }
    Ok(statement)
}

/// A readable summary for the person about to approve.
pub fn summary(statement: &Statement) -> String {
    let mut lines = vec![
        format!(
            "ceremony {} for {}: {}",
            statement.ceremony_id, statement.instance.public_url, statement.purpose
        ),
        format!(
            "  {} of {} custodians must approve; witnesses: {}",
            statement.threshold,
            statement.custodians.len(),
            if statement.witnesses.is_empty() {
                "none".to_owned()
            } else {
                statement.witnesses.join(", ")
            }
        ),
    ];
    for (index, step) in statement.steps.iter().enumerate() {
        lines.push(match step {
            StatementStep::GenerateKey { label, algorithm } => {
                format!("  {}. generate key {label} ({algorithm})", index + 1)
            }
            StatementStep::TerminateBusiness(step) => format!(
                "  {}. TERMINATE THE CERTIFICATION BUSINESS (認証業務の廃止): refuse every application, revoke every valid certificate (cessationOfOperation), sign a final CRL valid for {} days, notify the holders, write the hand-over export; reason: {}; successor: {}",
                index + 1,
                step.final_crl_days,
                step.reason,
                step.successor.as_deref().unwrap_or("none")
            ),
            StatementStep::SignCaCertificate(sign) => format!(
                "  {}. sign {} CA certificate CN={} for key {} with key {}, serial {}, {} to {}{}",
                index + 1,
                match sign.profile {
                    CaCertificateProfile::Root => "a root",
                    CaCertificateProfile::Issuing => "an issuing",
                },
                sign.common_name,
                sign.subject_key,
                sign.issuer_key,
                sign.serial,
                sign.not_before,
                sign.not_after,
                sign.tbs_sha256
                    .as_deref()
                    .map(|h| format!(", TBS sha256 {h}"))
                    .unwrap_or_default()
            ),
        });
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn serials_are_positive_sixteen_bytes_and_differ_per_step() {
        let a = serial("ab", "c1", 0).unwrap();
        let b = serial("ab", "c1", 1).unwrap();
        let c = serial("ab", "c2", 0).unwrap();
        assert_eq!(a.magnitude().len(), 16);
        assert!(a.magnitude()[0] & 0x80 == 0 && a.magnitude()[0] != 0);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, serial("ab", "c1", 0).unwrap());
    }

    #[test]
    fn algorithm_names_round_trip() {
        for a in [
            SignatureAlgorithm::RsaPkcs1Sha256,
            SignatureAlgorithm::EcdsaP256Sha256,
            SignatureAlgorithm::EcdsaP384Sha384,
        ] {
            assert_eq!(algorithm_by_name(a.name()), Some(a));
        }
    }
}
