//! The responsible person's (責任者) periodic review of automatic approval, as the
//! console shows it before the sign-off: the period's figures, each anomaly signal and
//! each issuance whose re-check against its evidence found an exception. The review is
//! made by a request the passkey signs (`automation_review` without `sign_off`); the
//! sign-off is another.

use crate::console::{chrome, SignedIn};
use crate::messages::Messages;
use crate::pages::{finish, PageRequest, RenderError, Rendered};
use crate::Lang;
use askama::Template;

/// The anomaly signals, with their message keys.
pub const SIGNALS: [(&str, &str); 3] = [
    ("jpki_certificate_reused", "console-signal-jpki-reused"),
    ("burst", "console-signal-burst"),
    ("rejection_rate", "console-signal-rejection-rate"),
];

/// The re-check's exception codes (`shuin_ra::recheck`), with their message keys.
pub const EXCEPTIONS: [(&str, &str); 8] = [
    ("no_acceptance", "console-exception-no-acceptance"),
    ("evidence_missing", "console-exception-evidence-missing"),
    ("evidence_purged", "console-exception-evidence-purged"),
    ("evidence_altered", "console-exception-evidence-altered"),
    (
        "evidence_does_not_verify",
        "console-exception-evidence-does-not-verify",
    ),
    (
        "revocation_unknown_at_decision",
        "console-exception-revocation-unknown",
    ),
    ("outside_automatic_rule", "console-exception-outside-rule"),
    ("approver_not_lra", "console-exception-approver-not-lra"),
];

/// One anomaly signal: its kind and its figures (name, value), as recorded.
#[derive(Debug, Clone, Default)]
pub struct SignalRow {
    /// `jpki_certificate_reused`, `burst`, `rejection_rate`, or another kind.
    pub kind: String,
    /// Its figures.
    pub figures: Vec<(String, String)>,
}

/// One exception of one issuance.
#[derive(Debug, Clone, Default)]
pub struct ExceptionRow {
    /// The `certificate.issued` entry's position.
    pub seq: u64,
    /// Its time.
    pub time: String,
    /// The serial.
    pub serial: String,
    /// The application.
    pub application: String,
    /// The exception code.
    pub code: String,
    /// What was found (English, from the re-check).
    pub detail: String,
}

/// The review as the page shows it.
#[derive(Debug, Clone, Default)]
pub struct ReviewReport {
    /// The period: from, to (RFC 3339).
    pub period: (String, String),
    /// Applications looked at.
    pub applications: usize,
    /// Of those, approved automatically.
    pub automatic_decisions: usize,
    /// Applications sent to an LRA, by reason.
    pub pending_review: Vec<(String, usize)>,
    /// Applications refused by the rule, by reason code.
    pub rejections: Vec<(String, usize)>,
    /// The anomaly signals.
    pub signals: Vec<SignalRow>,
    /// Issuances re-checked: all, automatic, by an LRA.
    pub rechecked: (usize, usize, usize),
    /// The exceptions, in ledger order.
    pub exceptions: Vec<ExceptionRow>,
    /// The date the sign-off form proposes (the period's start, `YYYY-MM-DD`).
    pub since: String,
}

#[derive(Template)]
#[template(path = "console_automation_review.html")]
struct ReviewPage<'a> {
    t: &'a Messages,
    chrome: crate::pages::Chrome,
    csrf: &'a str,
    report: &'a ReviewReport,
    signals: [(&'static str, &'static str); 3],
    exceptions: [(&'static str, &'static str); 8],
    /// Whether the re-check's English details are shown (English pages only).
    details: bool,
}

/// `/console/automation/reviews/{token}`: the review made for this session, and the
/// sign-off of the same period.
pub fn review(
    request: &PageRequest<'_>,
    signed_in: &SignedIn<'_>,
    report: &ReviewReport,
) -> Result<Rendered, RenderError> {
    let t = Messages::new(request.lang);
    let page = ReviewPage {
        t: &t,
        chrome: chrome(request, Some(signed_in), ""),
        csrf: signed_in.csrf,
        report,
        signals: SIGNALS,
        exceptions: EXCEPTIONS,
        details: request.lang == Lang::En,
    };
    finish(page.render(), &t)
}
