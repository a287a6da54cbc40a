//! Challenges and JPKI-signed applications (DESIGN.md sections 3.2–3.4 and 4).

use crate::{CrlSource, RaError};
use base64::Engine;
use sha2::{Digest, Sha256};
use shuin_core::application::ApplicationDocument;
use shuin_core::issuance::{Approver, IssuanceOrder, Issuer};
use shuin_core::key_policy::{check_subscriber_key, key_fingerprint};
use shuin_core::revocation::Revoker;
use shuin_core::{Clock, RandomSource, ReasonCode, ReviewReason, Serial};
use shuin_jpki::{MatchOutcome, SigningCertificate, Verifier};
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{
    ApplicationRecord, ApplicationStatus, ApplicationStore, CertificateReader, LedgerStore,
    NonceOutcome, NonceStore, SettingsStore,
};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The version of the automatic-approval rule, recorded with every decision.
pub const RULE_VERSION: &str = "shuin-auto-approval/1";

/// The checks the automatic-approval rule requires, in the order recorded with every
/// automatic decision (`application.accepted`); the periodic review re-checks the list.
pub const AUTOMATIC_CHECKS: [&str; 12] = [
    "cms_signature",
    "jpki_chain",
    "jpki_profile",
    "jpki_validity",
    "jpki_revocation",
    "basic_items",
    "nonce",
    "terms",
    "entries_match",
    "csr_proof_of_possession",
    "key_policy",
    "key_unused",
];

/// Largest application body, in bytes (DESIGN.md section 3.2).
pub const MAX_APPLICATION_BYTES: usize = 64 * 1024;

/// What the RA's storage must offer (settings: the automation state and the designated
/// responsible person, read on each decision).
pub trait RaStore:
    NonceStore + ApplicationStore + CertificateReader + LedgerStore + SettingsStore
{
}
impl<T: NonceStore + ApplicationStore + CertificateReader + LedgerStore + SettingsStore> RaStore
    for T
{
}

/// RA settings.
#[derive(Debug, Clone)]
pub struct RaConfig {
    /// How long a challenge nonce lives.
    pub nonce_ttl: Duration,
    /// Hex SHA-256 of the current terms (重要事項).
    pub terms_sha256: String,
    /// URL of the terms.
    pub terms_url: String,
    /// The responsible person (責任者) named as approver of automatic decisions.
    pub responsible_person: String,
    /// Whether valid applications are approved automatically.
    pub automatic_approval: bool,
    /// DER of the chain above subscriber certificates (issuing CA first), public data.
    pub chain_der: Vec<Vec<u8>>,
    /// Days between periodic reviews of automatic approval.
    pub review_interval_days: u32,
}

/// A fresh challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// base64url of 32 random bytes.
    pub nonce: String,
    /// When it stops being accepted.
    pub expires_at: SystemTime,
    /// Hex SHA-256 of the terms.
    pub terms_sha256: String,
    /// Where the terms are.
    pub terms_url: String,
}

/// Where an application stands, as the applicant sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplicationOutcome {
    /// A certificate was issued.
    Issued {
        /// Application id.
        id: String,
        /// Serial.
        serial: Serial,
        /// DER certificate.
        certificate_der: Vec<u8>,
        /// DER chain, issuing CA first.
        chain_der: Vec<Vec<u8>>,
    },
    /// Waiting for an LRA.
    PendingReview {
        /// Application id.
        id: String,
        /// Why.
        reasons: Vec<ReviewReason>,
    },
    /// Approved, with issuance not yet complete.
    Approved {
        /// Application id.
        id: String,
    },
    /// Refused after review.
    Rejected {
        /// Application id.
        id: String,
        /// The LRA's reason.
        reason: String,
    },
    /// A JPKI-signed application without csr: the identity is registered and the key
    /// follows with this code (docs/registration.md).
    Registered {
        /// The registration id.
        registration_id: String,
        /// The 利用者識別符号 (redacted in `Debug`).
        identification_code: crate::registration::IdentificationCode,
        /// When the code expires.
        expires_at: SystemTime,
    },
}

/// How often expired nonces are purged, and how long after expiry.
const NONCE_PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
const NONCE_PURGE_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// The RA.
pub struct RaService {
    pub(crate) verifier: Verifier,
    pub(crate) crl: Arc<dyn CrlSource>,
    pub(crate) store: Arc<dyn RaStore>,
    pub(crate) issuer: Arc<dyn Issuer>,
    pub(crate) revoker: Arc<dyn Revoker>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) rng: Arc<dyn RandomSource>,
    config: RaConfig,
    /// Registrations, reissue notices and the J-LIS follow-up (`with_lifecycle`).
    pub(crate) lifecycle: Option<crate::registration::Lifecycle>,
    /// The organisation book, kept caught up: who the responsible person is.
    pub(crate) organisation: shuin_books::Organisation,
    /// Bounds the ledger entries that refused revocation requests can make.
    pub(crate) refusals: shuin_books::organisation::RefusalBudget,
    /// When expired challenge nonces were last purged.
    nonces_purged_at: std::sync::Mutex<Option<SystemTime>>,
    /// The application book as far as the resume loop has read it.
    pub(crate) application_books: tokio::sync::Mutex<crate::ApplicationBooks>,
    /// Whether older applications were filed under their holders (`file_holders`).
    pub(crate) holders_filed: std::sync::atomic::AtomicBool,
    /// The periodic review's sign-offs, as far as the books were read.
    pub(crate) sign_offs: crate::automation::SignOffWatch,
}

/// The RA's ports to the CA: it issues and revokes only through these.
#[derive(Clone)]
pub struct CaPorts {
    /// Issuance.
    pub issuer: Arc<dyn Issuer>,
    /// Revocation.
    pub revoker: Arc<dyn Revoker>,
}

impl std::fmt::Debug for CaPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CaPorts")
    }
}

impl std::fmt::Debug for RaService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

pub(crate) fn system_actor() -> Actor {
    Actor {
        name: "shuin-ra".into(),
        role: "system".into(),
        zone: "secure".into(),
    }
}

impl RaService {
    /// Wires the RA.
    pub fn new(
        verifier: Verifier,
        crl: Arc<dyn CrlSource>,
        store: Arc<dyn RaStore>,
        ca: CaPorts,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn RandomSource>,
        config: RaConfig,
    ) -> Self {
        Self {
            verifier,
            crl,
            store,
            issuer: ca.issuer,
            revoker: ca.revoker,
            clock,
            rng,
            config,
            lifecycle: None,
            organisation: shuin_books::Organisation::new(),
            refusals: shuin_books::organisation::RefusalBudget::default(),
            nonces_purged_at: std::sync::Mutex::new(None),
            application_books: tokio::sync::Mutex::new(crate::ApplicationBooks::default()),
            holders_filed: std::sync::atomic::AtomicBool::new(false),
            sign_offs: crate::automation::SignOffWatch::default(),
        }
    }

    /// Adds the life-cycle parts: the legacy registration flow, reissue notices and the
    /// J-LIS follow-up.
    pub fn with_lifecycle(mut self, lifecycle: crate::registration::Lifecycle) -> Self {
        self.lifecycle = Some(lifecycle);
        self
    }

    /// The settings in force.
    pub fn config(&self) -> &RaConfig {
        &self.config
    }

    pub(crate) fn random_token(&self, len: usize) -> Result<Vec<u8>, RaError> {
        let mut bytes = vec![0u8; len];
        self.rng
            .fill(&mut bytes)
            .map_err(|e| RaError::Unavailable(Box::new(e)))?;
        Ok(bytes)
    }

    /// Consumes a challenge nonce (step 6 of the order of checks), atomically.
    pub(crate) async fn consume_nonce(&self, nonce: &str, now: SystemTime) -> Result<(), RaError> {
        match self.store.consume_nonce(nonce, now).await? {
            NonceOutcome::Fresh => Ok(()),
            NonceOutcome::Unknown => Err(RaError::reject(
                ReasonCode::NonceUnknown,
                "the nonce was not issued by this server",
            )),
            NonceOutcome::Expired => Err(RaError::reject(
                ReasonCode::NonceExpired,
                "the nonce has expired; fetch a new challenge",
            )),
            NonceOutcome::Reused => Err(RaError::reject(
                ReasonCode::NonceReused,
                "the nonce was already used",
            )),
        }
    }

    /// `POST /api/v1/challenges`.
    pub async fn create_challenge(&self) -> Result<Challenge, RaError> {
        let nonce = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.random_token(32)?);
        let expires_at = self.clock.now() + self.config.nonce_ttl;
        self.store.insert_nonce(&nonce, expires_at).await?;
        Ok(Challenge {
            nonce,
            expires_at,
            terms_sha256: self.config.terms_sha256.clone(),
            terms_url: self.config.terms_url.clone(),
        })
    }

    /// Deletes challenge nonces that expired an hour ago or more: at most once a minute,
    /// and at most 10,000 at a time (the upkeep calls it every tick). An expired nonce is
    /// refused whether or not its row is still there.
    pub async fn purge_expired_nonces(&self) -> Result<u64, RaError> {
        let now = self.clock.now();
        {
            let mut last = self
                .nonces_purged_at
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| now.duration_since(t).unwrap_or_default() < NONCE_PURGE_EVERY) {
                return Ok(0);
            }
            *last = Some(now);
        }
        let Some(cut) = now.checked_sub(NONCE_PURGE_AFTER) else {
            return Ok(0);
        };
        Ok(self.store.purge_expired_nonces(cut, 10_000).await?)
    }

    /// `POST /api/v1/applications`: the checks of DESIGN.md section 3.4 in order, then the
    /// automatic decision, the ledger, and issuance.
    pub async fn submit_application(&self, body: &[u8]) -> Result<ApplicationOutcome, RaError> {
        if body.len() > MAX_APPLICATION_BYTES {
            return Err(RaError::reject(
                ReasonCode::PayloadTooLarge,
                "the application exceeds 64 KiB",
            ));
        }
        self.business_open().await?;
        let now = self.clock.now();
        // Steps 2–4: CMS, signature, JPKI certificate. Nothing inside is parsed before this.
        let crls = self.crl.current();
        let verified = self
            .verifier
            .verify_application(body, &crls, now)
            .map_err(|e| RaError::reject(e.code(), e.to_string()))?;
        let signer = verified.signer;
        let evidence_sha256 = hex::encode(Sha256::digest(body));
        // From here the applicant is identified: refusals are ledgered.
        match self.check_content(&verified.content, &signer, now).await {
            Ok(checked) => {
                self.decide(body, &evidence_sha256, signer, checked, now)
                    .await
            }
            Err(RaError::Rejected(rejection)) => {
                self.ledger_rejection(&signer, &evidence_sha256, rejection.code, now)
                    .await?;
                Err(RaError::Rejected(rejection))
            }
            Err(other) => Err(other),
        }
    }

    /// Steps 5–10.
    async fn check_content(
        &self,
        content: &[u8],
        signer: &SigningCertificate,
        now: SystemTime,
    ) -> Result<Checked, RaError> {
        let document = ApplicationDocument::parse(content)?;
        self.consume_nonce(&document.nonce, now).await?;
        if !document
            .terms_sha256
            .eq_ignore_ascii_case(&self.config.terms_sha256)
        {
            return Err(RaError::reject(
                ReasonCode::TermsMismatch,
                "terms_sha256 is not the SHA-256 of the current terms; show the applicant the current terms",
            ));
        }
        let mut review_reasons =
            match shuin_jpki::match_applicant(&document.applicant, &signer.basic) {
                MatchOutcome::Match => Vec::new(),
                MatchOutcome::Review(reasons) => reasons,
                MatchOutcome::Mismatch(code, detail) => return Err(RaError::reject(code, detail)),
            };
        if document.csr.is_empty() {
            // Registration only: the key follows with a 利用者識別符号 (docs/registration.md).
            if !self.config.automatic_approval || self.automation_suspended().await? {
                review_reasons.push(ReviewReason::AutomationSuspended);
            }
            return Ok(Checked {
                document,
                spki_der: Vec::new(),
                key_fingerprint: String::new(),
                review_reasons,
                replaces: None,
            });
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
        // Step 11 (reissue only): the old certificate and the same person.
        let replaces = self.check_reissue(&document, signer).await?;
        // The responsible person's suspension (`shuin automation suspend`) is read on
        // every decision, so a running server follows it at once.
        if !self.config.automatic_approval || self.automation_suspended().await? {
            review_reasons.push(ReviewReason::AutomationSuspended);
        }
        review_reasons.sort();
        review_reasons.dedup();
        Ok(Checked {
            document,
            spki_der: csr.spki_der,
            key_fingerprint: fingerprint,
            review_reasons,
            replaces,
        })
    }

    async fn decide(
        &self,
        body: &[u8],
        evidence_sha256: &str,
        signer: SigningCertificate,
        checked: Checked,
        now: SystemTime,
    ) -> Result<ApplicationOutcome, RaError> {
        if checked.spki_der.is_empty() {
            return self
                .register_verified(body, evidence_sha256, &signer, &checked.review_reasons, now)
                .await;
        }
        let id = hex::encode(self.random_token(16)?);
        self.store.put_evidence(evidence_sha256, body).await?;
        let (responsible_person, approver_certificate) = self.responsible_person().await?;
        let basic = &signer.basic;
        let personal = crate::personal_data::store_personal_data(
            self.store.as_ref(),
            self.rng.as_ref(),
            &crate::personal_data::basic_items(
                &basic.name,
                &basic.birth.iso(),
                &basic.address,
                &serde_json::json!(basic.gender),
            ),
        )
        .await?;
        self.store
            .link_evidence(&personal.record_sha256, &id)
            .await?;
        let order = IssuanceOrder {
            application_id: id.clone(),
            subject_name: signer.basic.name.clone(),
            spki_der: checked.spki_der.clone(),
            not_after_cap: signer.not_after,
            approver: Approver {
                name: responsible_person.clone(),
                role: "responsible_person".into(),
                automatic: true,
            },
        };
        let details = serde_json::json!({
            "kind": checked.document.kind,
            "replaces": checked.replaces.as_ref().map(Serial::to_hex),
            "jpki": {
                "serial": signer.serial_hex,
                "issuer": signer.issuer,
                "fingerprint_sha256": signer.fingerprint_sha256,
                "issuer_anchor_sha256": signer.issuer_anchor_sha256,
                "not_after": shuin_core::timefmt::rfc3339(signer.not_after),
                "test_card": signer.test_card,
            },
            "entries": checked.document.applicant,
            // Where the holder's notices go (personal data: never in an entry).
            "notice_email": checked.document.email,
            "basic": {
                "name": signer.basic.name,
                "birth_date": signer.basic.birth.iso(),
                "address": signer.basic.address,
                "gender": signer.basic.gender,
                // Kept for the LRA review queue (`shuin review show`).
                "name_substitutes": signer.basic.name_substitutes,
                "address_substitutes": signer.basic.address_substitutes,
                "era": format!("{:?}", signer.basic.birth.era),
            },
            "key_fingerprint": checked.key_fingerprint,
            "spki_der": base64::engine::general_purpose::STANDARD.encode(&checked.spki_der),
            "subject_name": signer.basic.name,
            "not_after_cap": shuin_core::timefmt::rfc3339(signer.not_after),
            "personal_data": personal.to_json(),
        });
        let mut record = ApplicationRecord {
            id: id.clone(),
            status: if checked.review_reasons.is_empty() {
                ApplicationStatus::Approved
            } else {
                ApplicationStatus::PendingReview
            },
            received_at: now,
            review_reasons: checked.review_reasons.clone(),
            serial: None,
            rejection_reason: None,
            evidence_sha256: evidence_sha256.to_owned(),
            details,
        };
        if record.status == ApplicationStatus::Approved {
            crate::resume::note_approval(&mut record, &order.approver, now);
        }
        let subjects = vec![
            format!("application:{id}"),
            format!("jpki:{}", signer.fingerprint_sha256),
        ];
        if checked.review_reasons.is_empty() {
            // Sealed: refuse before anything is decided, so nothing waits half-done.
            self.ca_ready()?;
        }
        // The record first, then its entry: a process stopped in between leaves a record
        // whose entry the resume loop writes (`crate::resume`), never an entry without
        // the record it decides.
        self.store.insert_application(&record).await?;
        self.file_holder(&record).await?;
        if !checked.review_reasons.is_empty() {
            self.store
                .append(
                    EntryDraft {
                        book: Book::Application,
                        kind: "application.pending_review".into(),
                        actor: system_actor(),
                        subjects,
                        payload: serde_json::json!({
                            "review_reasons": checked.review_reasons,
                            "rule_version": RULE_VERSION,
                            "personal_data": personal.to_json(),
                        }),
                        evidence: vec![format!("sha256:{evidence_sha256}")],
                    },
                    now,
                )
                .await?;
            return Ok(ApplicationOutcome::PendingReview {
                id,
                reasons: checked.review_reasons,
            });
        }
        // Record before effect: the decision is ledgered before the CA is asked.
        self.store
            .append(
                EntryDraft {
                    book: Book::Application,
                    kind: "application.accepted".into(),
                    actor: Actor {
                        name: responsible_person.clone(),
                        role: "responsible_person".into(),
                        zone: "secure".into(),
                    },
                    subjects,
                    payload: serde_json::json!({
                        "decision": "approved",
                        "automatic": true,
                        "rule_version": RULE_VERSION,
                        "approver": responsible_person,
                        "approver_certificate_sha256": approver_certificate,
                        "checks": AUTOMATIC_CHECKS,
                        "personal_data": personal.to_json(),
                        "key_fingerprint": checked.key_fingerprint,
                    }),
                    evidence: vec![format!("sha256:{evidence_sha256}")],
                },
                now,
            )
            .await?;
        let outcome = self.issue_recorded(record, order).await?;
        if let (Some(old), ApplicationOutcome::Issued { serial, .. }) =
            (&checked.replaces, &outcome)
        {
            // Issued first; only now is the old certificate revoked (superseded).
            self.complete_reissue(old, serial, &id, now).await;
        }
        Ok(outcome)
    }

    async fn ledger_rejection(
        &self,
        signer: &SigningCertificate,
        evidence_sha256: &str,
        code: ReasonCode,
        now: SystemTime,
    ) -> Result<(), RaError> {
        self.store
            .append(
                EntryDraft {
                    book: Book::Application,
                    kind: "application.rejected".into(),
                    actor: system_actor(),
                    subjects: vec![format!("jpki:{}", signer.fingerprint_sha256)],
                    payload: serde_json::json!({"reason_code": code, "rule_version": RULE_VERSION}),
                    evidence: vec![format!("sha256:{evidence_sha256}")],
                },
                now,
            )
            .await?;
        Ok(())
    }

    /// `GET /api/v1/applications/{id}`.
    pub async fn application(&self, id: &str) -> Result<ApplicationOutcome, RaError> {
        let not_found = || RaError::reject(ReasonCode::NotFound, "no application with that id");
        if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        let record = self.store.application(id).await?.ok_or_else(not_found)?;
        Ok(match record.status {
            ApplicationStatus::PendingReview => ApplicationOutcome::PendingReview {
                id: record.id,
                reasons: record.review_reasons,
            },
            ApplicationStatus::Approved => ApplicationOutcome::Approved { id: record.id },
            ApplicationStatus::Rejected => ApplicationOutcome::Rejected {
                id: record.id,
                reason: record.rejection_reason.unwrap_or_default(),
            },
            ApplicationStatus::Issued => {
                let serial = record.serial.ok_or_else(|| {
                    RaError::Unavailable("issued application without serial".into())
                })?;
                let certificate = self
                    .store
                    .certificate(&serial)
                    .await?
                    .and_then(|c| c.der)
                    .ok_or_else(|| {
                        RaError::Unavailable("issued certificate missing from storage".into())
                    })?;
                ApplicationOutcome::Issued {
                    id: record.id,
                    serial,
                    certificate_der: certificate,
                    chain_der: self.config.chain_der.clone(),
                }
            }
        })
    }
}

struct Checked {
    document: ApplicationDocument,
    spki_der: Vec<u8>,
    key_fingerprint: String,
    review_reasons: Vec<ReviewReason>,
    /// The certificate a reissue replaces (checked by `check_reissue`).
    replaces: Option<Serial>,
}
