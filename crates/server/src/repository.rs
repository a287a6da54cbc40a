//! Repository routes (DESIGN.md section 3.5).

use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/repository/ca.crt", get(ca_certificate))
        .route("/repository/root.crt", get(root_certificate))
        .route("/repository/terms", get(terms))
}

async fn ca_certificate(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/pkix-cert")],
        state.repository.ca_der().to_vec(),
    )
}

async fn root_certificate(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/pkix-cert")],
        state.repository.root_der().to_vec(),
    )
}

async fn terms(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        state.repository.terms().to_owned(),
    )
}
