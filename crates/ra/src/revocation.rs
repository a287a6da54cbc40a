//! Subscriber revocation requests (`POST /api/v1/revocations`, DESIGN.md section 3.2):
//! a CMS SignedData over `shuin-revocation/1`, signed by the certificate's own key or by
//! the holder's JPKI signing key (the same person: the 4 basic items recorded at issuance
//! match). Authorised requests are approved automatically; others are refused, ledgered,
//! and revoke nothing.

use crate::application::{system_actor, MAX_APPLICATION_BYTES};
use crate::{RaError, RaService};
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
    let value: serde_json::Value = serde_json::from_slice(content).map_err(|e| {
        RaError::reject(
            ReasonCode::MalformedRequest,
            format!("the request is not JSON: {e}"),
        )
    })?;
    match value.get("format").and_then(|f| f.as_str()) {
        Some(REVOCATION_FORMAT) => {}
        Some(other) => {
            return Err(RaError::reject(
                ReasonCode::UnsupportedFormat,
                format!("format {other:?} is not supported; use {REVOCATION_FORMAT:?}"),
            ))
        }
        None => {
            return Err(RaError::reject(
                ReasonCode::MalformedRequest,
                "the request has no string field \"format\"",
            ))
        }
    }
    let document: RevocationDocument = serde_json::from_value(value).map_err(|e| {
        RaError::reject(
            ReasonCode::MalformedRequest,
            format!("the request does not match {REVOCATION_FORMAT}: {e}"),
        )
    })?;
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
    normalize_text(&text("name")) == normalize_text(&basic.name)
        && text("birth_date") == basic.birth.iso()
        && normalize_address(&text("address")) == normalize_address(&basic.address)
        && text("gender") == basic.gender
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
        let (decided_by, authorisation) = if certificate.der.as_deref()
            == Some(signed.signer_der.as_slice())
        {
            ("subscriber (certificate key)".to_owned(), "subscriber_key")
        } else {
            match self
                .jpki_holder(body, &certificate.application_id, now)
                .await
            {
                // The holder, named without their name (docs/ledger.md, "Personal data").
                Ok(()) => (SUBSCRIBER_BY_JPKI.to_owned(), "jpki_same_person"),
                Err(detail) => {
                    // Anyone with a self-made key can be refused: within a budget each
                    // refusal is an entry, beyond it they are counted into the next one.
                    match self.refusals.note(now) {
                        Some(note) => {
                            self.store
                                .append(
                                    EntryDraft {
                                        book: Book::Revocation,
                                        kind: "revocation.refused".into(),
                                        actor: system_actor(),
                                        subjects: vec![format!("serial:{serial}")],
                                        payload: serde_json::json!({"reason_code": ReasonCode::RevocationNotAuthorized, "detail": detail, "suppressed_before": note.suppressed_before}),
                                        evidence: vec![format!("sha256:{evidence}")],
                                    },
                                    now,
                                )
                                .await?;
                        }
                        None => {
                            tracing::warn!(%serial, "refused a revocation request (counted, not ledgered: {detail})")
                        }
                    }
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
    ) -> Result<(), String> {
        let crl = self.crl.current();
        let verified = self
            .verifier
            .verify_application(body, crl.as_deref(), now)
            .map_err(|e| format!("the request is signed neither by the certificate's key nor by a valid JPKI signing key ({e})"))?;
        let application = self
            .store
            .application(application_id)
            .await
            .map_err(|e| format!("the issuance record is unavailable: {e}"))?
            .ok_or_else(|| "the issuance record is missing".to_owned())?;
        let recorded = application
            .details
            .get("basic")
            .cloned()
            .unwrap_or_default();
        if same_person(&recorded, &verified.signer.basic) {
            Ok(())
        } else {
            Err("the JPKI signer is not the person the certificate was issued to".into())
        }
    }
}
