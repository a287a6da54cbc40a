//! Repository routes (DESIGN.md section 3.5).

use crate::RepositoryState;
use axum::extract::{FromRef, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use shuin_core::ReasonCode;

pub(crate) fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    RepositoryState: FromRef<S>,
{
    Router::new()
        .route("/repository/ca.crt", get(ca_certificate))
        .route("/repository/root.crt", get(root_certificate))
        .route("/repository/terms", get(terms))
        .route("/repository/cps", get(cps))
        .route("/repository/ca.crl", get(ca_crl))
        .route("/repository/root.crl", get(root_crl))
        .route("/repository/operator-ca.crl", get(operator_crl))
        .route("/repository/{file}", get(other_crl))
}

fn crl_response(state: &RepositoryState, crl: Option<shuin_repo::PublishedCrl>) -> Response {
    match crl {
        Some(crl) => {
            let now = state.clock.now();
            let max_age = crl
                .next_update
                .duration_since(now)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            (
                [
                    (header::CONTENT_TYPE, "application/pkix-crl".to_owned()),
                    (header::CACHE_CONTROL, format!("public, max-age={max_age}")),
                ],
                crl.der.as_ref().clone(),
            )
                .into_response()
        }
        None => crate::problem::problem(
            ReasonCode::ServiceUnavailable,
            "no CRL is published here yet; ask again shortly",
        ),
    }
}

async fn cps(State(state): State<RepositoryState>) -> Response {
    match state.repository.cps() {
        Some(text) => (
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            text.to_owned(),
        )
            .into_response(),
        None => crate::problem::problem(ReasonCode::NotFound, "no CP/CPS is published"),
    }
}

async fn ca_crl(State(state): State<RepositoryState>) -> Response {
    let crl = state.repository.ca_crl();
    crl_response(&state, crl)
}

/// Delta (`ca-delta.crl`) and partition (`ca-pN.crl`) CRLs.
async fn other_crl(
    State(state): State<RepositoryState>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    let crl = file
        .strip_suffix(".crl")
        .filter(|stem| stem.len() <= 16 && stem.starts_with("ca-"))
        .and_then(|stem| state.repository.other_crl(stem));
    match crl {
        Some(crl) => crl_response(&state, Some(crl)),
        None => crate::problem::problem(ReasonCode::NotFound, "no such resource"),
    }
}

/// The operator CA's CRL: revoked operator certificates (DESIGN.md section 8).
async fn operator_crl(State(state): State<RepositoryState>) -> Response {
    match state.repository.other_crl("operator-ca") {
        Some(crl) => crl_response(&state, Some(crl)),
        None => crate::problem::problem(ReasonCode::NotFound, "no operator CRL is published"),
    }
}

async fn root_crl(State(state): State<RepositoryState>) -> Response {
    let crl = state.repository.root_crl();
    crl_response(&state, crl)
}

async fn ca_certificate(State(state): State<RepositoryState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/pkix-cert")],
        state.repository.ca_der().to_vec(),
    )
}

async fn root_certificate(State(state): State<RepositoryState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/pkix-cert")],
        state.repository.root_der().to_vec(),
    )
}

async fn terms(State(state): State<RepositoryState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        state.repository.terms().to_owned(),
    )
}
