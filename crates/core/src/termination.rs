//! Business termination (認証業務の廃止, survey item B10): the plan M custodians approve
//! in a termination ceremony, where the procedure stands, and the ports it acts through
//! (docs/termination.md). The procedure itself is `shuin_ca::termination`.

use crate::Serial;
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// The setting that holds the procedure's [`TerminationState`] (JSON). Its presence
/// stops the business: no application or enrolment is accepted, and the CA issues
/// nothing (challenges stay open, for holders' revocations and disclosure).
pub const TERMINATION_SETTING: &str = "business.termination";

/// Who revokes the certificates, as the revocation book names them.
pub const TERMINATION_ACTOR: &str = "shuin-ca (termination)";

/// The notice kind queued to each holder whose certificate the termination revoked.
pub const TERMINATION_NOTICE: &str = "business_terminated";

/// What the custodians approved (the ceremony's `terminate_business` step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminationPlan {
    /// The ceremony that approved it.
    pub ceremony_id: String,
    /// Why the business ends, as told to the holders.
    pub reason: String,
    /// Who takes over the records, if anyone.
    pub successor: Option<String>,
    /// The final CRL's nextUpdate, in days after it is signed: it must cover the
    /// retention period of the records.
    pub final_crl_days: u32,
}

/// Where the procedure stands. Each phase is done whole (and ledgered) before the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminationPhase {
    /// Approved; applications are refused from now on (`termination.started` next).
    Started,
    /// Revoking every valid certificate with cessationOfOperation and queueing a notice
    /// to each holder.
    Revoking,
    /// Signing the final CRL.
    FinalCrl,
    /// Writing the hand-over export.
    HandOver,
    /// Done (`termination.completed`).
    Completed,
}

impl TerminationPhase {
    /// The stable text.
    pub fn as_str(self) -> &'static str {
        match self {
            TerminationPhase::Started => "started",
            TerminationPhase::Revoking => "revoking",
            TerminationPhase::FinalCrl => "final_crl",
            TerminationPhase::HandOver => "hand_over",
            TerminationPhase::Completed => "completed",
        }
    }
}

/// The procedure's state, kept in [`TERMINATION_SETTING`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminationState {
    /// The approved plan.
    pub plan: TerminationPlan,
    /// Where it stands.
    pub phase: TerminationPhase,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// Certificates revoked by it so far.
    pub revoked: u64,
    /// Notices queued by it so far.
    pub notices: u64,
    /// The final CRL's number, once signed.
    pub final_crl_number: Option<u64>,
    /// The final CRL's thisUpdate (RFC 3339), once signed.
    #[serde(default)]
    pub final_crl_this_update: Option<String>,
    /// The final CRL's nextUpdate (RFC 3339), once signed.
    pub final_crl_next_update: Option<String>,
    /// Where the hand-over export was written, once written.
    pub hand_over: Option<String>,
    /// What the hand-over export holds (entries, checkpoints, evidence), once written.
    #[serde(default)]
    pub hand_over_summary: Option<serde_json::Value>,
    /// The last serial revoked, while revoking (batches go on after it).
    #[serde(default)]
    pub cursor: Option<String>,
}

impl TerminationState {
    /// The state of a plan just approved.
    pub fn new(plan: TerminationPlan, now: SystemTime) -> Self {
        Self {
            plan,
            phase: TerminationPhase::Started,
            started_at: crate::timefmt::rfc3339(now),
            revoked: 0,
            notices: 0,
            final_crl_number: None,
            final_crl_this_update: None,
            final_crl_next_update: None,
            hand_over: None,
            hand_over_summary: None,
            cursor: None,
        }
    }
}

/// Errors of the ports below.
pub type PortError = Box<dyn std::error::Error + Send + Sync>;

/// Queues the notice to a holder whose certificate the termination revoked (the RA's
/// notice outbox).
#[async_trait::async_trait]
pub trait TerminationNotices: Send + Sync {
    /// Queues the notice about `serial` unless it is queued already; true if queued now.
    async fn queue(
        &self,
        serial: &Serial,
        revoked_at: SystemTime,
        plan: &TerminationPlan,
    ) -> Result<bool, PortError>;
}

/// Writes the hand-over export (the books with a fresh checkpoint, and the evidence) for
/// the successor or the authority.
#[async_trait::async_trait]
pub trait HandOver: Send + Sync {
    /// Writes the export under the name `name`; returns where, and a summary for the
    /// books.
    async fn write(&self, name: &str) -> Result<(String, serde_json::Value), PortError>;
}
