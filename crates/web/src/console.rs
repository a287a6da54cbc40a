//! The operator console's pages (secure zone, DESIGN.md section 12): passkey sign-in and
//! enrolment, the LRA review queue and one application's evidence with the typed entries
//! set against the card's and every differing character marked. Reading works without
//! script; what changes state is signed by the passkey, through `/static/console.js`
//! (the only script, allowed by [`CONSOLE_CONTENT_SECURITY_POLICY`]).

use crate::difference::{compare, Compared};
use crate::messages::Messages;
use crate::pages::{finish, Chrome, NavItem, PageRequest, RenderError, Rendered};
use askama::Template;
use shuin_core::ReviewReason;

/// The console's script, served at `/static/console.js`.
pub const CONSOLE_SCRIPT: &str = include_str!("../static/console.js");

/// The Content-Security-Policy of the console's pages: shuin's own stylesheet and script
/// (no inline script), requests only to shuin, never framed.
pub const CONSOLE_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Applications shown per page of the queue.
pub const QUEUE_PAGE_SIZE: usize = 25;

/// The operator signed in, as every console page shows them.
#[derive(Debug, Clone, Copy)]
pub struct SignedIn<'a> {
    /// Their name in the organisation book.
    pub name: &'a str,
    /// The session's CSRF token, carried by every form.
    pub csrf: &'a str,
    /// Whether the listener's zone has the LRA's pages (secure): the queue is in the
    /// navigation.
    pub reviews: bool,
}

/// One application of the queue.
#[derive(Debug, Clone)]
pub struct QueueRow {
    /// Its id.
    pub id: String,
    /// When it was received (RFC 3339).
    pub received_at: String,
    /// Why it waits.
    pub reasons: Vec<ReviewReason>,
    /// The subject name the certificate would carry.
    pub subject_name: String,
}

/// What the queue page shows: a page of the rows that match the search.
#[derive(Debug, Clone, Default)]
pub struct QueueQuery {
    /// The search text (in the id or the subject name), as typed.
    pub search: String,
    /// The page, from 1.
    pub page: usize,
    /// A notice after an action: (message key, application id).
    pub notice: Option<(&'static str, String)>,
}

/// One basic item of an application: the card's value and what was typed.
#[derive(Debug, Clone)]
pub struct BasicItem {
    /// The message key of its name (`console-item-name`).
    pub key: &'static str,
    /// As the card's signing certificate holds it.
    pub card: String,
    /// As the applicant typed it.
    pub entered: String,
    /// Positions of substitute characters on the card's side.
    pub substitutes: Vec<usize>,
}

/// An application's evidence.
#[derive(Debug, Clone)]
pub struct ReviewEvidence {
    /// Its id.
    pub id: String,
    /// Its status (`pending_review`, ...).
    pub status: String,
    /// When it was received.
    pub received_at: String,
    /// Why it waits for review.
    pub reasons: Vec<ReviewReason>,
    /// The JPKI signing certificate's facts: (message key, value).
    pub jpki: Vec<(&'static str, String)>,
    /// The four basic items.
    pub items: Vec<BasicItem>,
    /// SHA-256 of the applicant's new public key.
    pub key_fingerprint: String,
}

struct ShownRow {
    id: String,
    received_at: String,
    reasons: Vec<String>,
    subject_name: String,
}

struct ShownItem {
    key: &'static str,
    compared: Compared,
}

#[derive(Template)]
#[template(path = "console_signin.html")]
struct SigninPage<'a> {
    t: &'a Messages,
    chrome: Chrome,
}

#[derive(Template)]
#[template(path = "console_enrol.html")]
struct EnrolPage<'a> {
    t: &'a Messages,
    chrome: Chrome,
}

#[derive(Template)]
#[template(path = "console_queue.html")]
struct QueuePage<'a> {
    t: &'a Messages,
    chrome: Chrome,
    rows: Vec<ShownRow>,
    search: &'a str,
    total: usize,
    page: usize,
    pages: usize,
    previous: Option<String>,
    next: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "console_review.html")]
struct ReviewPage<'a> {
    t: &'a Messages,
    chrome: Chrome,
    evidence: &'a ReviewEvidence,
    reasons: Vec<String>,
    items: Vec<ShownItem>,
    csrf: &'a str,
    pending: bool,
}

#[derive(Template)]
#[template(path = "console_message.html")]
struct MessagePage<'a> {
    t: &'a Messages,
    chrome: Chrome,
    title: String,
    text: String,
    code: Option<&'a str>,
}

/// The chrome of a console page: the queue and sign-out when signed in, sign-in and
/// enrolment otherwise; the console's script on every page.
pub(crate) fn chrome(
    request: &PageRequest<'_>,
    signed_in: Option<&SignedIn<'_>>,
    query: &str,
) -> Chrome {
    let items: &[(&'static str, &'static str)] = match signed_in {
        Some(s) if s.reviews => &[
            ("/console/", "nav-console-queue"),
            ("/console/revoke", "nav-console-revoke"),
            ("/console/registrations", "nav-console-registrations"),
            ("/console/automation", "nav-console-automation"),
            ("/console/books", "nav-console-books"),
            ("/console/audit", "nav-console-audit"),
            ("/console/monitoring", "nav-monitoring"),
            ("/console/passkeys", "nav-console-passkeys"),
        ],
        Some(_) => &[
            ("/console/books", "nav-console-books"),
            ("/console/audit", "nav-console-audit"),
            ("/console/monitoring", "nav-monitoring"),
        ],
        None => &[
            ("/console/signin", "nav-console-signin"),
            ("/console/enrol", "nav-console-enrol"),
        ],
    };
    let mut chrome = Chrome::new(request, query);
    chrome.home = items.first().map_or("/console/", |(href, _)| href);
    chrome.nav = items
        .iter()
        .map(|(href, key)| NavItem {
            href,
            key,
            current: *href == request.path
                || (href.len() > "/console/".len() && request.path.starts_with(href)),
        })
        .collect();
    chrome.script = true;
    chrome.signed_in = signed_in.map(|s| (s.name.to_owned(), s.csrf.to_owned()));
    chrome
}

/// `/console/signin`: sign in with a passkey.
pub fn signin(request: &PageRequest<'_>) -> Result<Rendered, RenderError> {
    let t = Messages::new(request.lang);
    let page = SigninPage {
        t: &t,
        chrome: chrome(request, None, ""),
    };
    finish(page.render(), &t)
}

/// `/console/enrol`: register a passkey with an invitation.
pub fn enrol(request: &PageRequest<'_>) -> Result<Rendered, RenderError> {
    let t = Messages::new(request.lang);
    let page = EnrolPage {
        t: &t,
        chrome: chrome(request, None, ""),
    };
    finish(page.render(), &t)
}

/// `/console/`: the review queue, searched and paginated.
pub fn queue(
    request: &PageRequest<'_>,
    signed_in: &SignedIn<'_>,
    rows: &[QueueRow],
    query: &QueueQuery,
) -> Result<Rendered, RenderError> {
    let t = Messages::new(request.lang);
    let needle = query.search.trim().to_lowercase();
    let matching: Vec<&QueueRow> = rows
        .iter()
        .filter(|row| {
            needle.is_empty()
                || row.id.to_lowercase().contains(&needle)
                || row.subject_name.to_lowercase().contains(&needle)
        })
        .collect();
    let pages = matching.len().div_ceil(QUEUE_PAGE_SIZE).max(1);
    let page = query.page.clamp(1, pages);
    let search_query = if query.search.is_empty() {
        String::new()
    } else {
        format!("q={}&", crate::pages::query_escape(&query.search))
    };
    let link = |p: usize| format!("/console/?{search_query}page={p}");
    let shown = matching
        .iter()
        .skip((page - 1) * QUEUE_PAGE_SIZE)
        .take(QUEUE_PAGE_SIZE)
        .map(|row| ShownRow {
            id: row.id.clone(),
            received_at: row.received_at.clone(),
            reasons: row.reasons.iter().map(|r| reason_text(&t, *r)).collect(),
            subject_name: row.subject_name.clone(),
        })
        .collect();
    let notice = query.notice.as_ref().map(|(key, id)| t.with(key, "id", id));
    let page_view = QueuePage {
        t: &t,
        chrome: chrome(request, Some(signed_in), &search_query),
        rows: shown,
        search: &query.search,
        total: matching.len(),
        page,
        pages,
        previous: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
        notice,
    };
    finish(page_view.render(), &t)
}

/// `/console/reviews/{id}`: the evidence, and approval or rejection when it is pending.
pub fn review(
    request: &PageRequest<'_>,
    signed_in: &SignedIn<'_>,
    evidence: &ReviewEvidence,
) -> Result<Rendered, RenderError> {
    let t = Messages::new(request.lang);
    let items = evidence
        .items
        .iter()
        .map(|item| ShownItem {
            key: item.key,
            compared: compare(&item.card, &item.entered, &item.substitutes),
        })
        .collect();
    let page = ReviewPage {
        t: &t,
        chrome: chrome(request, Some(signed_in), ""),
        evidence,
        reasons: evidence
            .reasons
            .iter()
            .map(|r| reason_text(&t, *r))
            .collect(),
        items,
        csrf: signed_in.csrf,
        pending: evidence.status == "pending_review",
    };
    finish(page.render(), &t)
}

/// A console page that only says something: `title_key` and `text_key`, with the
/// stable `code` when there is one (a refusal).
pub fn message(
    request: &PageRequest<'_>,
    signed_in: Option<&SignedIn<'_>>,
    title_key: &str,
    text_key: &str,
    code: Option<&str>,
) -> Result<Rendered, RenderError> {
    let t = Messages::new(request.lang);
    let page = MessagePage {
        t: &t,
        chrome: chrome(request, signed_in, ""),
        title: t.get(title_key),
        text: t.get(text_key),
        code,
    };
    finish(page.render(), &t)
}

fn reason_text(t: &Messages, reason: ReviewReason) -> String {
    t.get(&crate::pages::review_reason_key(reason))
}
