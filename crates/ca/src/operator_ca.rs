//! The operator CA (DESIGN.md section 8): a key of its own in the key backend (never the
//! root, issuing, OCSP or audit key) that certifies operators' personal keys and lists
//! revoked operator certificates on its CRL.
//!
//! Every signature follows the CA's one path: record (`operator_certificate.signing`
//! with the TBS hash, or `crl.signing`), lint, sign, verify the signature locally, then
//! record the result (`operator.enrolled`, `crl.issued`). If the books cannot be
//! written, nothing is signed.

use sha2::{Digest, Sha256};
use shuin_books::organisation::{self, Enrolment, Roster};
use shuin_core::issuance::{CaProfile, IssuerIdentity};
use shuin_core::x509::crl::{assemble_crl, CrlTemplate, RevokedEntry};
use shuin_core::x509::name::NameBuilder;
use shuin_core::x509::template::{assemble_certificate, tbs_der};
use shuin_core::{RandomSource, Role, Serial};
use shuin_keys::Signer;
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{CrlRecord, CrlStore, LedgerStore, StoreError};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The CRL scope of the operator CA (`/repository/operator-ca.crl`).
pub const OPERATOR_CRL_SCOPE: &str = "operator-ca";
/// Default validity of an operator certificate.
pub const OPERATOR_VALIDITY: Duration = Duration::from_secs(365 * 86_400);

/// Why the operator CA did not act.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OperatorCaError {
    /// The CSR is not acceptable (malformed, no proof of possession, weak key, no name).
    #[error("{code}: {detail}")]
    Csr {
        /// Stable reason code.
        code: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The key is already enrolled, for this operator or another.
    #[error("operator_key_in_use: the key is already enrolled for {0:?}")]
    KeyInUse(String),
    /// Nothing to act on.
    #[error("operator_unknown: {0}")]
    Unknown(String),
    /// The key does not match the operator CA certificate, or a signature failed.
    #[error("operator CA: {0}")]
    Signing(String),
    /// The books could not be written: nothing was signed.
    #[error("the books are unavailable: {0}")]
    Books(#[from] organisation::BookError),
    /// A CSR file could not be read.
    #[error("CSR {}: {source}", path.display())]
    CsrRead {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A CSR file is a PEM block of another kind, or its CSR is refused.
    #[error("{}: {source}", path.display())]
    CsrFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl From<StoreError> for OperatorCaError {
    fn from(e: StoreError) -> OperatorCaError {
        OperatorCaError::Books(organisation::BookError::Store(e))
    }
}

/// What the operator CA needs from storage.
pub trait OperatorCaStore: LedgerStore + CrlStore {}
impl<T: LedgerStore + CrlStore + ?Sized> OperatorCaStore for T {}

/// A newly enrolled operator.
#[derive(Debug, Clone)]
pub struct EnrolledOperator {
    /// The name (the certificate's CN).
    pub name: String,
    /// The certificate DER.
    pub certificate_der: Vec<u8>,
    /// Whether the role was granted now (false: it was held already).
    pub role_granted: bool,
}

/// The name of the operator CA of an instance called `ca_name`.
pub fn operator_ca_name(ca_name: &str) -> Result<x509_cert::name::Name, der::Error> {
    Ok(NameBuilder::new()
        .country("JP")?
        .organization(ca_name)?
        .common_name(&format!("{ca_name} Operator CA"))?
        .build())
}

/// Makes the self-signed operator CA certificate (at `init`), recording before signing.
pub async fn create_certificate<S: LedgerStore + ?Sized>(
    store: &S,
    signer: &dyn Signer,
    ca_name: &str,
    by: &Actor,
    rng: &dyn RandomSource,
    now: SystemTime,
) -> Result<Vec<u8>, OperatorCaError> {
    let bad = |e: der::Error| OperatorCaError::Signing(e.to_string());
    let spki = spki::SubjectPublicKeyInfoOwned::from_der(signer.public_key_der()).map_err(bad)?;
    let serial = Serial::random(rng).map_err(|e| OperatorCaError::Signing(e.to_string()))?;
    let template = CaProfile::root(
        operator_ca_name(ca_name).map_err(bad)?,
        spki,
        serial,
        now,
        Duration::from_secs(10 * 365 * 86_400),
    )
    .map_err(bad)?;
    let tbs = template.to_tbs(signer.algorithm()).map_err(bad)?;
    let subject = format!("serial:{}", template.serial);
    let der = sign_recorded(store, signer, tbs, "ca_certificate", by, &subject, now).await?;
    Ok(der)
}

use der::Decode;

/// Records the TBS hash, lints, signs, verifies the signature, and returns the DER.
async fn sign_recorded<S: LedgerStore + ?Sized>(
    store: &S,
    signer: &dyn Signer,
    tbs: x509_cert::TbsCertificate,
    kind: &str,
    by: &Actor,
    subject: &str,
    now: SystemTime,
) -> Result<Vec<u8>, OperatorCaError> {
    let bad = |e: der::Error| OperatorCaError::Signing(e.to_string());
    let findings = shuin_core::lint::lint_tbs(&tbs);
    if !findings.is_empty() {
        return Err(OperatorCaError::Signing(format!(
            "the certificate fails lint: {findings:?}"
        )));
    }
    let bytes = tbs_der(&tbs).map_err(bad)?;
    store
        .append(
            EntryDraft {
                book: Book::Organization,
                kind: format!("{kind}.signing"),
                actor: by.clone(),
                subjects: vec![subject.to_owned()],
                payload: serde_json::json!({
                    "ca": "operator",
                    "tbs_sha256": hex::encode(Sha256::digest(&bytes)),
                }),
                evidence: vec![],
            },
            now,
        )
        .await?;
    let signature = signer
        .sign(&bytes)
        .map_err(|e| OperatorCaError::Signing(e.to_string()))?;
    // Every signature is checked before it is used, whatever the backend.
    shuin_core::signature::verify(
        signer.public_key_der(),
        signer.algorithm().algorithm_identifier().oid,
        &bytes,
        &signature,
    )
    .map_err(|_| OperatorCaError::Signing("the key's signature does not verify".into()))?;
    let der =
        der::Encode::to_der(&assemble_certificate(tbs, &signature).map_err(bad)?).map_err(bad)?;
    Ok(der)
}

/// The operator CA with its key at hand.
#[derive(Debug, Clone)]
pub struct OperatorCa {
    signer: Arc<dyn Signer>,
    certificate_der: Vec<u8>,
    identity: IssuerIdentity,
}

impl OperatorCa {
    /// The operator CA of `certificate_der`, signing with `signer` (whose public key must
    /// be the certificate's).
    pub fn new(
        signer: Arc<dyn Signer>,
        certificate_der: Vec<u8>,
    ) -> Result<OperatorCa, OperatorCaError> {
        let bad = |e: der::Error| OperatorCaError::Signing(e.to_string());
        let cert = x509_cert::Certificate::from_der(&certificate_der).map_err(bad)?;
        let spki = &cert.tbs_certificate.subject_public_key_info;
        if der::Encode::to_der(spki).map_err(bad)? != signer.public_key_der() {
            return Err(OperatorCaError::Signing(
                "the operator CA key does not match its certificate".into(),
            ));
        }
        let identity = IssuerIdentity {
            name: cert.tbs_certificate.subject.clone(),
            key_id: shuin_core::x509::extensions::key_identifier(spki),
        };
        Ok(OperatorCa {
            signer,
            certificate_der,
            identity,
        })
    }

    /// The operator CA certificate.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// Certifies the key of `csr_der` for the operator named by its CN, ledgers
    /// `operator.enrolled`, and grants `role` unless it is held already.
    #[allow(clippy::too_many_arguments)]
    pub async fn enrol<S: LedgerStore + ?Sized>(
        &self,
        store: &S,
        roster: &Roster,
        csr_der: &[u8],
        role: Role,
        validity: Duration,
        by: &Actor,
        rng: &dyn RandomSource,
        now: SystemTime,
    ) -> Result<EnrolledOperator, OperatorCaError> {
        let (name, spki) = read_csr(csr_der)?;
        let key_sha256 = unused_key(roster, &spki)?;
        let bad = |e: der::Error| OperatorCaError::Signing(e.to_string());
        let serial = Serial::random(rng).map_err(|e| OperatorCaError::Signing(e.to_string()))?;
        let template =
            CaProfile::operator(&self.identity, &name, spki, serial, now, validity).map_err(bad)?;
        let certifying = Certifying {
            kind: "operator_certificate",
            subject: format!("operator:{name}"),
            name: &name,
            key_sha256: &key_sha256,
        };
        let der = self
            .certify_and_enrol(store, template, &certifying, by, now)
            .await?;
        let held = roster.operator(&name).is_some_and(|op| op.holds(role));
        if !held {
            organisation::grant(store, &name, role, by, now).await?;
        }
        Ok(EnrolledOperator {
            name,
            certificate_der: der,
            role_granted: !held,
        })
    }

    /// Revokes the certificates of `name` not yet revoked (only the one with SHA-256
    /// `only`, when given: a rotation), ledgered first, then issues the operator CRL.
    /// Returns how many were revoked.
    #[allow(clippy::too_many_arguments)]
    pub async fn revoke<S: OperatorCaStore + ?Sized>(
        &self,
        store: &S,
        roster: &Roster,
        name: &str,
        only: Option<&str>,
        reason: &str,
        by: &Actor,
        lifetime: Duration,
        now: SystemTime,
    ) -> Result<(usize, CrlRecord), OperatorCaError> {
        let operator = roster
            .operator(name)
            .ok_or_else(|| OperatorCaError::Unknown(format!("no operator {name:?}")))?;
        let mut after = roster.clone();
        let mut revoked = 0;
        let chosen = operator
            .certificates
            .iter()
            .filter(|c| c.revoked.is_none())
            .filter(|c| only.is_none_or(|sha| c.sha256 == sha));
        for certificate in chosen {
            organisation::revoke_certificate(store, name, certificate, reason, by, now).await?;
            revoked += 1;
        }
        if revoked == 0 {
            return Err(OperatorCaError::Unknown(format!(
                "{name:?} has no certificate left to revoke"
            )));
        }
        let rows = store.ledger_rows_from(after.next_seq()).await?;
        after.catch_up(&rows)?;
        let crl = self.issue_crl(store, &after, by, lifetime, now).await?;
        Ok((revoked, crl))
    }

    /// [`OperatorCa::refresh_crl`] with the roster the gate replays from the organisation
    /// book (the upkeep loop of a served instance calls this).
    pub async fn refresh_crl_from_books<S: OperatorCaStore + ?Sized>(
        &self,
        gate: &shuin_books::Gate,
        store: &S,
        lifetime: Duration,
        now: SystemTime,
    ) -> Result<Option<CrlRecord>, OperatorCaError> {
        let roster = gate.roster(store).await?;
        self.refresh_crl(store, &roster, lifetime, now).await
    }

    /// Issues a fresh operator CRL when the newest one is missing or past half its
    /// lifetime; `None` when none was due.
    pub async fn refresh_crl<S: OperatorCaStore + ?Sized>(
        &self,
        store: &S,
        roster: &Roster,
        lifetime: Duration,
        now: SystemTime,
    ) -> Result<Option<CrlRecord>, OperatorCaError> {
        let latest = store.latest_crl(OPERATOR_CRL_SCOPE).await?;
        // Due at half its lifetime, or at once when a revocation is newer than it (an
        // earlier issuance may have failed after the revocation was recorded).
        let due = latest.is_none_or(|crl| {
            crl.next_update.duration_since(now).unwrap_or_default() < lifetime / 2
                || roster
                    .revoked_certificates()
                    .iter()
                    .filter_map(|(_, c)| c.revoked.as_ref())
                    .any(|r| r.at > crl.this_update)
        });
        if !due {
            return Ok(None);
        }
        let by = Actor {
            name: "shuin-ca".into(),
            role: "system".into(),
            zone: "high_security".into(),
        };
        self.issue_crl(store, roster, &by, lifetime, now)
            .await
            .map(Some)
    }

    /// Issues the operator CA's CRL listing every revoked operator certificate.
    pub async fn issue_crl<S: OperatorCaStore + ?Sized>(
        &self,
        store: &S,
        roster: &Roster,
        by: &Actor,
        lifetime: Duration,
        now: SystemTime,
    ) -> Result<CrlRecord, OperatorCaError> {
        let bad = |e: der::Error| OperatorCaError::Signing(e.to_string());
        let mut entries = Vec::new();
        for (_, certificate) in roster.revoked_certificates() {
            let Some(serial) = Serial::from_hex(&certificate.serial) else {
                continue;
            };
            let revoked_at = certificate.revoked.as_ref().map_or(now, |r| r.at);
            entries.push(RevokedEntry {
                serial,
                revoked_at,
                reason: None,
                invalidity_date: None,
            });
        }
        let number = store.next_crl_number(OPERATOR_CRL_SCOPE).await?;
        let template = CrlTemplate {
            issuer: self.identity.name.clone(),
            issuer_key_id: self.identity.key_id.clone(),
            this_update: now,
            next_update: now + lifetime,
            number,
            entries,
        };
        let tbs = template.to_tbs(self.signer.algorithm()).map_err(bad)?;
        let bytes = shuin_core::x509::crl::tbs_der(&tbs).map_err(bad)?;
        store
            .append(
                EntryDraft {
                    book: Book::Revocation,
                    kind: "crl.signing".into(),
                    actor: by.clone(),
                    subjects: vec![format!("crl:{OPERATOR_CRL_SCOPE}:{number}")],
                    payload: serde_json::json!({
                        "scope": OPERATOR_CRL_SCOPE,
                        "number": number,
                        "tbs_sha256": hex::encode(Sha256::digest(&bytes)),
                    }),
                    evidence: vec![],
                },
                now,
            )
            .await?;
        let signature = self
            .signer
            .sign(&bytes)
            .map_err(|e| OperatorCaError::Signing(e.to_string()))?;
        shuin_core::signature::verify(
            self.signer.public_key_der(),
            self.signer.algorithm().algorithm_identifier().oid,
            &bytes,
            &signature,
        )
        .map_err(|_| OperatorCaError::Signing("the CRL signature does not verify".into()))?;
        let der = der::Encode::to_der(&assemble_crl(tbs, &signature).map_err(bad)?).map_err(bad)?;
        let record = CrlRecord {
            scope: OPERATOR_CRL_SCOPE.into(),
            number,
            this_update: now,
            next_update: now + lifetime,
            der,
        };
        store.put_crl(&record).await?;
        store
            .append(
                EntryDraft {
                    book: Book::Revocation,
                    kind: "crl.issued".into(),
                    actor: by.clone(),
                    subjects: vec![format!("crl:{OPERATOR_CRL_SCOPE}:{number}")],
                    payload: serde_json::json!({
                        "scope": OPERATOR_CRL_SCOPE,
                        "number": number,
                        "crl_sha256": hex::encode(Sha256::digest(&record.der)),
                    }),
                    evidence: vec![],
                },
                now,
            )
            .await?;
        Ok(record)
    }
}

/// What the books call a certificate the operator CA is about to issue.
pub(crate) struct Certifying<'a> {
    /// The entry kind's stem (`operator_certificate`, `node_certificate`).
    pub(crate) kind: &'static str,
    /// The entry's subject.
    pub(crate) subject: String,
    /// The name it is enrolled under.
    pub(crate) name: &'a str,
    /// SHA-256 of its key.
    pub(crate) key_sha256: &'a str,
}

impl OperatorCa {
    /// Signs `template` on the CA's one path, checks the result against the operator CA
    /// certificate, and enrols it in the organisation book.
    pub(crate) async fn certify_and_enrol<S: LedgerStore + ?Sized>(
        &self,
        store: &S,
        template: shuin_core::x509::CertificateTemplate,
        certifying: &Certifying<'_>,
        by: &Actor,
        now: SystemTime,
    ) -> Result<Vec<u8>, OperatorCaError> {
        let bad = |e: der::Error| OperatorCaError::Signing(e.to_string());
        let tbs = template.to_tbs(self.signer.algorithm()).map_err(bad)?;
        let signer = self.signer.as_ref();
        let der = sign_recorded(
            store,
            signer,
            tbs,
            certifying.kind,
            by,
            &certifying.subject,
            now,
        )
        .await?;
        shuin_books::operator_certificate::check(&der, &self.certificate_der)
            .map_err(|e| OperatorCaError::Signing(e.to_string()))?;
        let enrolment = Enrolment {
            name: certifying.name,
            certificate_der: &der,
            serial: &template.serial.to_hex(),
            key_sha256: certifying.key_sha256,
            not_before: template.not_before,
            not_after: template.not_after,
        };
        organisation::enrol(store, &enrolment, by, now).await?;
        Ok(der)
    }
}

/// The SHA-256 of `spki`, if no operator or node of `roster` holds that key.
pub(crate) fn unused_key(
    roster: &Roster,
    spki: &spki::SubjectPublicKeyInfoOwned,
) -> Result<String, OperatorCaError> {
    let key_sha256 = shuin_books::request::key_sha256(signer_spki_der(spki)?.as_slice());
    match roster.by_key(&key_sha256) {
        Some(holder) => Err(OperatorCaError::KeyInUse(holder.name.clone())),
        None => Ok(key_sha256),
    }
}

fn signer_spki_der(spki: &spki::SubjectPublicKeyInfoOwned) -> Result<Vec<u8>, OperatorCaError> {
    der::Encode::to_der(spki).map_err(|e| OperatorCaError::Signing(e.to_string()))
}

/// The operator's name (the CSR subject's CN) and key, after proof of possession and
/// the key policy.
pub fn read_csr(
    csr_der: &[u8],
) -> Result<(String, spki::SubjectPublicKeyInfoOwned), OperatorCaError> {
    let csr_error = |code: &'static str, detail: String| OperatorCaError::Csr { code, detail };
    let verified = shuin_core::csr::verify_csr(csr_der)
        .map_err(|r| csr_error(r.code.as_str(), r.detail.clone()))?;
    shuin_core::key_policy::check_subscriber_key(&verified.spki_der)
        .map_err(|r| csr_error(r.code.as_str(), r.detail.clone()))?;
    let request = x509_cert::request::CertReq::from_der(csr_der)
        .map_err(|e| csr_error("csr_malformed", e.to_string()))?;
    let name =
        shuin_core::x509::name::attribute_values(&request.info.subject, const_oid::db::rfc4519::CN)
            .into_iter()
            .next()
            .ok_or_else(|| {
                csr_error(
                    "operator_name_invalid",
                    "the CSR subject must carry the operator's name as CN".into(),
                )
            })?;
    check_name(&name).map_err(|detail| csr_error("operator_name_invalid", detail))?;
    let spki = spki::SubjectPublicKeyInfoOwned::from_der(&verified.spki_der)
        .map_err(|e| csr_error("csr_malformed", e.to_string()))?;
    Ok((name, spki))
}

/// An operator's CSR file (`init --first-admin-csr`, `--custodian-csr`): PEM
/// `CERTIFICATE REQUEST` or DER, with a valid signature.
pub fn read_csr_file(path: &std::path::Path) -> Result<Vec<u8>, OperatorCaError> {
    let bytes = std::fs::read(path).map_err(|source| OperatorCaError::CsrRead {
        path: path.to_owned(),
        source,
    })?;
    let file_error = |source: Box<dyn std::error::Error + Send + Sync>| OperatorCaError::CsrFile {
        path: path.to_owned(),
        source,
    };
    let der = shuin_core::x509::pem::der_labelled(bytes, "CERTIFICATE REQUEST")
        .map_err(|e| file_error(e.into()))?;
    shuin_core::csr::verify_csr(&der).map_err(|r| {
        let code = r.code.as_str();
        file_error(Box::new(OperatorCaError::Csr {
            code,
            detail: r.detail,
        }))
    })?;
    Ok(der)
}

/// An operator name: 1–128 characters, no control characters, no surrounding space.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() || name.trim() != name {
        return Err(
            "an operator name must be non-empty, without leading or trailing spaces".into(),
        );
    }
    if name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(
            "an operator name must be at most 128 characters, without control characters".into(),
        );
    }
    Ok(())
}

mod nodes;
pub use nodes::{Pairing, NODE_VALIDITY};

#[cfg(test)]
mod tests;
