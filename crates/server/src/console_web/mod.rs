//! The web console (DESIGN.md section 12) of `client_auth = "passkey"` listeners in the
//! secure zone: operators sign in with a passkey registered through an invitation they
//! signed with their operator key, read the LRA review queue and an application's
//! evidence (each reading ledgered first), and decide with requests their passkey signs,
//! which pass the same gate as the CLI's (`shuin_books::gate`). Its routes exist only on
//! these listeners; elsewhere they answer 404.
//!
//! Pages: `/console/` (the queue), `/console/reviews/{id}`, `/console/signin`,
//! `/console/enrol`, `POST /console/signout`, the duties' pages ([`duties`]), the
//! auditor's view ([`books`], [`downloads`]). The passkey steps are JSON endpoints under
//! `/console/v1/` driven by `/static/console.js` ([`api`]).

mod api;
mod books;
mod downloads;
mod duties;
mod links;
pub mod sessions;

use crate::operator_api::OperatorConsole;
use crate::pages::{language, page_response, Caching, PageQuery};
use crate::AppState;
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use sessions::{WebSession, WebSessions};
use shuin_core::{Action, Role, Zone};
use shuin_web::console::{self as pages, QueueQuery, QueueRow, ReviewEvidence, SignedIn};
use shuin_web::{Lang, PageRequest, RenderError, Rendered};
use std::sync::Arc;

/// Where passkeys of this console are bound: the relying party ID (the host) and the
/// origin browsers reach the console at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relying {
    /// `https://console.example.jp:8443`.
    pub origin: String,
    /// `console.example.jp`.
    pub rp_id: String,
}

impl Relying {
    /// Reads `console_origin`.
    pub fn parse(origin: &str) -> Result<Relying, &'static str> {
        let rest = origin.strip_prefix("https://").ok_or(
            "console_origin must start with https://: browsers use passkeys only over HTTPS",
        )?;
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return Err("console_origin is https://HOST or https://HOST:PORT, with no path");
        }
        let host = match rest.rsplit_once(':') {
            Some((host, port)) if port.parse::<u16>().is_ok() => host,
            Some(_) => return Err("console_origin's port is not a number"),
            None => rest,
        };
        if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
            return Err("console_origin must name a host, not an IP address: passkeys are bound to a domain name");
        }
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err("console_origin's host is not a DNS name");
        }
        Ok(Relying {
            origin: origin.to_ascii_lowercase(),
            rp_id: host.to_ascii_lowercase(),
        })
    }
}

/// What the console's routes share.
#[derive(Clone)]
pub(crate) struct Console {
    pub(crate) console: Arc<dyn OperatorConsole>,
    pub(crate) app: AppState,
    pub(crate) sessions: Arc<WebSessions>,
    pub(crate) relying: Arc<Relying>,
    pub(crate) zone: Zone,
    pub(crate) signins: Arc<api::SigninChallenges>,
    /// The books, read in pages for the auditor's view.
    pub(crate) store: Arc<dyn shuin_store::LedgerStore>,
    /// The audit key the facility book records.
    pub(crate) audit_key: Arc<shuin_books::audit_key_watch::AuditKeyWatch>,
    /// The witnesses whose cosignatures the auditor's view checks.
    pub(crate) witnesses: Arc<Vec<shuin_ledger::WitnessKey>>,
    /// Per-client admission on the steps that need no session (sign-in, enrolment).
    pub(crate) limiter: Arc<crate::rate_limit::RateLimiter>,
    /// The auditor's downloads: their links, and the one being made.
    pub(crate) downloads: Arc<downloads::Downloads>,
    /// The periodic reviews made for a session, before its sign-off.
    pub(crate) reviews: Arc<duties::Reviews>,
}

/// What a console listener is made of.
pub(crate) struct ConsoleSetup {
    /// The console the actions go to (the gate, the books).
    pub(crate) console: Arc<dyn OperatorConsole>,
    /// The instance's services.
    pub(crate) app: AppState,
    /// The books, for the auditor's view.
    pub(crate) store: Arc<dyn shuin_store::LedgerStore>,
    /// The witnesses whose cosignatures the auditor's view checks.
    pub(crate) witnesses: Vec<shuin_ledger::WitnessKey>,
    /// Where its passkeys are bound.
    pub(crate) relying: Relying,
    /// The listener's zone.
    pub(crate) zone: Zone,
    /// Its sessions.
    pub(crate) sessions: Arc<WebSessions>,
    /// Per-client limits on the steps without a session.
    pub(crate) limits: crate::rate_limit::RateLimits,
}

/// The console's routes for a listener.
pub(crate) fn routes(setup: ConsoleSetup) -> Router {
    let ConsoleSetup {
        console,
        app,
        store,
        witnesses,
        relying,
        zone,
        sessions,
        limits,
    } = setup;
    let ledger = crate::ledger::routes().with_state(app.clone());
    let state = Console {
        console,
        app,
        sessions,
        relying: Arc::new(relying),
        zone,
        signins: Arc::new(api::SigninChallenges::default()),
        store,
        audit_key: Arc::new(shuin_books::audit_key_watch::AuditKeyWatch::new()),
        witnesses: Arc::new(witnesses),
        limiter: Arc::new(crate::rate_limit::RateLimiter::new(limits)),
        downloads: Arc::new(downloads::Downloads::new()),
        reviews: Arc::new(duties::reviews()),
    };
    // From the remote zone operators may only read: the secure zone's pages and the
    // signed decisions do not exist there (404), as on any listener of another zone.
    let secure = zone == Zone::Secure;
    let reading = Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(queue))
        .route("/console/monitoring", get(duties::monitoring))
        .route("/console/books", get(books::list))
        .route("/console/books/{seq}", get(books::entry))
        .route("/console/audit", get(downloads::page))
        .route("/console/downloads/{token}", get(downloads::download))
        .route("/console/signin", get(signin))
        .route("/console/enrol", get(enrol))
        .route("/console/signout", post(signout))
        .route("/console/noscript", post(noscript))
        .route("/static/console.js", get(script))
        .merge(api::routes(secure));
    let routes = if secure {
        reading
            .route("/console/reviews/{id}", get(review))
            .route("/console/revoke", get(duties::revoke))
            .route("/console/registrations", get(duties::registrations))
            .route("/console/automation", get(duties::automation))
            .route("/console/automation/reviews/{token}", get(duties::review))
            .route("/console/passkeys", get(duties::passkeys))
    } else {
        reading
    };
    routes
        .with_state(state)
        .merge(ledger)
        .merge(crate::pages::stylesheet_route())
}

/// The query of the console's pages.
#[derive(Debug, Default, Deserialize)]
struct ConsoleQuery {
    lang: Option<String>,
    q: Option<String>,
    page: Option<usize>,
    /// After an action: `review_approve` or `review_reject`, with `id`.
    done: Option<String>,
    id: Option<String>,
    /// The books: only this book, kinds starting with this, entries before this.
    book: Option<String>,
    kind: Option<String>,
    before: Option<u64>,
    /// The registrations: only this state, and older than `before` with this id.
    state: Option<String>,
    before_id: Option<String>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ConsoleQuery {
    type Rejection = std::convert::Infallible;

    /// A query that cannot be read (`?page=x`, a name given twice) counts as none: a
    /// page is shown, never a refusal in another format.
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Query::<ConsoleQuery>::try_from_uri(&parts.uri)
            .map(|Query(query)| query)
            .unwrap_or_default())
    }
}

/// A console page with the console's policy (its own script allowed), never cached.
fn console_page(
    rendered: Result<Rendered, RenderError>,
    status: StatusCode,
    lang: (Lang, Option<Lang>),
) -> Response {
    let mut response = page_response(rendered, status, lang.0, lang.1, Caching::NoStore, true);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(pages::CONSOLE_CONTENT_SECURITY_POLICY),
    );
    response
}

fn page_lang(lang: Option<&str>, headers: &HeaderMap) -> (Lang, Option<Lang>) {
    language(
        &PageQuery {
            lang: lang.map(str::to_owned),
            id: None,
        },
        headers,
    )
}

fn request<'a>(path: &'a str, lang: (Lang, Option<Lang>)) -> PageRequest<'a> {
    PageRequest {
        path,
        lang: lang.0,
        audience: shuin_web::Audience::Console,
    }
}

/// What every page of a session shows of it.
fn signed_in<'a>(console: &Console, web: &'a WebSession) -> SignedIn<'a> {
    SignedIn {
        name: web.name(),
        csrf: &web.csrf,
        reviews: console.zone == Zone::Secure,
    }
}

/// A page that only says something, with a status.
fn message(
    console: &Console,
    path: &str,
    lang: (Lang, Option<Lang>),
    web: Option<&WebSession>,
    (title, text, status): (&str, &str, StatusCode),
    code: Option<&str>,
) -> Response {
    let signed_in = web.map(|w| signed_in(console, w));
    let rendered = pages::message(&request(path, lang), signed_in.as_ref(), title, text, code);
    console_page(rendered, status, lang)
}

pub(super) const FORBIDDEN: (&str, &str, StatusCode) = (
    "console-forbidden-title",
    "console-forbidden-text",
    StatusCode::FORBIDDEN,
);
pub(super) const UNAVAILABLE: (&str, &str, StatusCode) = (
    "console-unavailable-title",
    "console-unavailable-text",
    StatusCode::SERVICE_UNAVAILABLE,
);

impl Console {
    /// The session of the request's cookie.
    async fn session(&self, headers: &HeaderMap) -> Option<Arc<WebSession>> {
        let cookie = sessions::cookie_of(headers)?;
        self.sessions.find(cookie).await
    }

    /// The roles `web`'s operator holds now, if their passkey may still sign: a revoked
    /// certificate or a removed role takes effect on the next page.
    async fn roles(&self, web: &WebSession) -> Result<Option<Vec<Role>>, ()> {
        let roster = self.console.roster().await.map_err(|e| {
            tracing::error!(error = %e, "the console could not read the organisation book");
        })?;
        let now = self.app.clock.now();
        let Some(passkey) = roster.passkey_by_credential(&web.credential_id) else {
            return Ok(None);
        };
        if !roster.passkey_usable(passkey, now) {
            return Ok(None);
        }
        Ok(roster
            .operator(web.name())
            .map(|op| op.roles.iter().copied().collect()))
    }

    /// Whether `web`'s operator may do `action` here, by the zone policy.
    async fn permits(&self, web: &WebSession, action: Action) -> Result<bool, ()> {
        Ok(match self.roles(web).await? {
            Some(roles) => shuin_core::operator::permit(action, self.zone, &roles).is_ok(),
            None => false,
        })
    }
}

async fn queue(
    State(console): State<Console>,
    query: ConsoleQuery,
    headers: HeaderMap,
) -> Response {
    let lang = page_lang(query.lang.as_deref(), &headers);
    let Some(web) = console.session(&headers).await else {
        return Redirect::to("/console/signin").into_response();
    };
    if console.zone != Zone::Secure {
        // The queue is the secure zone's; elsewhere the console opens on the books for
        // those who may read them, on the monitoring page for everyone else.
        let books = console.permits(&web, Action::LedgerRead).await == Ok(true);
        let home = if books {
            "/console/books"
        } else {
            "/console/monitoring"
        };
        return Redirect::to(home).into_response();
    }
    match console.permits(&web, Action::ReviewList).await {
        Ok(true) => {}
        Ok(false) => return message(&console, "/console/", lang, Some(&web), FORBIDDEN, None),
        Err(()) => return message(&console, "/console/", lang, Some(&web), UNAVAILABLE, None),
    }
    let records = match console.app.ra.review_queue().await {
        Ok(records) => records,
        Err(e) => {
            tracing::error!(error = %e, "the console could not read the review queue");
            return message(&console, "/console/", lang, Some(&web), UNAVAILABLE, None);
        }
    };
    let rows: Vec<QueueRow> = records
        .iter()
        .map(|record| QueueRow {
            id: record.id.clone(),
            received_at: shuin_core::timefmt::rfc3339(record.received_at),
            reasons: record.review_reasons.clone(),
            subject_name: record.details["subject_name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        })
        .collect();
    let notice = match (query.done.as_deref(), query.id) {
        (Some("review_approve"), Some(id)) => Some(("console-notice-approved", id)),
        (Some("review_reject"), Some(id)) => Some(("console-notice-rejected", id)),
        _ => None,
    };
    let shown = QueueQuery {
        search: query.q.unwrap_or_default(),
        page: query.page.unwrap_or(1),
        notice,
    };
    let signed_in = signed_in(&console, &web);
    let rendered = pages::queue(&request("/console/", lang), &signed_in, &rows, &shown);
    console_page(rendered, StatusCode::OK, lang)
}

async fn review(
    State(console): State<Console>,
    Path(id): Path<String>,
    query: ConsoleQuery,
    headers: HeaderMap,
) -> Response {
    let lang = page_lang(query.lang.as_deref(), &headers);
    let path = format!("/console/reviews/{id}");
    let Some(web) = console.session(&headers).await else {
        return Redirect::to("/console/signin").into_response();
    };
    match console.permits(&web, Action::ReviewShow).await {
        Ok(true) => {}
        Ok(false) => return message(&console, &path, lang, Some(&web), FORBIDDEN, None),
        Err(()) => return message(&console, &path, lang, Some(&web), UNAVAILABLE, None),
    }
    let actor = shuin_books::organisation::actor(web.name(), Role::Lra, console.zone);
    let viewed = console
        .app
        .ra
        .review_evidence(&id, actor, web.session.opened_seq())
        .await;
    let view = match viewed {
        Ok(Some(view)) => view,
        Ok(None) => {
            let not_found = (
                "console-not-found-title",
                "console-not-found-text",
                StatusCode::NOT_FOUND,
            );
            return message(&console, &path, lang, Some(&web), not_found, None);
        }
        Err(e) => {
            tracing::error!(error = %e, "the console could not record or read an application's evidence");
            return message(&console, &path, lang, Some(&web), UNAVAILABLE, None);
        }
    };
    let evidence = evidence_of(&view);
    let signed_in = signed_in(&console, &web);
    let rendered = pages::review(&request(&path, lang), &signed_in, &evidence);
    console_page(rendered, StatusCode::OK, lang)
}

/// The page's view of `shuin_ra::review::evidence`.
fn evidence_of(view: &serde_json::Value) -> ReviewEvidence {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let basic = &view["basic_items"];
    let entered = &view["entered"];
    let positions = |key: &str| -> Vec<usize> {
        basic[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_u64().and_then(|n| usize::try_from(n).ok()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let item = |key: &'static str, name: &str, substitutes: Vec<usize>| pages::BasicItem {
        key,
        card: text(&basic[name]),
        entered: text(&entered[name]),
        substitutes,
    };
    let jpki = &view["jpki_certificate"];
    ReviewEvidence {
        id: text(&view["id"]),
        status: text(&view["status"]),
        received_at: text(&view["received_at"]),
        reasons: serde_json::from_value(view["review_reasons"].clone()).unwrap_or_default(),
        jpki: vec![
            ("console-jpki-serial", text(&jpki["serial"])),
            ("console-jpki-issuer", text(&jpki["issuer"])),
            (
                "console-jpki-fingerprint",
                text(&jpki["fingerprint_sha256"]),
            ),
            ("console-jpki-not-after", text(&jpki["not_after"])),
            ("console-jpki-test-card", text(&jpki["test_card"])),
        ],
        items: vec![
            item(
                "console-item-name",
                "name",
                positions("name_substitute_positions"),
            ),
            item("console-item-birth-date", "birth_date", vec![]),
            item(
                "console-item-address",
                "address",
                positions("address_substitute_positions"),
            ),
            item("console-item-gender", "gender", vec![]),
        ],
        key_fingerprint: text(&view["key_fingerprint"]),
    }
}

async fn signin(
    State(console): State<Console>,
    query: ConsoleQuery,
    headers: HeaderMap,
) -> Response {
    if console.session(&headers).await.is_some() {
        return Redirect::to("/console/").into_response();
    }
    let lang = page_lang(query.lang.as_deref(), &headers);
    let rendered = pages::signin(&request("/console/signin", lang));
    console_page(rendered, StatusCode::OK, lang)
}

async fn enrol(query: ConsoleQuery, headers: HeaderMap) -> Response {
    let lang = page_lang(query.lang.as_deref(), &headers);
    let rendered = pages::enrol(&request("/console/enrol", lang));
    console_page(rendered, StatusCode::OK, lang)
}

#[derive(Default, Deserialize)]
struct SignoutForm {
    csrf: String,
}

async fn signout(
    State(console): State<Console>,
    headers: HeaderMap,
    form: Result<Form<SignoutForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    // A form that cannot be read carries no token: refused like a wrong one.
    let form = form.map(|Form(form)| form).unwrap_or_default();
    if let (Some(cookie), Some(web)) = (
        sessions::cookie_of(&headers),
        console.session(&headers).await,
    ) {
        if web.csrf_matches(&form.csrf) {
            console.sessions.close(cookie).await;
        } else {
            let lang = page_lang(None, &headers);
            return message(
                &console,
                "/console/",
                lang,
                Some(&web),
                FORBIDDEN,
                Some("csrf_mismatch"),
            );
        }
    }
    let mut response = Redirect::to("/console/signin").into_response();
    if let Ok(value) = HeaderValue::from_str(&sessions::set_cookie(None)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Where the passkey forms go when no script took them: nothing is done.
async fn noscript(State(console): State<Console>, headers: HeaderMap) -> Response {
    let lang = page_lang(None, &headers);
    let web = console.session(&headers).await;
    let text = (
        "console-noscript-title",
        "console-noscript-text",
        StatusCode::BAD_REQUEST,
    );
    message(
        &console,
        "/console/noscript",
        lang,
        web.as_deref(),
        text,
        None,
    )
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        pages::CONSOLE_SCRIPT,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::Relying;

    #[test]
    fn the_console_origin_is_an_https_host_name() {
        let relying = Relying::parse("https://Console.Example.jp:8443").expect("origin");
        assert_eq!(relying.rp_id, "console.example.jp");
        assert_eq!(relying.origin, "https://console.example.jp:8443");
        assert_eq!(
            Relying::parse("https://localhost").map(|r| r.rp_id),
            Ok("localhost".into())
        );
        for bad in [
            "http://console.example.jp",
            "https://127.0.0.1:8443",
            "https://[::1]:8443",
            "https://console.example.jp/console",
            "https://console.example.jp:port",
            "https://user@console.example.jp",
            "https://",
            "https://exa_mple.jp",
        ] {
            assert!(Relying::parse(bad).is_err(), "{bad}");
        }
    }
}
