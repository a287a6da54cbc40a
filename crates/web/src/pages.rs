//! The pages and what each shows. The server gathers the facts (from the RA and the
//! repository) and chooses the HTTP status; here they are only rendered.

use crate::messages::Messages;
use crate::{CertificateFacts, CrlFacts, Lang};
use askama::Template;

/// Who a listener's pages are for: applicants see every applicant page, verifiers on a
/// repository listener only the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The front zone (and the all-in-one listener).
    Applicant,
    /// A repository listener or node.
    Verifier,
    /// Operators on an operator listener (secure or remote): monitoring.
    Monitoring,
    /// Operators in the web console (a passkey listener of the secure zone).
    Console,
}

/// A rendered page, and the message keys it asked for that its language lacks.
#[derive(Debug)]
pub struct Rendered {
    /// The HTML document.
    pub html: String,
    /// Keys shown as keys: none in a correct build (the tests refuse any).
    pub missing: Vec<String>,
}

/// Rendering failed (a template could not be written out).
#[derive(Debug, thiserror::Error)]
#[error("page rendering failed: {0}")]
pub struct RenderError(#[from] askama::Error);

/// The page being asked for: its path, its language and its audience.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest<'a> {
    /// The request path (for the current item of the navigation and the language switch).
    pub path: &'a str,
    /// The page language.
    pub lang: Lang,
    /// Whose pages these are.
    pub audience: Audience,
}

pub(crate) struct NavItem {
    pub(crate) href: &'static str,
    pub(crate) key: &'static str,
    pub(crate) current: bool,
}

/// What every page has around its content.
pub(crate) struct Chrome {
    pub(crate) lang: &'static str,
    pub(crate) home: &'static str,
    pub(crate) nav: Vec<NavItem>,
    pub(crate) switch_href: String,
    pub(crate) other_lang: &'static str,
    pub(crate) other_name: &'static str,
    /// Whether the page loads the console's script (console pages only).
    pub(crate) script: bool,
    /// The operator signed in and the session's CSRF token (console pages only).
    pub(crate) signed_in: Option<(String, String)>,
}

const APPLICANT_NAV: [(&str, &str); 5] = [
    ("/", "nav-apply"),
    ("/status", "nav-status"),
    ("/revoke", "nav-revoke"),
    ("/disclosure", "nav-disclosure"),
    ("/repository", "nav-repository"),
];

/// The paths of the pages for `audience`.
pub fn page_paths(audience: Audience) -> Vec<&'static str> {
    match audience {
        Audience::Applicant => APPLICANT_NAV.iter().map(|(href, _)| *href).collect(),
        Audience::Verifier => vec!["/repository"],
        Audience::Monitoring => vec!["/monitoring"],
        Audience::Console => vec!["/console/signin", "/console/enrol"],
    }
}

impl Chrome {
    pub(crate) fn new(request: &PageRequest<'_>, switch_query: &str) -> Chrome {
        let items: &[(&'static str, &'static str)] = match request.audience {
            Audience::Applicant => &APPLICANT_NAV,
            Audience::Verifier => &[("/repository", "nav-repository")],
            Audience::Monitoring => &[("/monitoring", "nav-monitoring")],
            Audience::Console => &[("/console/", "nav-console-queue")],
        };
        let other = request.lang.other();
        Chrome {
            lang: request.lang.as_str(),
            home: items.first().map_or("/", |(href, _)| href),
            nav: items
                .iter()
                .map(|(href, key)| NavItem {
                    href,
                    key,
                    current: *href == request.path,
                })
                .collect(),
            switch_href: format!("{}?{switch_query}lang={}", request.path, other.as_str()),
            other_lang: other.as_str(),
            other_name: other.endonym(),
            script: false,
            signed_in: None,
        }
    }
}

#[derive(Template)]
#[template(path = "apply.html")]
struct ApplyPage<'a> {
    t: &'a Messages,
    chrome: Chrome,
    terms_sha256: &'a str,
    server_url: &'a str,
    status_href: &'static str,
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage<'a> {
    t: &'a Messages,
    chrome: Chrome,
    id: &'a str,
    summary: Option<StatusSummary>,
}

#[derive(Template)]
#[template(path = "revoke.html")]
struct RevokePage<'a> {
    t: &'a Messages,
    chrome: Chrome,
    server_url: &'a str,
    repository_href: &'static str,
}

#[derive(Template)]
#[template(path = "disclosure.html")]
struct DisclosurePage<'a> {
    t: &'a Messages,
    chrome: Chrome,
    server_url: &'a str,
}

#[derive(Template)]
#[template(path = "repository.html")]
struct RepositoryPage<'a> {
    t: &'a Messages,
    chrome: Chrome,
    certificates: &'a [CertificateFacts],
    crls: &'a [CrlFacts],
    terms_sha256: &'a str,
    has_cps: bool,
    server_url: &'a str,
    ocsp_url: String,
}

/// The facts of the instance that the pages show.
#[derive(Debug, Clone)]
pub struct Site {
    /// The public URL applicants and verifiers use (`https://ca.example.jp`).
    pub public_url: String,
    /// The SHA-256 (hex) of the terms (重要事項) an applicant agrees to.
    pub terms_sha256: String,
}

/// What the repository holds now.
#[derive(Debug, Clone)]
pub struct RepositoryFacts {
    /// The root and the issuing CA certificate.
    pub certificates: Vec<CertificateFacts>,
    /// The published CRLs.
    pub crls: Vec<CrlFacts>,
    /// Whether a CP/CPS is published.
    pub has_cps: bool,
}

/// The state of an application as its status page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusView {
    /// No application has that id.
    NotFound,
    /// Waiting for an LRA operator's review, for these reasons.
    PendingReview(Vec<shuin_core::ReviewReason>),
    /// Approved; the certificate is being issued.
    Approved,
    /// Issued, with this serial (hex).
    Issued(String),
    /// Rejected, with this reason code.
    Rejected(String),
    /// The status could not be read now.
    Unavailable,
}

struct StatusSummary {
    class: &'static str,
    heading: String,
    lines: Vec<String>,
    codes: Vec<String>,
}

impl StatusSummary {
    fn of(view: &StatusView, id: &str, t: &Messages) -> StatusSummary {
        let heading = t.with("status-of", "id", id);
        let (class, lines, codes) = match view {
            StatusView::NotFound => ("warning", vec![t.get("status-not-found")], vec![]),
            StatusView::PendingReview(reasons) => {
                let mut lines = vec![t.get("status-pending")];
                lines.extend(
                    reasons
                        .iter()
                        .map(|reason| t.get(&review_reason_key(*reason))),
                );
                ("pending", lines, vec![])
            }
            StatusView::Approved => ("pending", vec![t.get("status-approved")], vec![]),
            StatusView::Issued(serial) => (
                "done",
                vec![
                    t.with("status-issued", "serial", serial),
                    t.get("status-issued-fetch"),
                ],
                vec![],
            ),
            StatusView::Rejected(reason) => (
                "warning",
                vec![t.get("status-rejected")],
                vec![reason.clone()],
            ),
            StatusView::Unavailable => ("warning", vec![t.get("status-unavailable")], vec![]),
        };
        StatusSummary {
            class,
            heading,
            lines,
            codes,
        }
    }
}

pub(crate) fn finish(
    html: Result<String, askama::Error>,
    t: &Messages,
) -> Result<Rendered, RenderError> {
    Ok(Rendered {
        html: html?,
        missing: t.missing(),
    })
}

/// `/`: how to apply, with the terms' SHA-256.
pub fn apply(request: &PageRequest<'_>, site: &Site) -> Result<Rendered, RenderError> {
    let t = Messages::new(request.lang);
    let page = ApplyPage {
        t: &t,
        chrome: Chrome::new(request, ""),
        terms_sha256: &site.terms_sha256,
        server_url: &site.public_url,
        status_href: "/status",
    };
    finish(page.render(), &t)
}

/// `/status`: the form, and with an id the state of that application.
pub fn status(
    request: &PageRequest<'_>,
    id: &str,
    view: Option<&StatusView>,
) -> Result<Rendered, RenderError> {
    let t = Messages::new(request.lang);
    let summary = view.map(|view| StatusSummary::of(view, id, &t));
    let switch_query = if id.is_empty() {
        String::new()
    } else {
        format!("id={}&", query_escape(id))
    };
    let page = StatusPage {
        t: &t,
        chrome: Chrome::new(request, &switch_query),
        id,
        summary,
    };
    finish(page.render(), &t)
}

/// `/revoke`: how a holder has their certificate revoked.
pub fn revoke(request: &PageRequest<'_>, site: &Site) -> Result<Rendered, RenderError> {
    let t = Messages::new(request.lang);
    let page = RevokePage {
        t: &t,
        chrome: Chrome::new(request, ""),
        server_url: &site.public_url,
        repository_href: "/repository",
    };
    finish(page.render(), &t)
}

/// `/disclosure`: how a holder obtains their records (名義人への情報開示).
pub fn disclosure(request: &PageRequest<'_>, site: &Site) -> Result<Rendered, RenderError> {
    let t = Messages::new(request.lang);
    let page = DisclosurePage {
        t: &t,
        chrome: Chrome::new(request, ""),
        server_url: &site.public_url,
    };
    finish(page.render(), &t)
}

/// `/repository`: the CA certificates with their fingerprints, the CRLs, OCSP and the
/// documents.
pub fn repository(
    request: &PageRequest<'_>,
    site: &Site,
    facts: &RepositoryFacts,
) -> Result<Rendered, RenderError> {
    let t = Messages::new(request.lang);
    let page = RepositoryPage {
        t: &t,
        chrome: Chrome::new(request, ""),
        certificates: &facts.certificates,
        crls: &facts.crls,
        terms_sha256: &site.terms_sha256,
        has_cps: facts.has_cps,
        server_url: &site.public_url,
        ocsp_url: format!("{}/ocsp", site.public_url.trim_end_matches('/')),
    };
    finish(page.render(), &t)
}

/// The message key of a review reason (`review-name-substitute-characters`).
pub(crate) fn review_reason_key(reason: shuin_core::ReviewReason) -> String {
    format!("review-{}", reason.as_str().replace('_', "-"))
}

/// An application id is hex; anything else is escaped byte by byte for a query string.
pub fn query_escape(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
