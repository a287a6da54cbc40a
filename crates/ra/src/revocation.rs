//! Subscriber revocation requests (`POST /api/v1/revocations`, DESIGN.md section 3.2):
//! a CMS SignedData over `shuin-revocation/1`, signed by the certificate's own key or by
//! the holder's JPKI signing key (the same person: the 4 basic items recorded at issuance
//! match). Authorised requests are approved automatically; others are refused and revoke
//! nothing. A refusal is ledgered when its signer is a real JPKI holder; one signed by an
//! unknown key is counted and logged only, so outsiders cannot flood the books.

use crate::application::{system_actor, MAX_APPLICATION_BYTES};
use crate::{RaError, RaService};
use der::Decode;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use shuin_core::revocation::{RevocationPortError, RevocationReason, RevocationRequest};
use shuin_core::{ReasonCode, Serial};
use shuin_jpki::{normalize_address, normalize_text};
use shuin_ledger::{Book, EntryDraft};
use shuin_store::CertificateState;
use std::time::SystemTime;

/// The revocation document format.
pub const REVOCATION_FORMAT: &str = "shuin-revocation/1";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevocationDocument {
    format: String,
    serial: String,
    reason: String,
    nonce: String,
}

/// A revocation that took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationAnswer {
    /// The serial.
    pub serial: Serial,
    /// When.
    pub revoked_at: SystemTime,
    /// The CRL that lists it.
    pub crl_number: u64,
}

fn parse_document(content: &[u8]) -> Result<(Serial, RevocationReason, String), RaError> {
    let document: RevocationDocument = crate::signed_document::parse(content, REVOCATION_FORMAT)?;
    let _ = document.format;
    let serial = Serial::from_hex(&document.serial).ok_or_else(|| {
        RaError::reject(ReasonCode::MalformedRequest, "serial must be a hex serial")
    })?;
    let reason = RevocationReason::parse(&document.reason).ok_or_else(|| {
        RaError::reject(
            ReasonCode::MalformedRequest,
            "reason must be an RFC 5280 reason name (keyCompromise, ...)",
        )
    })?;
    Ok((serial, reason, document.nonce))
}

pub(crate) fn same_person(recorded: &serde_json::Value, basic: &shuin_jpki::BasicInfo) -> bool {
    let text = |key: &str| {
        recorded
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    // A gender the record does not hold (an LRA may register an identity without it)
    // is not compared; one it holds must match.
    let gender = text("gender");
    normalize_text(&text("name")) == normalize_text(&basic.name)
        && text("birth_date") == basic.birth.iso()
        && normalize_address(&text("address")) == normalize_address(&basic.address)
        && (gender.is_empty() || gender == basic.gender)
}

/// Who decided a revocation requested with the holder's JPKI card, as the revocation
/// book names them: the holder, never by name.
pub const SUBSCRIBER_BY_JPKI: &str = "subscriber (JPKI same person)";

impl RaService {
    /// `POST /api/v1/revocations`.
    pub async fn submit_revocation(&self, body: &[u8]) -> Result<RevocationAnswer, RaError> {
        if body.len() > MAX_APPLICATION_BYTES {
            return Err(RaError::reject(
                ReasonCode::PayloadTooLarge,
                "the request exceeds 64 KiB",
            ));
        }
        let now = self.clock.now();
        let signed = shuin_jpki::verify_subscriber_signed_data(body)
            .map_err(|e| RaError::reject(e.code(), e.to_string()))?;
        let (serial, reason, nonce) = parse_document(&signed.content)?;
        self.consume_nonce(&nonce, now).await?;
        let certificate = self
            .store
            .certificate(&serial)
            .await?
            .filter(|c| c.state == CertificateState::Issued)
            .ok_or_else(|| {
                RaError::reject(
                    ReasonCode::CertificateUnknown,
                    "no certificate with that serial was issued here",
                )
            })?;
        let evidence = hex::encode(Sha256::digest(body));
        let (decided_by, authorisation) =
            if certificate.der.as_deref() == Some(signed.signer_der.as_slice()) {
                ("subscriber (certificate key)".to_owned(), "subscriber_key")
            } else {
                match self
                    .jpki_holder(body, &certificate.application_id, now)
                    .await
                {
                    // The holder, named without their name (docs/ledger.md, "Personal data").
                    Ok(()) => (SUBSCRIBER_BY_JPKI.to_owned(), "jpki_same_person"),
                    Err(refusal) => {
                        let refusal = self.subscriber_signer(refusal, &signed.signer_der).await?;
                        let detail = refusal.to_string();
                        self.record_refusal(refusal, &serial, &evidence, now)
                            .await?;
                        return Err(RaError::reject(ReasonCode::RevocationNotAuthorized, detail));
                    }
                }
            };
        self.store.put_evidence(&evidence, body).await?;
        let request = RevocationRequest {
            serial: serial.clone(),
            reason,
            invalidity_date: None,
            decided_by,
            role: "subscriber".into(),
            authorisation: authorisation.into(),
        };
        match self.revoker.revoke(request).await {
            Ok(done) => Ok(RevocationAnswer {
                serial,
                revoked_at: done.revoked_at,
                crl_number: done.crl_number,
            }),
            Err(RevocationPortError::UnknownSerial) => Err(RaError::reject(
                ReasonCode::CertificateUnknown,
                "no certificate with that serial was issued here",
            )),
            Err(RevocationPortError::AlreadyRevoked { revoked_at }) => Err(RaError::reject(
                ReasonCode::CertificateAlreadyRevoked,
                format!(
                    "the certificate was already revoked at {}",
                    shuin_core::timefmt::rfc3339(revoked_at)
                ),
            )),
            Err(RevocationPortError::Sealed) => Err(RaError::reject(
                ReasonCode::CaSealed,
                "the CA is sealed; try again later",
            )),
            Err(other) => Err(RaError::Unavailable(Box::new(other))),
        }
    }

    /// Whether `body` is signed by a valid JPKI signing certificate of the same person as
    /// the one the certificate was issued to; if not, why not.
    async fn jpki_holder(
        &self,
        body: &[u8],
        application_id: &str,
        now: SystemTime,
    ) -> Result<(), HolderRefusal> {
        let crls = self.crl.current();
        let verified = self
            .verifier
            .verify_application(body, &crls, now)
            .map_err(|e| HolderRefusal::UnknownSigner(e.to_string()))?;
        let signer = verified.signer;
        let known = |detail: String| HolderRefusal::OtherPerson {
            jpki_serial: signer.serial_hex.clone(),
            detail,
        };
        let application = self
            .store
            .application(application_id)
            .await
            .map_err(|e| known(format!("the issuance record is unavailable: {e}")))?
            .ok_or_else(|| known("the issuance record is missing".into()))?;
        let recorded = application
            .details
            .get("basic")
            .cloned()
            .unwrap_or_default();
        if same_person(&recorded, &signer.basic) {
            Ok(())
        } else {
            Err(known(
                "the JPKI signer is not the person the certificate was issued to".into(),
            ))
        }
    }

    /// A request whose signer is no JPKI holder may still be signed by the key of another
    /// certificate issued here (a known subscriber): the signer certificate is looked up
    /// by serial and compared byte for byte.
    async fn subscriber_signer(
        &self,
        refusal: HolderRefusal,
        signer_der: &[u8],
    ) -> Result<HolderRefusal, RaError> {
        let HolderRefusal::UnknownSigner(detail) = refusal else {
            return Ok(refusal);
        };
        let serial = x509_cert::Certificate::from_der(signer_der)
            .ok()
            .and_then(|c| Serial::from_der_integer(c.tbs_certificate.serial_number.as_bytes()));
        if let Some(serial) = serial {
            let ours = self.store.certificate(&serial).await?;
            if ours.is_some_and(|c| c.der.as_deref() == Some(signer_der)) {
                return Ok(HolderRefusal::OtherSubscriber { serial, detail });
            }
        }
        Ok(HolderRefusal::UnknownSigner(detail))
    }

    /// Books a refused revocation request. A request whose signer is unknown (neither
    /// the certificate's key nor a valid JPKI signing key: anyone can make one) is counted
    /// and logged, never ledgered. One signed by a real JPKI holder who is not the
    /// subscriber, or by another subscriber's certificate key, is ledgered as
    /// `revocation.refused` (within the refusal budget), naming the signer.
    async fn record_refusal(
        &self,
        refusal: HolderRefusal,
        serial: &Serial,
        evidence: &str,
        now: SystemTime,
    ) -> Result<(), RaError> {
        let reason = ReasonCode::RevocationNotAuthorized;
        let (signer, detail) = match refusal {
            HolderRefusal::UnknownSigner(detail) => {
                self.refusals.unledgered().count(reason.as_str());
                tracing::warn!(%serial, reason = reason.as_str(), evidence = %evidence, "refused a revocation request signed by an unknown key (counted, not ledgered): {detail}");
                return Ok(());
            }
            HolderRefusal::OtherPerson {
                jpki_serial,
                detail,
            } => (serde_json::json!({"jpki_serial": jpki_serial}), detail),
            HolderRefusal::OtherSubscriber { serial, detail } => (
                serde_json::json!({"certificate_serial": serial.to_hex()}),
                format!("signed by the key of another certificate ({detail})"),
            ),
        };
        let Some(note) = self.refusals.note(now) else {
            tracing::warn!(%serial, %signer, "refused a revocation request by a known signer (over the refusal budget: counted into the next entry): {detail}");
            return Ok(());
        };
        let payload = serde_json::json!({
            "reason_code": reason,
            "detail": detail,
            "signer": signer,
            "suppressed_before": note.suppressed_before,
        });
        self.store
            .append(
                EntryDraft {
                    book: Book::Revocation,
                    kind: "revocation.refused".into(),
                    actor: system_actor(),
                    subjects: vec![format!("serial:{serial}")],
                    payload,
                    evidence: vec![format!("sha256:{evidence}")],
                },
                now,
            )
            .await?;
        Ok(())
    }

    /// Refusals of revocation requests by unknown signers, counted by reason code since
    /// start (for `/metrics`).
    pub fn unledgered_refusals(&self) -> Vec<(&'static str, u64)> {
        self.refusals.unledgered().counts()
    }

    /// The J-LIS CRLs applications are checked against now (for `/metrics`): none means
    /// every application and card-signed request is refused (`jpki_revocation_unavailable`).
    pub fn jpki_crls(&self) -> Vec<JpkiCrlFacts> {
        self.crl
            .current()
            .iter()
            .map(|crl| JpkiCrlFacts {
                anchor_sha256: crl.anchor_fingerprint().to_owned(),
                this_update: crl.this_update(),
                next_update: crl.next_update(),
                revoked: crl.revoked_count(),
            })
            .collect()
    }
}

/// One J-LIS CRL in use, as monitoring shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JpkiCrlFacts {
    /// The fingerprint of the trust anchor whose key signed it.
    pub anchor_sha256: String,
    /// thisUpdate.
    pub this_update: std::time::SystemTime,
    /// nextUpdate, if any.
    pub next_update: Option<std::time::SystemTime>,
    /// How many JPKI certificates it lists.
    pub revoked: usize,
}

/// Why a revocation request signed by someone other than the certificate's key is not
/// authorised.
#[derive(Debug)]
enum HolderRefusal {
    /// Not signed by a valid JPKI signing key: the signer is unknown.
    UnknownSigner(String),
    /// Signed by a valid JPKI signing key (a real holder) of another person, or the
    /// issuance record could not be compared.
    OtherPerson {
        /// The signer's JPKI certificate serial (hex).
        jpki_serial: String,
        /// Why.
        detail: String,
    },
    /// Signed by the key of another certificate issued here (a known subscriber).
    OtherSubscriber {
        /// That certificate's serial.
        serial: Serial,
        /// Why the signature does not authorise this revocation.
        detail: String,
    },
}

impl std::fmt::Display for HolderRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HolderRefusal::UnknownSigner(e) => write!(f, "the request is signed neither by the certificate's key nor by a valid JPKI signing key ({e})"),
            HolderRefusal::OtherPerson { detail, .. } => f.write_str(detail),
            HolderRefusal::OtherSubscriber { detail, .. } => write!(f, "the request is signed neither by the certificate's key nor by a valid JPKI signing key ({detail})"),
        }
    }
}

#[cfg(test)]
#[path = "revocation_tests.rs"]
mod tests;
