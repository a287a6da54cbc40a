//! Storage for the subscriber life cycle around issuance: registrations of the legacy
//! 利用者識別符号 flow, the notice outbox (旧証明書の失効通知 and the like), and the
//! review list of certificates whose holder's JPKI certificate was revoked by J-LIS.

use crate::StoreError;
use async_trait::async_trait;
use shuin_core::Serial;
use std::time::SystemTime;

/// Where a registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationState {
    /// Waiting for the applicant's key.
    Open,
    /// The code was used (once, as the rule requires).
    Used,
    /// Too many wrong codes: refused from now on, even with the right code.
    Locked,
}

impl RegistrationState {
    /// The stable text.
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationState::Open => "open",
            RegistrationState::Used => "used",
            RegistrationState::Locked => "locked",
        }
    }

    /// Parses the stable text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "open" => Some(RegistrationState::Open),
            "used" => Some(RegistrationState::Used),
            "locked" => Some(RegistrationState::Locked),
            _ => None,
        }
    }
}

/// An identity verified by an LRA, waiting for the holder's key. The code itself is never
/// stored: only its keyed hash.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationRecord {
    /// Its id (public; printed with the code).
    pub id: String,
    /// Hex HMAC-SHA-256 of the normalised code under the instance key.
    pub code_mac: String,
    /// The verified identity (name, birth_date, address, gender) as JSON.
    pub identity: serde_json::Value,
    /// The LRA who verified the identity.
    pub created_by: String,
    /// When.
    pub created_at: SystemTime,
    /// After this the code is refused.
    pub expires_at: SystemTime,
    /// Wrong codes so far.
    pub failed_attempts: u32,
    /// Where it stands.
    pub state: RegistrationState,
    /// The application made when the code was used.
    pub application_id: Option<String>,
}

/// Which registrations a page lists ([`RegistrationStore::registrations_page`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistrationQuery {
    /// Only those in this state.
    pub state: Option<RegistrationState>,
    /// Only the one with this id, or those of this application or made by this LRA
    /// (an exact match).
    pub matching: Option<String>,
    /// Only those before this one in the order: made earlier, or at the same second
    /// with a smaller id.
    pub before: Option<(SystemTime, String)>,
    /// At most this many.
    pub limit: u32,
}

/// Registrations of the legacy flow.
#[async_trait]
pub trait RegistrationStore: Send + Sync {
    /// The registrations `query` names, newest first (by creation time, then id).
    async fn registrations_page(
        &self,
        query: &RegistrationQuery,
    ) -> Result<Vec<RegistrationRecord>, StoreError>;
    /// Inserts a new registration; `Conflict(Other)` on a reused id.
    async fn insert_registration(&self, record: &RegistrationRecord) -> Result<(), StoreError>;
    /// Reads one registration.
    async fn registration(&self, id: &str) -> Result<Option<RegistrationRecord>, StoreError>;
    /// Counts one wrong code atomically; the registration locks when the count reaches
    /// `limit`. Returns the state afterwards (`NotFound` for an unknown id).
    async fn record_wrong_code(
        &self,
        id: &str,
        limit: u32,
    ) -> Result<RegistrationState, StoreError>;
    /// Marks an open registration used, atomically: of two concurrent calls at most one
    /// gets `true`.
    async fn consume_registration(
        &self,
        id: &str,
        application_id: &str,
    ) -> Result<bool, StoreError>;
    /// Forgets the identity of the registrations used by `application_id` (it becomes
    /// `{}`) once that application's evidence is past retention; returns how many rows
    /// changed.
    async fn forget_registration_identity(&self, application_id: &str) -> Result<u64, StoreError>;
}

/// A notice waiting to be sent (or sent).
#[derive(Debug, Clone, PartialEq)]
pub struct NoticeRecord {
    /// Its id.
    pub id: String,
    /// What kind (`old_certificate_revoked`, ...).
    pub kind: String,
    /// The certificate it is about.
    pub serial: Serial,
    /// What to say, as JSON.
    pub payload: serde_json::Value,
    /// When it was queued.
    pub created_at: SystemTime,
    /// When a sender delivered it.
    pub sent_at: Option<SystemTime>,
}

/// The notice outbox: a table drained by a pluggable sender.
#[async_trait]
pub trait NoticeOutbox: Send + Sync {
    /// Queues a notice.
    async fn enqueue_notice(&self, notice: &NoticeRecord) -> Result<(), StoreError>;
    /// Notices not yet sent, oldest first, at most `limit`.
    async fn pending_notices(&self, limit: u32) -> Result<Vec<NoticeRecord>, StoreError>;
    /// Every notice about a certificate, oldest first.
    async fn notices_for(&self, serial: &Serial) -> Result<Vec<NoticeRecord>, StoreError>;
    /// Marks a notice sent.
    async fn mark_notice_sent(&self, id: &str, at: SystemTime) -> Result<(), StoreError>;
}

/// A certificate put on the review list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFlag {
    /// The certificate.
    pub serial: Serial,
    /// Why (`jpki_revoked`).
    pub reason: String,
    /// Hex serial of the holder's JPKI certificate that J-LIS revoked.
    pub jpki_serial: String,
    /// When.
    pub flagged_at: SystemTime,
}

/// The review list of flagged certificates.
#[async_trait]
pub trait CertificateFlags: Send + Sync {
    /// Flags a certificate; `false` if it was already flagged for that reason.
    async fn flag_certificate(&self, flag: &CertificateFlag) -> Result<bool, StoreError>;
    /// Every flag, oldest first.
    async fn certificate_flags(&self) -> Result<Vec<CertificateFlag>, StoreError>;
}
