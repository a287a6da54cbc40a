//! Disclosure to the holder (名義人への情報開示, survey item B11;
//! `POST /api/v1/disclosures`): a holder obtains the records kept about them by sending a
//! CMS SignedData over `shuin-disclosure/1`, signed with their JPKI signing key. The
//! records are those of the applications whose recorded 4 basic items are the signer's
//! (the same-person rule of holder revocation), found through the holder index
//! ([`holder_key`]). The disclosure is ledgered (`disclosure.made`) before the answer
//! leaves; a request for another person's application, or by a holder of whom nothing is
//! kept, is refused and ledgered (`disclosure.refused`, within the refusal budget).
//! Requests whose signature, chain or revocation check fails are refused before anyone
//! is identified, and never ledgered.

use crate::application::{system_actor, MAX_APPLICATION_BYTES};
use crate::personal_data::kept_reference;
use crate::revocation::same_person;
use crate::{RaError, RaService};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use shuin_core::timefmt::rfc3339;
use shuin_core::ReasonCode;
use shuin_jpki::{normalize_address, normalize_text, SigningCertificate};
use shuin_ledger::{Book, EntryDraft};
use shuin_store::{ApplicationRecord, CertificateRecord, NO_HOLDER};
use std::sync::atomic::Ordering;
use std::time::SystemTime;

/// The disclosure request format.
pub const DISCLOSURE_FORMAT: &str = "shuin-disclosure/1";

/// At most this many applications are disclosed in one answer (oldest first); the answer
/// says when there were more.
pub const MAX_DISCLOSED: usize = 100;

/// How many unfiled applications the start-up filing reads at a time.
const FILING_PAGE: u32 = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DisclosureDocument {
    format: String,
    nonce: String,
    /// Only this application (it must be the signer's); all of them when absent.
    #[serde(default)]
    application_id: Option<String>,
}

/// The holder key of recorded basic items (`name`, `birth_date`, `address`, as an
/// application's `basic` member holds them): lowercase hex SHA-256 over the items
/// normalised as the same-person rule compares them. The gender is left out, because a
/// record may not hold it; the same-person rule compares it where it does. Kept only in
/// the store's holder index (personal data, forgotten at the end of retention), never in
/// the books.
pub(crate) fn holder_key(basic: &Value) -> Option<String> {
    let text = |key: &str| basic.get(key).and_then(Value::as_str).unwrap_or_default();
    if text("name").is_empty() || text("birth_date").is_empty() {
        return None;
    }
    let mut hash = Sha256::new();
    hash.update(b"shuin-holder/1");
    for item in [
        normalize_text(text("name")),
        text("birth_date").to_owned(),
        normalize_address(text("address")),
    ] {
        hash.update([0u8]);
        hash.update(item.as_bytes());
    }
    Some(hex::encode(hash.finalize()))
}

fn signer_basic(signer: &SigningCertificate) -> Value {
    serde_json::json!({
        "name": signer.basic.name,
        "birth_date": signer.basic.birth.iso(),
        "address": signer.basic.address,
        "gender": signer.basic.gender,
    })
}

/// What a holder is told: the records kept about them.
#[derive(Debug, Clone, Serialize)]
pub struct Disclosure {
    /// The ledger entry that records this disclosure.
    pub entry_seq: u64,
    /// When.
    pub disclosed_at: String,
    /// Their applications, oldest first.
    pub applications: Vec<DisclosedApplication>,
    /// Whether more applications are kept than [`MAX_DISCLOSED`].
    pub truncated: bool,
}

/// One application as kept.
#[derive(Debug, Clone, Serialize)]
pub struct DisclosedApplication {
    /// Its id.
    pub id: String,
    /// Where it stands.
    pub status: String,
    /// When it arrived.
    pub received_at: String,
    /// Why it waited for review.
    pub review_reasons: Vec<String>,
    /// Why it was rejected.
    pub rejection_reason: Option<String>,
    /// Everything stored with it (what was typed, the card's basic items, the JPKI
    /// certificate's facts, the decision), or `null` members where retention forgot them.
    pub details: Value,
    /// SHA-256 of the signed application.
    pub evidence_sha256: String,
    /// The signed application (CMS, base64), while it is kept.
    pub evidence: Option<String>,
    /// The sealed personal data record the books' entries commit to (base64), while it
    /// is kept: `shuin_ledger::personal_data` checks it against an entry's reference.
    pub personal_data_record: Option<String>,
    /// Certificates issued for it.
    pub certificates: Vec<DisclosedCertificate>,
}

/// One certificate.
#[derive(Debug, Clone, Serialize)]
pub struct DisclosedCertificate {
    /// Serial (hex).
    pub serial: String,
    /// `reserved`, `issued` or `undelivered`.
    pub state: String,
    /// Validity.
    pub not_before: String,
    /// Validity.
    pub not_after: String,
    /// The certificate (PEM), once issued.
    pub certificate_pem: Option<String>,
    /// Its revocation, if revoked.
    pub revocation: Option<DisclosedRevocation>,
}

/// A revocation.
#[derive(Debug, Clone, Serialize)]
pub struct DisclosedRevocation {
    /// When it took effect.
    pub revoked_at: String,
    /// RFC 5280 reason name.
    pub reason: &'static str,
    /// Who decided.
    pub decided_by: String,
}

impl RaService {
    /// `POST /api/v1/disclosures`.
    pub async fn submit_disclosure(&self, body: &[u8]) -> Result<Disclosure, RaError> {
        if body.len() > MAX_APPLICATION_BYTES {
            return Err(RaError::reject(
                ReasonCode::PayloadTooLarge,
                "the request exceeds 64 KiB",
            ));
        }
        let now = self.clock.now();
        let crls = self.crl.current();
        let verified = self
            .verifier
            .verify_application(body, &crls, now)
            .map_err(|e| RaError::reject(e.code(), e.to_string()))?;
        let document: DisclosureDocument =
            crate::signed_document::parse(&verified.content, DISCLOSURE_FORMAT)?;
        debug_assert_eq!(document.format, DISCLOSURE_FORMAT);
        self.consume_nonce(&document.nonce, now).await?;
        let signer = verified.signer;
        let request_sha256 = hex::encode(Sha256::digest(body));
        let basic = signer_basic(&signer);
        let mut kept = match holder_key(&basic) {
            Some(holder) => self.store.applications_of_holder(&holder).await?,
            None => Vec::new(),
        };
        // The index is a lookup only: every record is compared as holder revocation does.
        kept.retain(|a| same_person(&a.details["basic"], &signer.basic));
        if let Some(wanted) = &document.application_id {
            kept.retain(|a| &a.id == wanted);
            if kept.is_empty() {
                let detail = "that application is not one of the signer's";
                return Err(self
                    .refuse(ReasonCode::DisclosureNotAuthorized, detail, &signer, now)
                    .await);
            }
        }
        if kept.is_empty() {
            let detail = "no records are kept about the signer (records are found by the 4 basic items on the card)";
            return Err(self
                .refuse(ReasonCode::NoRecordsHeld, detail, &signer, now)
                .await);
        }
        let truncated = kept.len() > MAX_DISCLOSED;
        kept.truncate(MAX_DISCLOSED);
        let mut applications = Vec::with_capacity(kept.len());
        for record in kept {
            applications.push(self.disclosed(record).await?);
        }
        // Record before effect: the request is kept (its retention follows the
        // applications it disclosed) and the disclosure ledgered before any answer.
        self.store.put_evidence(&request_sha256, body).await?;
        for application in &applications {
            self.store
                .link_evidence(&request_sha256, &application.id)
                .await?;
        }
        let entry = self
            .store
            .append(
                EntryDraft {
                    book: Book::Application,
                    kind: "disclosure.made".into(),
                    actor: system_actor(),
                    subjects: applications
                        .iter()
                        .map(|a| format!("application:{}", a.id))
                        .collect(),
                    payload: serde_json::json!({
                        "requested_by": "holder (JPKI signing key)",
                        "jpki_serial": signer.serial_hex,
                        "scope": if document.application_id.is_some() { "application" } else { "all" },
                        "applications": applications.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
                        "certificates": applications.iter().flat_map(|a| a.certificates.iter().map(|c| c.serial.as_str())).collect::<Vec<_>>(),
                        "truncated": truncated,
                    }),
                    evidence: vec![format!("sha256:{request_sha256}")],
                },
                now,
            )
            .await?;
        Ok(Disclosure {
            entry_seq: entry.seq,
            disclosed_at: rfc3339(now),
            applications,
            truncated,
        })
    }

    /// One application with its evidence, certificates and revocations.
    async fn disclosed(&self, record: ApplicationRecord) -> Result<DisclosedApplication, RaError> {
        let b64 = |bytes: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(bytes);
        let evidence = self.store.evidence(&record.evidence_sha256).await?.map(b64);
        let personal_data_record = match kept_reference(&record.details) {
            Some(reference) => self
                .store
                .evidence(&reference.record_sha256)
                .await?
                .map(b64),
            None => None,
        };
        let mut certificates = Vec::new();
        for certificate in self.store.certificates_of_application(&record.id).await? {
            certificates.push(self.disclosed_certificate(certificate).await?);
        }
        Ok(DisclosedApplication {
            id: record.id,
            status: record.status.as_str().to_owned(),
            received_at: rfc3339(record.received_at),
            review_reasons: record
                .review_reasons
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            rejection_reason: record.rejection_reason,
            details: record.details,
            evidence_sha256: record.evidence_sha256,
            evidence,
            personal_data_record,
            certificates,
        })
    }

    async fn disclosed_certificate(
        &self,
        certificate: CertificateRecord,
    ) -> Result<DisclosedCertificate, RaError> {
        let revocation = self
            .lifecycle()?
            .store
            .revocation(&certificate.serial)
            .await?
            .map(|r| DisclosedRevocation {
                revoked_at: rfc3339(r.revoked_at),
                reason: r.reason.name(),
                decided_by: r.decided_by,
            });
        let certificate_pem = certificate.der.as_deref().map(|der| {
            der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der)
                .unwrap_or_default()
        });
        Ok(DisclosedCertificate {
            serial: certificate.serial.to_hex(),
            state: certificate.state.as_str().to_owned(),
            not_before: rfc3339(certificate.not_before),
            not_after: rfc3339(certificate.not_after),
            certificate_pem,
            revocation,
        })
    }

    /// Ledgers a refused request by an identified holder (within the refusal budget;
    /// over it, counted into the next entry) and returns the refusal to answer.
    async fn refuse(
        &self,
        code: ReasonCode,
        detail: &str,
        signer: &SigningCertificate,
        now: SystemTime,
    ) -> RaError {
        let refusal = RaError::reject(code, detail);
        let Some(note) = self.refusals.note(now) else {
            tracing::warn!(reason = code.as_str(), "refused a disclosure request (over the refusal budget: counted into the next entry): {detail}");
            return refusal;
        };
        let appended = self
            .store
            .append(
                EntryDraft {
                    book: Book::Application,
                    kind: "disclosure.refused".into(),
                    actor: system_actor(),
                    subjects: vec![],
                    payload: serde_json::json!({
                        "reason_code": code,
                        "detail": detail,
                        "signer": {"jpki_serial": signer.serial_hex},
                        "suppressed_before": note.suppressed_before,
                    }),
                    evidence: vec![],
                },
                now,
            )
            .await;
        match appended {
            Ok(_) => refusal,
            Err(e) => e.into(),
        }
    }

    /// Files under their holder the applications stored before the holder index existed,
    /// or whose filing a stop interrupted (once per process, from its first upkeep
    /// round until it succeeds).
    pub async fn file_holders(&self) {
        // Set first: a filing that fails meanwhile (file_holder) clears it again.
        if self.holders_filed.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut filed = 0u64;
        loop {
            let page = match self.store.unfiled_applications(FILING_PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(error = %e, "filing applications under their holders failed; retried at the next pass");
                    self.holders_filed.store(false, Ordering::Release);
                    return;
                }
            };
            let last = page.len() < usize::try_from(FILING_PAGE).unwrap_or(usize::MAX);
            for record in &page {
                if let Err(e) = self.file_holder(record).await {
                    // file_holder cleared the flag: the next pass goes on.
                    tracing::error!(application = %record.id, error = %e, "filing an application under its holder failed; retried at the next pass");
                    return;
                }
                filed += 1;
            }
            if last {
                break;
            }
        }
        if filed > 0 {
            tracing::info!(filed, "filed older applications under their holders");
        }
    }

    /// Files one application under its holder (or under no holder, without identity).
    pub(crate) async fn file_holder(&self, record: &ApplicationRecord) -> Result<(), RaError> {
        let holder = holder_key(&record.details["basic"]);
        let filed = self
            .store
            .index_holder(holder.as_deref().unwrap_or(NO_HOLDER), &record.id)
            .await;
        if filed.is_err() {
            // The next upkeep round files what is left unfiled.
            self.holders_filed.store(false, Ordering::Release);
        }
        Ok(filed?)
    }
}

#[cfg(test)]
#[path = "disclosure_tests.rs"]
mod tests;
