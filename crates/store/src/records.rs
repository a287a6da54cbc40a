//! Rows as domain records. Database row structs stay inside each implementation.

use serde::{Deserialize, Serialize};
use shuin_core::{ReviewReason, Serial};
use std::time::SystemTime;

/// The result of consuming a nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceOutcome {
    /// Unused and in time: now consumed.
    Fresh,
    /// Never issued.
    Unknown,
    /// Past its expiry (now consumed).
    Expired,
    /// Already used.
    Reused,
}

/// Where an application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationStatus {
    /// Waiting for an LRA.
    PendingReview,
    /// Approved; the certificate is being (or failed to be) issued.
    Approved,
    /// A certificate was issued.
    Issued,
    /// Refused after review.
    Rejected,
}

impl ApplicationStatus {
    /// The stable text.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationStatus::PendingReview => "pending_review",
            ApplicationStatus::Approved => "approved",
            ApplicationStatus::Issued => "issued",
            ApplicationStatus::Rejected => "rejected",
        }
    }

    /// Parses the stable text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending_review" => Some(ApplicationStatus::PendingReview),
            "approved" => Some(ApplicationStatus::Approved),
            "issued" => Some(ApplicationStatus::Issued),
            "rejected" => Some(ApplicationStatus::Rejected),
            _ => None,
        }
    }
}

/// An accepted application (one that passed every hard check).
#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationRecord {
    /// Its id.
    pub id: String,
    /// Where it stands.
    pub status: ApplicationStatus,
    /// When it arrived.
    pub received_at: SystemTime,
    /// Why it waits for review.
    pub review_reasons: Vec<ReviewReason>,
    /// The issued certificate.
    pub serial: Option<Serial>,
    /// Why it was rejected after review.
    pub rejection_reason: Option<String>,
    /// SHA-256 of the raw CMS evidence.
    pub evidence_sha256: String,
    /// Everything needed to decide and issue later (order, JPKI facts, entries), as JSON.
    pub details: serde_json::Value,
}

/// Where a certificate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateState {
    /// Serial reserved, ledger `certificate.signing` may follow.
    Reserved,
    /// Signed and stored.
    Issued,
    /// Reserved but never delivered (reconciled after a crash).
    Undelivered,
}

impl CertificateState {
    /// The stable text.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateState::Reserved => "reserved",
            CertificateState::Issued => "issued",
            CertificateState::Undelivered => "undelivered",
        }
    }

    /// Parses the stable text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "reserved" => Some(CertificateState::Reserved),
            "issued" => Some(CertificateState::Issued),
            "undelivered" => Some(CertificateState::Undelivered),
            _ => None,
        }
    }
}

/// A certificate or its reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    /// The serial.
    pub serial: Serial,
    /// The application it answers.
    pub application_id: String,
    /// SHA-256 of the certified SPKI.
    pub key_fingerprint: String,
    /// SHA-256 of the TBSCertificate that was (or will be) signed.
    pub tbs_sha256: String,
    /// Where it stands.
    pub state: CertificateState,
    /// Validity.
    pub not_before: SystemTime,
    /// Validity.
    pub not_after: SystemTime,
    /// DER, once issued.
    pub der: Option<Vec<u8>>,
}

/// A revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRecord {
    /// The revoked certificate.
    pub serial: Serial,
    /// When the revocation took effect.
    pub revoked_at: SystemTime,
    /// Why.
    pub reason: shuin_core::revocation::RevocationReason,
    /// When the key is known or suspected to have been compromised.
    pub invalidity_date: Option<SystemTime>,
    /// Who decided (operator name, `subscriber`, or `system`).
    pub decided_by: String,
}

/// A signed CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlRecord {
    /// `ca` or `root`.
    pub scope: String,
    /// The CRL number.
    pub number: u64,
    /// thisUpdate.
    pub this_update: SystemTime,
    /// nextUpdate.
    pub next_update: SystemTime,
    /// DER.
    pub der: Vec<u8>,
}

/// A pre-signed OCSP answer to keep ([`crate::OcspAnswerStore`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedAnswer {
    /// The certificate it answers for.
    pub serial: Serial,
    /// The DER OCSPResponse.
    pub der: Vec<u8>,
    /// Whether it was signed `revoked` (otherwise `good`).
    pub revoked: bool,
    /// Its producedAt (whole seconds are kept).
    pub produced_at: SystemTime,
}

/// What the store says of one serial for OCSP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcspLookup {
    /// No certificate with this serial was issued here (a reservation is not issued).
    NotIssued,
    /// Issued, and answered by this kept answer, signed for its current status.
    Answered(Vec<u8>),
    /// Issued, with no answer signed for its current status yet (none kept, or one
    /// signed `good` while it is revoked).
    Unanswered,
}

/// A certificate whose answer is to be signed, with its status now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspToSign {
    /// The certificate.
    pub serial: Serial,
    /// When and why it was revoked; `None` while it is not.
    pub revoked: Option<(SystemTime, shuin_core::revocation::RevocationReason)>,
}
