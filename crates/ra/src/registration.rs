//! The legacy 利用者識別符号 flow (施行規則 第6条第3号の2; docs/registration.md): an LRA
//! records a verified identity and the holder receives a one-time code by a safe channel
//! (本人限定受取郵便); the holder later sends a CSR with the code
//! (`POST /api/v1/enrollments`).
//!
//! The code is 80 random bits written as 16 Crockford base32 characters in four groups
//! (`7KQ2-M9XD-0RVA-3HTE`). Only HMAC-SHA-256 of the normalised code under an instance
//! key is stored; the key lives outside the database and the ledger. A code expires (30
//! days by default), is used once, and 5 wrong codes lock the registration for good.

use crate::application::{system_actor, ApplicationOutcome, MAX_APPLICATION_BYTES};
use crate::personal_data::store_personal_data;
use crate::{RaError, RaService};
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use shuin_core::issuance::{Approver, IssuanceError, IssuanceOrder};
use shuin_core::key_policy::{check_subscriber_key, key_fingerprint};
use shuin_core::{Clock, RandomSource, ReasonCode};
use shuin_ledger::personal_data::PAYLOAD_MEMBER;
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{
    ApplicationRecord, ApplicationStatus, ApplicationStore, CertificateFlags, CertificateReader,
    LedgerStore, NoticeOutbox, RegistrationRecord, RegistrationState, RegistrationStore,
    RevocationStore,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use zeroize::Zeroizing;

/// Wrong codes after which a registration locks.
pub const MAX_WRONG_CODES: u32 = 5;
/// How long a code lives unless the LRA says otherwise.
pub const DEFAULT_CODE_LIFETIME: Duration = Duration::from_secs(30 * 86_400);
/// Random bits in a code.
pub const CODE_BITS: usize = 80;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CODE_CHARS: usize = CODE_BITS / 5;

/// What the life-cycle parts of the RA need from storage.
pub trait LifecycleStore:
    RegistrationStore
    + NoticeOutbox
    + CertificateFlags
    + RevocationStore
    + LedgerStore
    + ApplicationStore
    + CertificateReader
{
}
impl<T> LifecycleStore for T where
    T: RegistrationStore
        + NoticeOutbox
        + CertificateFlags
        + RevocationStore
        + LedgerStore
        + ApplicationStore
        + CertificateReader
{
}

/// The instance key under which codes are hashed (32 bytes). Never stored in the
/// database or the ledger; `Debug` is redacted; zeroized on drop, as are the padded key
/// blocks each HMAC makes from it.
#[derive(Clone)]
pub struct CodeKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeKey(..)")
    }
}

impl CodeKey {
    /// From raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Hex HMAC-SHA-256 (RFC 2104) of `message`.
    fn mac_hex(&self, message: &[u8]) -> String {
        let mut block = Zeroizing::new([0u8; 64]);
        block[..32].copy_from_slice(self.0.as_slice());
        let pad = |byte: u8| Zeroizing::new(block.map(|b| b ^ byte));
        let inner = Sha256::new()
            .chain_update(pad(0x36).as_slice())
            .chain_update(message)
            .finalize();
        let outer = Sha256::new()
            .chain_update(pad(0x5c).as_slice())
            .chain_update(inner)
            .finalize();
        hex::encode(outer)
    }
}

/// A code as the holder types it, normalised: upper case, no separators, Crockford's
/// substitutions (I, L → 1; O → 0). `None` if it cannot be a code.
pub fn normalize_code(input: &str) -> Option<String> {
    let mut out = String::with_capacity(CODE_CHARS);
    for c in input.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' | '\u{3000}' => continue,
            'I' | 'L' => '1',
            'O' => '0',
            other => other,
        };
        if !u8::try_from(c).is_ok_and(|b| CROCKFORD.contains(&b)) {
            return None;
        }
        out.push(c);
    }
    (out.len() == CODE_CHARS).then_some(out)
}

fn encode_code(bytes: &[u8; CODE_BITS / 8]) -> String {
    let mut value: u128 = 0;
    for b in bytes {
        value = (value << 8) | u128::from(*b);
    }
    let mut out = String::with_capacity(CODE_CHARS + 3);
    for i in 0..CODE_CHARS {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let shift = 5 * (CODE_CHARS - 1 - i);
        let index = usize::try_from((value >> shift) & 0x1f).unwrap_or(0);
        out.push(char::from(CROCKFORD[index]));
    }
    out
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The identity an LRA verified.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifiedIdentity {
    /// Name (surname, U+3000, given name).
    pub name: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// Address.
    pub address: String,
    /// `1`, `2` or `3`, if recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
}

/// How the code reaches the holder (the ledger keeps this, never the code).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Delivery {
    /// e.g. 本人限定受取郵便.
    pub method: String,
    /// The postal tracking number, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking: Option<String>,
}

/// A 利用者識別符号 as shown to its holder once; `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct IdentificationCode(pub String);

impl IdentificationCode {
    /// The grouped code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for IdentificationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentificationCode(..)")
    }
}

/// What `registration create` asks for.
#[derive(Debug, Clone)]
pub struct RegistrationRequest {
    /// The LRA, already authorised by the caller (or the responsible person for a
    /// JPKI-verified registration).
    pub operator: Actor,
    /// The JPKI facts when a JPKI-signed application verified the identity (then the
    /// enrollment is an automatic decision, and the J-LIS follow-up covers it).
    pub jpki: Option<serde_json::Value>,
    /// Evidence references for the ledger entry (`sha256:...`).
    pub evidence: Vec<String>,
    /// The verified identity.
    pub identity: VerifiedIdentity,
    /// How the code is sent.
    pub delivery: Option<Delivery>,
    /// How long the code lives.
    pub lifetime: Duration,
}

/// A created registration. `identification_code` is shown once and stored nowhere.
pub struct CreatedRegistration {
    /// The registration id.
    pub registration_id: String,
    /// The code, grouped.
    pub identification_code: String,
    /// When the code expires.
    pub expires_at: SystemTime,
}

impl std::fmt::Debug for CreatedRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedRegistration")
            .field("registration_id", &self.registration_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Creates registrations (the LRA side; runs without the CA).
pub struct Registrar<'a> {
    /// Storage.
    pub store: &'a dyn LifecycleStore,
    /// The code key.
    pub key: &'a CodeKey,
    /// Time.
    pub clock: &'a dyn Clock,
    /// Randomness for the id and the code.
    pub rng: &'a dyn RandomSource,
}

impl std::fmt::Debug for Registrar<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registrar")
    }
}

fn check_field(name: &str, value: &str, max: usize) -> Result<(), RaError> {
    if value.trim().is_empty() || value.chars().count() > max || value.chars().any(char::is_control)
    {
        return Err(RaError::reject(
            ReasonCode::MalformedRequest,
            format!("{name} must be 1 to {max} characters without control characters"),
        ));
    }
    Ok(())
}

/// The member of a registration's stored identity listing its evidence references
/// (`sha256:HEX`), besides its personal data record.
const REGISTRATION_EVIDENCE: &str = "evidence";

/// The SHA-256 of each piece of evidence a registration holds: its personal data record
/// and the evidence of the request that made it.
fn registration_evidence(identity: &serde_json::Value) -> Vec<String> {
    let record = crate::personal_data::kept_reference(identity).map(|r| r.record_sha256);
    let requests = identity
        .get(REGISTRATION_EVIDENCE)
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str()?.strip_prefix("sha256:").map(str::to_owned));
    record.into_iter().chain(requests).collect()
}

impl Registrar<'_> {
    /// Records the verified identity, ledgers `registration.created` with the delivery
    /// record, and returns the code (once).
    pub async fn create(
        &self,
        request: RegistrationRequest,
    ) -> Result<CreatedRegistration, RaError> {
        let identity = &request.identity;
        check_field(
            "name",
            &identity.name,
            shuin_core::application::MAX_NAME_CHARS,
        )?;
        check_field(
            "address",
            &identity.address,
            shuin_core::application::MAX_ADDRESS_CHARS,
        )?;
        if shuin_core::timefmt::parse_date(&identity.birth_date).is_none() {
            return Err(RaError::reject(
                ReasonCode::MalformedRequest,
                "birth_date must be a valid YYYY-MM-DD date",
            ));
        }
        if let Some(gender) = &identity.gender {
            if !matches!(gender.as_str(), "1" | "2" | "3") {
                return Err(RaError::reject(
                    ReasonCode::MalformedRequest,
                    "gender must be 1, 2 or 3",
                ));
            }
        }
        let random = |len: usize| -> Result<Vec<u8>, RaError> {
            let mut bytes = vec![0u8; len];
            self.rng
                .fill(&mut bytes)
                .map_err(|e| RaError::Unavailable(Box::new(e)))?;
            Ok(bytes)
        };
        let id = hex::encode(random(16)?);
        let mut code_bytes = [0u8; CODE_BITS / 8];
        code_bytes.copy_from_slice(&random(CODE_BITS / 8)?);
        let code = encode_code(&code_bytes);
        let normalised = normalize_code(&code)
            .ok_or_else(|| RaError::Unavailable("a generated code does not normalise".into()))?;
        let now = self.clock.now();
        let expires_at = now + request.lifetime;
        let mut identity_json =
            serde_json::to_value(identity).map_err(|e| RaError::Unavailable(Box::new(e)))?;
        if let (Some(jpki), Some(object)) = (&request.jpki, identity_json.as_object_mut()) {
            object.insert("jpki".into(), jpki.clone());
        }
        // The identity goes into a purgeable record; the entry carries its commitment.
        let personal = store_personal_data(self.store, self.rng, &identity_json).await?;
        if let Some(object) = identity_json.as_object_mut() {
            object.insert(PAYLOAD_MEMBER.into(), personal.to_json());
            // The signed request (a JPKI registration's CMS) follows the application too.
            object.insert(
                REGISTRATION_EVIDENCE.into(),
                request.evidence.clone().into(),
            );
        }
        let record = RegistrationRecord {
            id: id.clone(),
            code_mac: self.key.mac_hex(normalised.as_bytes()),
            identity: identity_json,
            created_by: request.operator.name.clone(),
            created_at: now,
            expires_at,
            failed_attempts: 0,
            state: RegistrationState::Open,
            application_id: None,
        };
        // Record before effect: the code is shown only after the ledger holds the
        // registration (but never the code).
        self.store
            .append(
                EntryDraft {
                    book: Book::Application,
                    kind: "registration.created".into(),
                    actor: request.operator.clone(),
                    subjects: vec![format!("registration:{id}")],
                    payload: serde_json::json!({
                        "registration_id": id,
                        "personal_data": personal.to_json(),
                        "verified_by": if request.jpki.is_some() { "jpki_signature" } else { "lra" },
                        "delivery": request.delivery,
                        "expires_at": shuin_core::timefmt::rfc3339(expires_at),
                        "code": {"bits": CODE_BITS, "stored_as": "hmac-sha256", "max_wrong_codes": MAX_WRONG_CODES},
                    }),
                    evidence: request.evidence.clone(),
                },
                now,
            )
            .await?;
        self.store.insert_registration(&record).await?;
        Ok(CreatedRegistration {
            registration_id: id,
            identification_code: code,
            expires_at,
        })
    }
}

/// How the RA answers when J-LIS revokes the JPKI certificate a holder was verified with
/// (`[jpki] on_jpki_revocation` in shuin.toml: `flag` or `revoke`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JpkiRevocationPolicy {
    /// Put the certificate on the review list (default).
    #[default]
    Flag,
    /// Revoke it (reason privilegeWithdrawn; docs/revocation.md).
    Revoke,
}

/// The RA's life-cycle settings: registrations, reissue notices, J-LIS follow-up.
pub struct Lifecycle {
    pub(crate) store: Arc<dyn LifecycleStore>,
    pub(crate) code_key: CodeKey,
    pub(crate) on_jpki_revocation: JpkiRevocationPolicy,
    pub(crate) followed_crl: Mutex<Option<Arc<shuin_jpki::JpkiCrlSet>>>,
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle")
            .field("on_jpki_revocation", &self.on_jpki_revocation)
            .finish_non_exhaustive()
    }
}

impl Lifecycle {
    /// Wires the life-cycle parts.
    pub fn new(
        store: Arc<dyn LifecycleStore>,
        code_key: CodeKey,
        on_jpki_revocation: JpkiRevocationPolicy,
    ) -> Self {
        Self {
            store,
            code_key,
            on_jpki_revocation,
            followed_crl: Mutex::new(None),
        }
    }
}

/// The new key of an enrolment and where its notices go.
struct EnrolledKey {
    csr_der: Vec<u8>,
    spki_der: Vec<u8>,
    fingerprint: String,
    notice_email: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollmentDocument {
    registration_id: String,
    identification_code: String,
    csr: String,
    /// Where the holder's notices go (personal data: kept with the application only).
    #[serde(default)]
    email: Option<String>,
}

impl RaService {
    pub(crate) fn lifecycle(&self) -> Result<&Lifecycle, RaError> {
        self.lifecycle
            .as_ref()
            .ok_or_else(|| RaError::Unavailable("the life-cycle store is not configured".into()))
    }

    /// `POST /api/v1/enrollments`: the legacy flow's second half.
    pub async fn enroll(&self, body: &[u8]) -> Result<ApplicationOutcome, RaError> {
        if body.len() > MAX_APPLICATION_BYTES {
            return Err(RaError::reject(
                ReasonCode::PayloadTooLarge,
                "the request exceeds 64 KiB",
            ));
        }
        self.business_open().await?;
        // The error text of serde could echo the code: keep it out.
        let document: EnrollmentDocument = serde_json::from_slice(body).map_err(|_| {
            RaError::reject(
                ReasonCode::MalformedRequest,
                "the body must be JSON {\"registration_id\", \"identification_code\", \"csr\"}",
            )
        })?;
        if document
            .email
            .as_deref()
            .is_some_and(|email| !shuin_core::application::is_notice_address(email))
        {
            return Err(RaError::reject(
                ReasonCode::MalformedRequest,
                "email must be one plain address such as name@example.jp",
            ));
        }
        let lifecycle = self.lifecycle()?;
        let store = lifecycle.store.as_ref();
        let now = self.clock.now();
        let invalid = || {
            RaError::reject(
                ReasonCode::IdentificationCodeInvalid,
                "the registration id or the identification code is wrong",
            )
        };
        if document.registration_id.len() > 64 {
            return Err(invalid());
        }
        let registration = store
            .registration(&document.registration_id)
            .await?
            .ok_or_else(invalid)?;
        refuse_closed(registration.state)?;
        if now > registration.expires_at {
            return Err(RaError::reject(
                ReasonCode::IdentificationCodeExpired,
                "the identification code has expired; ask the CA for a new registration",
            ));
        }
        let presented = normalize_code(&document.identification_code)
            .map(|code| lifecycle.code_key.mac_hex(code.as_bytes()));
        let matches = presented
            .is_some_and(|mac| constant_time_eq(mac.as_bytes(), registration.code_mac.as_bytes()));
        if !matches {
            let state = store
                .record_wrong_code(&registration.id, MAX_WRONG_CODES)
                .await?;
            let locked = state == RegistrationState::Locked;
            self.ledger_registration(
                &registration.id,
                if locked {
                    "registration.locked"
                } else {
                    "registration.code_refused"
                },
                serde_json::json!({"failed_attempts": registration.failed_attempts.saturating_add(1), "max_wrong_codes": MAX_WRONG_CODES}),
                now,
            )
            .await?;
            refuse_closed(state)?;
            return Err(invalid());
        }
        let csr_der = base64::engine::general_purpose::STANDARD
            .decode(document.csr.as_bytes())
            .map_err(|_| RaError::reject(ReasonCode::CsrMalformed, "csr is not standard base64"))?;
        let csr = shuin_core::csr::verify_csr(&csr_der)?;
        check_subscriber_key(&csr.spki_der)?;
        let fingerprint = key_fingerprint(&csr.spki_der);
        if self.store.key_in_use(&fingerprint).await? {
            return Err(RaError::reject(
                ReasonCode::KeyReused,
                "this public key was already certified; generate a new key",
            ));
        }
        // Sealed: refuse before the code is used up.
        self.ca_ready()?;
        let id = hex::encode(self.random_token(16)?);
        if !store.consume_registration(&registration.id, &id).await? {
            let state = store
                .registration(&registration.id)
                .await?
                .map(|r| r.state)
                .unwrap_or(RegistrationState::Used);
            refuse_closed(state)?;
            return Err(invalid());
        }
        let key = EnrolledKey {
            csr_der,
            spki_der: csr.spki_der,
            fingerprint,
            notice_email: document.email,
        };
        self.issue_enrollment(&registration, id, key, now).await
    }

    async fn issue_enrollment(
        &self,
        registration: &RegistrationRecord,
        id: String,
        key: EnrolledKey,
        now: SystemTime,
    ) -> Result<ApplicationOutcome, RaError> {
        let EnrolledKey {
            csr_der,
            spki_der,
            fingerprint,
            notice_email,
        } = key;
        // The evidence is the CSR (the request body holds the code and is not kept).
        let evidence_sha256 = hex::encode(Sha256::digest(&csr_der));
        self.store.put_evidence(&evidence_sha256, &csr_der).await?;
        let identity = &registration.identity;
        let name = identity
            .get("name")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        // Verified by an LRA, or (registration without csr) by a JPKI signature, which
        // is an automatic decision under the responsible person.
        let jpki = identity.get("jpki").cloned();
        let approver = Approver {
            name: registration.created_by.clone(),
            role: if jpki.is_some() {
                "responsible_person"
            } else {
                "lra"
            }
            .into(),
            automatic: jpki.is_some(),
        };
        // The profile caps validity; a JPKI-verified identity also caps it at the JPKI
        // certificate's notAfter.
        let not_after_cap = jpki
            .as_ref()
            .and_then(|j| j.get("not_after"))
            .and_then(|v| v.as_str())
            .and_then(shuin_core::timefmt::parse_rfc3339)
            .unwrap_or(now + Duration::from_secs(5 * 366 * 86_400));
        let order = IssuanceOrder {
            application_id: id.clone(),
            subject_name: name.clone(),
            spki_der: spki_der.clone(),
            not_after_cap,
            approver: approver.clone(),
        };
        let personal = crate::personal_data::payload_reference(identity);
        // The registration's record and signed request now belong to this application:
        // they are purged with its evidence.
        for evidence in registration_evidence(identity) {
            self.store.link_evidence(&evidence, &id).await?;
        }
        let details = serde_json::json!({
            "kind": "enrollment",
            "registration_id": registration.id,
            "jpki": jpki,
            "basic": identity,
            "key_fingerprint": fingerprint,
            "spki_der": base64::engine::general_purpose::STANDARD.encode(&spki_der),
            "subject_name": name,
            "not_after_cap": shuin_core::timefmt::rfc3339(not_after_cap),
            "personal_data": personal,
            // Where the holder's notices go (personal data: never in an entry).
            "notice_email": notice_email,
        });
        let mut record = ApplicationRecord {
            id: id.clone(),
            status: ApplicationStatus::Approved,
            received_at: now,
            review_reasons: Vec::new(),
            serial: None,
            rejection_reason: None,
            evidence_sha256: evidence_sha256.clone(),
            details,
        };
        crate::resume::note_approval(&mut record, &approver, now);
        // The record, then its entry (`crate::resume` completes either half).
        self.store.insert_application(&record).await?;
        self.file_holder(&record).await?;
        self.store
            .append(
                EntryDraft {
                    book: Book::Application,
                    kind: "application.accepted".into(),
                    actor: Actor {
                        name: approver.name.clone(),
                        role: approver.role.clone(),
                        zone: "secure".into(),
                    },
                    subjects: vec![
                        format!("application:{id}"),
                        format!("registration:{}", registration.id),
                    ],
                    payload: serde_json::json!({
                        "decision": "approved",
                        "automatic": approver.automatic,
                        "flow": "identification_code",
                        "approver": approver.name,
                        "checks": [if approver.automatic { "identity_verified_by_jpki" } else { "identity_verified_by_lra" }, "identification_code", "csr_proof_of_possession", "key_policy", "key_unused"],
                        "personal_data": personal,
                        "key_fingerprint": fingerprint,
                    }),
                    evidence: vec![format!("sha256:{evidence_sha256}")],
                },
                now,
            )
            .await?;
        self.issue_recorded(record, order).await
    }

    /// Asks the CA to issue for an application already ledgered and stored as approved,
    /// and records the outcome.
    pub(crate) async fn issue_recorded(
        &self,
        mut record: ApplicationRecord,
        order: IssuanceOrder,
    ) -> Result<ApplicationOutcome, RaError> {
        match self.issuer.issue(order).await {
            Ok(issued) => {
                record.status = ApplicationStatus::Issued;
                record.serial = Some(issued.serial.clone());
                self.store.update_application(&record).await?;
                Ok(ApplicationOutcome::Issued {
                    id: record.id,
                    serial: issued.serial,
                    certificate_der: issued.certificate_der,
                    chain_der: issued.chain_der,
                })
            }
            Err(IssuanceError::KeyReused) => {
                record.status = ApplicationStatus::Rejected;
                record.rejection_reason = Some(ReasonCode::KeyReused.as_str().into());
                self.store.update_application(&record).await?;
                Err(RaError::reject(
                    ReasonCode::KeyReused,
                    "this public key was already certified; generate a new key",
                ))
            }
            Err(IssuanceError::Sealed) => Err(RaError::reject(
                ReasonCode::CaSealed,
                "the CA is sealed; try again later",
            )),
            Err(other) => Err(RaError::Unavailable(Box::new(other))),
        }
    }

    /// Whether applications can be issued now (`/readyz`): `ca_sealed` while the CA is
    /// sealed, unavailable while an RA node's CA link is silent,
    /// `business_terminated` once the business ended, `jpki_revocation_unavailable`
    /// while no J-LIS CRL is in use.
    pub async fn readiness(&self) -> Result<(), RaError> {
        self.ca_ready()?;
        self.business_open().await?;
        if self.crl.current().is_empty() {
            return Err(RaError::reject(
                ReasonCode::JpkiRevocationUnavailable,
                "no J-LIS CRL is in use: every application is refused",
            ));
        }
        Ok(())
    }

    /// Whether the CA can sign now, as far as this RA knows (`/metrics`' `shuin_sealed`
    /// on an RA node): `ca_sealed`, or unavailable while the CA link is silent.
    pub fn ca_readiness(&self) -> Result<(), RaError> {
        self.ca_ready()
    }

    /// `ca_sealed` while the CA cannot sign (checked before any decision is recorded).
    pub(crate) fn ca_ready(&self) -> Result<(), RaError> {
        match self.issuer.ready() {
            Ok(()) => Ok(()),
            Err(IssuanceError::Sealed) => Err(RaError::reject(
                ReasonCode::CaSealed,
                "the CA is sealed; try again later",
            )),
            Err(other) => Err(RaError::Unavailable(Box::new(other))),
        }
    }

    async fn ledger_registration(
        &self,
        registration_id: &str,
        kind: &str,
        payload: serde_json::Value,
        now: SystemTime,
    ) -> Result<(), RaError> {
        self.store
            .append(
                EntryDraft {
                    book: Book::Application,
                    kind: kind.into(),
                    actor: system_actor(),
                    subjects: vec![format!("registration:{registration_id}")],
                    payload,
                    evidence: vec![],
                },
                now,
            )
            .await?;
        Ok(())
    }
}

fn refuse_closed(state: RegistrationState) -> Result<(), RaError> {
    match state {
        RegistrationState::Open => Ok(()),
        RegistrationState::Used => Err(RaError::reject(
            ReasonCode::IdentificationCodeUsed,
            "the identification code was already used",
        )),
        RegistrationState::Locked => Err(RaError::reject(
            ReasonCode::IdentificationCodeLocked,
            "too many wrong codes: the registration is locked; ask the CA for a new one",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_names_its_record_and_request_for_the_application() {
        let hex = |c: char| std::iter::repeat_n(c, 64).collect::<String>();
        let identity = serde_json::json!({
            "name": "n",
            "personal_data": {"commitment": hex('c'), "record_sha256": hex('a')},
            "evidence": [format!("sha256:{}", hex('b')), "other:x"],
        });
        assert_eq!(registration_evidence(&identity), vec![hex('a'), hex('b')]);
        // A registration made before records were sealed has nothing to link.
        assert!(registration_evidence(&serde_json::json!({"name": "n"})).is_empty());
    }

    #[test]
    fn codes_are_grouped_crockford_and_normalise() {
        let code = encode_code(&[0xff; 10]);
        assert_eq!(code, "ZZZZ-ZZZZ-ZZZZ-ZZZZ");
        let code = encode_code(&[0x00, 0x44, 0x32, 0x14, 0xc7, 0x42, 0x54, 0xb6, 0x35, 0xcf]);
        assert_eq!(code.len(), 19);
        let plain = normalize_code(&code);
        assert_eq!(plain.as_deref(), Some(code.replace('-', "").as_str()));
        assert_eq!(
            normalize_code("oiL0-abcd-efgh-jkmn").as_deref(),
            Some("0110ABCDEFGHJKMN")
        );
        assert_eq!(normalize_code("ZZZZ-ZZZZ-ZZZZ-ZZZU"), None);
        assert_eq!(normalize_code("ZZZZ"), None);
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2_shape() {
        // RFC 4231 test case 1 uses a 20-byte key; pad it to our 32-byte key layout
        // (HMAC pads keys with zeros to the block size, so the result is the same).
        let mut key = [0u8; 32];
        key[..20].copy_from_slice(&[0x0b; 20]);
        assert_eq!(
            CodeKey::from_bytes(key).mac_hex(b"Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }
}
