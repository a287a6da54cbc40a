//! OCSP over HTTP (RFC 6960 appendix A): `POST /ocsp` and `GET /ocsp/{base64}`.
//! Every answer is an OCSPResponse, never a problem document or a crash.

use crate::RepositoryState;
use axum::body::Body;
use axum::extract::{FromRef, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use shuin_core::ocsp::{malformed_request, MAX_REQUEST_BYTES};

pub(crate) fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    RepositoryState: FromRef<S>,
{
    Router::new()
        .route("/ocsp", post(ocsp_post))
        .route("/ocsp/{*request}", get(ocsp_get))
}

/// A pre-signed answer handed to the response body without copying it.
struct SharedDer(std::sync::Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedDer {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

fn ocsp_response(der: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/ocsp-response")], der).into_response()
}

async fn answer(state: &RepositoryState, request: Vec<u8>) -> Response {
    // Pre-signed answers held in memory are handed over without a copy; the others are
    // read from storage, or are an unsigned refusal. Nothing is signed here.
    if let Some(cached) = state.ocsp.respond_from_cache(&request) {
        return (
            [(header::CONTENT_TYPE, "application/ocsp-response")],
            axum::body::Bytes::from_owner(SharedDer(cached)),
        )
            .into_response();
    }
    ocsp_response(state.ocsp.respond(&request).await)
}

async fn ocsp_post(State(state): State<RepositoryState>, body: Body) -> Response {
    match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(bytes) => answer(&state, bytes.to_vec()).await,
        Err(_) => ocsp_response(malformed_request()),
    }
}

async fn ocsp_get(State(state): State<RepositoryState>, Path(encoded): Path<String>) -> Response {
    // The path segment is base64 of the DER request, URL-decoded by the router.
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim_start_matches('/'))
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded.trim_start_matches('/'))
        });
    match decoded {
        Ok(bytes) if bytes.len() <= MAX_REQUEST_BYTES => answer(&state, bytes).await,
        _ => ocsp_response(malformed_request()),
    }
}
