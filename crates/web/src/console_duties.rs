//! The console's other decisions of the secure zone, each signed by the passkey through
//! `/static/console.js` like an approval: an LRA's revocation of a certificate, and the
//! responsible person's (責任者) control of automatic approval (suspend, resume, the
//! periodic review and its sign-off).

use crate::console::{chrome, SignedIn};
use crate::messages::Messages;
use crate::pages::{finish, PageRequest, RenderError, Rendered};
use askama::Template;

/// The RFC 5280 reasons an LRA revokes for, with their message keys.
pub const REVOCATION_REASONS: [(&str, &str); 5] = [
    ("unspecified", "console-reason-unspecified"),
    ("keyCompromise", "console-reason-key-compromise"),
    ("affiliationChanged", "console-reason-affiliation-changed"),
    ("superseded", "console-reason-superseded"),
    ("cessationOfOperation", "console-reason-cessation"),
];

/// The state of automatic approval, as the responsible person's page shows it.
#[derive(Debug, Clone, Default)]
pub struct AutomationView {
    /// `[ra] automatic_approval`.
    pub configured: bool,
    /// Suspended now.
    pub suspended: bool,
    /// Who last suspended or resumed it, when and why (empty if never).
    pub changed: Option<(String, String, String)>,
    /// The last sign-off of the periodic review (RFC 3339).
    pub last_signed_off: Option<String>,
    /// When the next is due (RFC 3339).
    pub next_review_due: Option<String>,
    /// Whether it is past due.
    pub overdue: bool,
    /// The start the review form offers (`YYYY-MM-DD`).
    pub review_since: String,
    /// The last signed-off review's figures, as the books keep them.
    pub last_review: Option<ReviewFigures>,
}

/// What a signed-off periodic review found (`automation.review_signed_off`).
#[derive(Debug, Clone, Default)]
pub struct ReviewFigures {
    /// Who signed it off.
    pub by: String,
    /// The period: from, to (RFC 3339).
    pub period: (String, String),
    /// Automatic decisions in the period.
    pub automatic_decisions: u64,
    /// Applications looked at.
    pub applications: u64,
    /// Issuances re-checked against their evidence.
    pub issuances_checked: u64,
    /// Anomaly signals raised.
    pub signals: u64,
    /// Exceptions found by the re-check: (code, count).
    pub exceptions: Vec<(String, u64)>,
}

#[derive(Template)]
#[template(path = "console_revoke.html")]
struct RevokePage<'a> {
    t: &'a Messages,
    chrome: crate::pages::Chrome,
    csrf: &'a str,
    reasons: [(&'static str, &'static str); 5],
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "console_automation.html")]
struct AutomationPage<'a> {
    t: &'a Messages,
    chrome: crate::pages::Chrome,
    csrf: &'a str,
    view: &'a AutomationView,
    notice: Option<String>,
}

/// One of the operator's passkeys.
#[derive(Debug, Clone)]
pub struct PasskeyRow {
    /// Its credential id (base64url).
    pub credential_id: String,
    /// When it was registered (RFC 3339).
    pub registered_at: String,
    /// Whether this session was signed in with it.
    pub current: bool,
}

#[derive(Template)]
#[template(path = "console_passkeys.html")]
struct PasskeysPage<'a> {
    t: &'a Messages,
    chrome: crate::pages::Chrome,
    csrf: &'a str,
    rows: &'a [PasskeyRow],
    removed: bool,
}

/// `/console/passkeys`: the operator's passkeys, each removable (a lost phone, a
/// replaced key); `removed` after a removal, for the notice.
pub fn passkeys(
    request: &PageRequest<'_>,
    signed_in: &SignedIn<'_>,
    rows: &[PasskeyRow],
    removed: bool,
) -> Result<Rendered, RenderError> {
    let t = Messages::new(request.lang);
    let page = PasskeysPage {
        t: &t,
        chrome: chrome(request, Some(signed_in), ""),
        csrf: signed_in.csrf,
        rows,
        removed,
    };
    finish(page.render(), &t)
}

/// The states a registration is listed by, with their message keys.
pub const REGISTRATION_STATES: [(&str, &str); 3] = [
    ("open", "console-registration-open"),
    ("used", "console-registration-used"),
    ("locked", "console-registration-locked"),
];

/// One registration of the list (no identity: who made it, when, where it stands).
#[derive(Debug, Clone, Default)]
pub struct RegistrationListRow {
    /// Its id.
    pub id: String,
    /// The LRA who made it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// Until when its code is good (RFC 3339).
    pub expires_at: String,
    /// `open`, `used` or `locked`.
    pub state: String,
    /// Open and past its expiry.
    pub expired: bool,
    /// Wrong codes so far.
    pub failed_attempts: u32,
    /// The application made with its code.
    pub application_id: Option<String>,
}

/// The list's filter, and where older registrations start.
#[derive(Debug, Clone, Default)]
pub struct RegistrationFilter {
    /// Only this state (empty: every state).
    pub state: String,
    /// An exact id, application id or LRA name (empty: any).
    pub matching: String,
    /// The last row's creation (seconds since the epoch) and id, when older ones remain.
    pub older: Option<(u64, String)>,
}

#[derive(Template)]
#[template(path = "console_registrations.html")]
struct RegistrationsPage<'a> {
    t: &'a Messages,
    chrome: crate::pages::Chrome,
    csrf: &'a str,
    rows: &'a [RegistrationListRow],
    filter: &'a RegistrationFilter,
    states: [(&'static str, &'static str); 3],
    older: Option<String>,
}

/// `/console/registrations`: record an identity the LRA verified in person and show its
/// 利用者識別符号 once (the legacy flow, docs/registration.md); below, the registrations
/// made, newest first, filtered and in pages.
pub fn registrations(
    request: &PageRequest<'_>,
    signed_in: &SignedIn<'_>,
    rows: &[RegistrationListRow],
    filter: &RegistrationFilter,
) -> Result<Rendered, RenderError> {
    let t = Messages::new(request.lang);
    let query = format!(
        "state={}&q={}&",
        crate::pages::query_escape(&filter.state),
        crate::pages::query_escape(&filter.matching)
    );
    let older = filter.older.as_ref().map(|(secs, id)| {
        format!(
            "/console/registrations?{query}before={secs}&before_id={}#registrations-made",
            crate::pages::query_escape(id)
        )
    });
    let page = RegistrationsPage {
        t: &t,
        chrome: chrome(request, Some(signed_in), &query),
        csrf: signed_in.csrf,
        rows,
        filter,
        states: REGISTRATION_STATES,
        older,
    };
    finish(page.render(), &t)
}

/// `/console/revoke`: revoke a certificate by its serial; `revoked` is the serial just
/// revoked, for the notice.
pub fn revoke(
    request: &PageRequest<'_>,
    signed_in: &SignedIn<'_>,
    revoked: Option<&str>,
) -> Result<Rendered, RenderError> {
    let t = Messages::new(request.lang);
    let notice = revoked.map(|serial| t.with("console-notice-revoked", "serial", serial));
    let page = RevokePage {
        t: &t,
        chrome: chrome(request, Some(signed_in), ""),
        csrf: signed_in.csrf,
        reasons: REVOCATION_REASONS,
        notice,
    };
    finish(page.render(), &t)
}

/// `/console/automation`: the state of automatic approval and the responsible person's
/// decisions; `done` names the decision just taken, for the notice.
pub fn automation(
    request: &PageRequest<'_>,
    signed_in: &SignedIn<'_>,
    view: &AutomationView,
    done: Option<&str>,
) -> Result<Rendered, RenderError> {
    let t = Messages::new(request.lang);
    let notice = match done {
        Some("automation_suspend") => Some(t.get("console-notice-suspended")),
        Some("automation_resume") => Some(t.get("console-notice-resumed")),
        Some("automation_review") => Some(t.get("console-notice-reviewed")),
        _ => None,
    };
    let page = AutomationPage {
        t: &t,
        chrome: chrome(request, Some(signed_in), ""),
        csrf: signed_in.csrf,
        view,
        notice,
    };
    finish(page.render(), &t)
}
