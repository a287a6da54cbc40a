//! The web pages (DESIGN.md section 12), on the listeners of their zone: the applicant
//! pages on the front (and the all-in-one listener), the repository page also on
//! repository listeners and nodes. `shuin-web` renders; here the facts are gathered, the
//! status is chosen and the headers are set (CSP, no sniffing, no referrer, the cache).

use crate::{AppState, RepositoryState};
use axum::extract::{FromRef, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use shuin_ra::ApplicationOutcome;
use shuin_repo::Repository;
use shuin_web::{Audience, Lang, PageRequest, RenderError, Rendered, StatusView};

/// The query every page takes: `?lang=ja|en` (kept in a cookie from then on).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PageQuery {
    pub(crate) lang: Option<String>,
    /// The application number on `/status`.
    pub(crate) id: Option<String>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PageQuery {
    type Rejection = std::convert::Infallible;

    /// A query that cannot be read (a name given twice, say) counts as none: a page is
    /// shown, never a refusal in another format.
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Query::<PageQuery>::try_from_uri(&parts.uri)
            .map(|Query(query)| query)
            .unwrap_or_default())
    }
}

/// The applicant pages: how to apply, the status of an application, revocation,
/// disclosure, and the repository page.
pub(crate) fn applicant_routes() -> Router<AppState> {
    Router::new()
        .route("/", simple_route("/", shuin_web::apply))
        .route("/status", get(status))
        .route("/revoke", simple_route("/revoke", shuin_web::revoke))
        .route(
            "/disclosure",
            simple_route("/disclosure", shuin_web::disclosure),
        )
        .merge(verifier_routes_for(Audience::Applicant))
}

/// The pages of a repository listener or node: the repository page only.
pub(crate) fn verifier_routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    RepositoryState: FromRef<S>,
{
    verifier_routes_for(Audience::Verifier)
}

fn verifier_routes_for<S>(audience: Audience) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    RepositoryState: FromRef<S>,
{
    Router::new()
        .route(
            "/repository",
            get(
                move |State(state): State<RepositoryState>,
                      query: PageQuery,
                      headers: HeaderMap| async move {
                    repository(&state.repository, audience, &query, &headers)
                },
            ),
        )
        .merge(stylesheet_route())
}

/// `/static/shuin.css` and the icon, for every listener with pages.
pub(crate) fn stylesheet_route<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/static/shuin.css", get(stylesheet))
        .route("/static/favicon.svg", get(favicon))
}

async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        shuin_web::FAVICON,
    )
        .into_response()
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        shuin_web::STYLESHEET,
    )
        .into_response()
}

/// The page's language and whether the choice is to be kept in the cookie.
pub(crate) fn language(query: &PageQuery, headers: &HeaderMap) -> (Lang, Option<Lang>) {
    let header_text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let cookie = header_text(header::COOKIE).and_then(|cookies| {
        cookies.split(';').find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == shuin_web::LANGUAGE_COOKIE).then_some(value)
        })
    });
    let chosen = query.lang.as_deref().and_then(Lang::parse);
    let lang = Lang::negotiate(
        query.lang.as_deref(),
        cookie,
        header_text(header::ACCEPT_LANGUAGE),
    );
    (lang, chosen)
}

/// How long a page may be kept by caches: never where it shows an application.
#[derive(Clone, Copy)]
pub(crate) enum Caching {
    Revalidate,
    NoStore,
}

pub(crate) fn page_response(
    rendered: Result<Rendered, RenderError>,
    status: StatusCode,
    lang: Lang,
    keep: Option<Lang>,
    caching: Caching,
    secure_cookie: bool,
) -> Response {
    let rendered = match rendered {
        Ok(rendered) => rendered,
        Err(e) => {
            tracing::error!(error = %e, "a page could not be rendered");
            return (StatusCode::INTERNAL_SERVER_ERROR, "page rendering failed\n").into_response();
        }
    };
    if !rendered.missing.is_empty() {
        tracing::warn!(lang = lang.as_str(), missing = ?rendered.missing, "a page shows message keys");
    }
    let cache = match caching {
        Caching::Revalidate => "no-cache",
        Caching::NoStore => "no-store",
    };
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                shuin_web::CONTENT_SECURITY_POLICY,
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CACHE_CONTROL, cache),
            (header::VARY, "Accept-Language, Cookie"),
            (header::CONTENT_LANGUAGE, lang.as_str()),
        ],
        rendered.html,
    )
        .into_response();
    if let Some(keep) = keep {
        let secure = if secure_cookie { "; Secure" } else { "" };
        let cookie = format!(
            "{}={}; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly{secure}",
            shuin_web::LANGUAGE_COOKIE,
            keep.as_str()
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
    }
    response
}

fn site(repository: &Repository) -> shuin_web::Site {
    shuin_web::Site {
        public_url: repository.public_url().to_owned(),
        terms_sha256: repository.terms_sha256().to_owned(),
    }
}

fn is_https(repository: &Repository) -> bool {
    repository.public_url().starts_with("https://")
}

/// The renderer of a page that needs only the instance's facts.
type SimpleRender = fn(&PageRequest<'_>, &shuin_web::Site) -> Result<Rendered, RenderError>;

/// The route of an applicant's page that needs only the instance's facts.
fn simple_route(path: &'static str, render: SimpleRender) -> axum::routing::MethodRouter<AppState> {
    get(
        move |State(state): State<AppState>, query: PageQuery, headers: HeaderMap| async move {
            simple_page(&state, path, &query, &headers, render)
        },
    )
}

/// A page of the applicant's that needs only the instance's facts.
fn simple_page(
    state: &AppState,
    path: &'static str,
    query: &PageQuery,
    headers: &HeaderMap,
    render: SimpleRender,
) -> Response {
    let (lang, keep) = language(query, headers);
    let request = PageRequest {
        path,
        lang,
        audience: Audience::Applicant,
    };
    let rendered = render(&request, &site(&state.repository));
    let https = is_https(&state.repository);
    page_response(
        rendered,
        StatusCode::OK,
        lang,
        keep,
        Caching::Revalidate,
        https,
    )
}

/// `/status?id=`: the form, and the state of the application with that number. An
/// unknown number answers 404 with the page; the page is never cached.
async fn status(State(state): State<AppState>, query: PageQuery, headers: HeaderMap) -> Response {
    let (lang, keep) = language(&query, &headers);
    let id = query.id.as_deref().map(str::trim).unwrap_or_default();
    let (view, code) = if id.is_empty() {
        (None, StatusCode::OK)
    } else {
        let (view, code) = status_view(&state, id).await;
        (Some(view), code)
    };
    let request = PageRequest {
        path: "/status",
        lang,
        audience: Audience::Applicant,
    };
    // What was typed is shown back only as far as an application number can be.
    let shown: String = id.chars().take(64).collect();
    let rendered = shuin_web::status(&request, &shown, view.as_ref());
    let https = is_https(&state.repository);
    page_response(rendered, code, lang, keep, Caching::NoStore, https)
}

async fn status_view(state: &AppState, id: &str) -> (StatusView, StatusCode) {
    match state.ra.application(id).await {
        Ok(ApplicationOutcome::Issued { serial, .. }) => {
            (StatusView::Issued(serial.to_hex()), StatusCode::OK)
        }
        Ok(ApplicationOutcome::PendingReview { reasons, .. }) => {
            (StatusView::PendingReview(reasons), StatusCode::OK)
        }
        Ok(ApplicationOutcome::Approved { .. }) => (StatusView::Approved, StatusCode::OK),
        Ok(ApplicationOutcome::Rejected { reason, .. }) => {
            (StatusView::Rejected(reason), StatusCode::OK)
        }
        Ok(ApplicationOutcome::Registered { .. }) => {
            (StatusView::Unavailable, StatusCode::SERVICE_UNAVAILABLE)
        }
        Err(e) => {
            let code = crate::problem::status_for(e.code());
            if code == StatusCode::NOT_FOUND {
                (StatusView::NotFound, code)
            } else {
                tracing::warn!(error = %e, "application status for the status page");
                (StatusView::Unavailable, StatusCode::SERVICE_UNAVAILABLE)
            }
        }
    }
}

/// `/monitoring` (operator listeners: secure and remote): the figures of `/metrics`.
pub(crate) async fn monitoring(
    State((state, sealing)): State<(AppState, crate::metrics::Sealing)>,
    query: PageQuery,
    headers: HeaderMap,
) -> Response {
    let (lang, keep) = language(&query, &headers);
    let request = PageRequest {
        path: "/monitoring",
        lang,
        audience: Audience::Monitoring,
    };
    let exposition = crate::metrics::exposition(&state, &sealing).await;
    let rendered = shuin_web::monitoring(&request, &exposition);
    let https = is_https(&state.repository);
    page_response(
        rendered,
        StatusCode::OK,
        lang,
        keep,
        Caching::NoStore,
        https,
    )
}

/// `/repository`: the CA certificates with their fingerprints, the CRLs published now,
/// the OCSP URL and the documents.
fn repository(
    repository: &Repository,
    audience: Audience,
    query: &PageQuery,
    headers: &HeaderMap,
) -> Response {
    let (lang, keep) = language(query, headers);
    let request = PageRequest {
        path: "/repository",
        lang,
        audience,
    };
    let facts = repository_facts(repository);
    let rendered = shuin_web::repository(&request, &site(repository), &facts);
    let https = is_https(repository);
    page_response(
        rendered,
        StatusCode::OK,
        lang,
        keep,
        Caching::Revalidate,
        https,
    )
}

fn repository_facts(repository: &Repository) -> shuin_web::RepositoryFacts {
    use shuin_web::{CertificateFacts, CrlFacts};
    let base = repository.public_url();
    let certificates = [
        ("certificate-root", "root.crt", repository.root_der()),
        ("certificate-issuing", "ca.crt", repository.ca_der()),
    ]
    .into_iter()
    .filter_map(|(label, file, der)| {
        CertificateFacts::from_der(label, format!("{base}/repository/{file}"), der)
    })
    .collect();
    let mut crls: Vec<CrlFacts> = [("root", repository.root_crl()), ("ca", repository.ca_crl())]
        .into_iter()
        .filter_map(|(stem, crl)| crl.map(|crl| (stem.to_owned(), crl)))
        .chain(repository.other_crls())
        .map(|(stem, crl)| {
            CrlFacts::new(
                format!("{base}/repository/{stem}.crl"),
                crl.number,
                crl.next_update,
            )
        })
        .collect();
    crls.sort_by(|a, b| a.href.cmp(&b.href));
    shuin_web::RepositoryFacts {
        certificates,
        crls,
        has_cps: repository.cps().is_some(),
    }
}
