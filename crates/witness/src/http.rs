//! The witness's HTTP interface (C2SP tlog-witness), with the submission and the
//! monitoring prefix both `/`:
//!
//! | request | answer |
//! |---|---|
//! | `POST /add-checkpoint` | 200 with the cosignature line(s); 409 `text/x.tlog.size` with the latest cosigned size; 400, 403, 404, 422 (see [`crate::witness`]); 413 for a body over 128 KiB |
//! | `GET /<origin hash>/checkpoint` | the latest cosigned checkpoint of that log, or 404 |
//! | `GET /` | the witness's verifier key, `text/plain` |
//!
//! Refusals other than 409 answer `text/plain` with the reason code on the first line
//! and the detail on the second.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;

use crate::witness::{Refusal, Witness};

/// The largest request body: 63 proof lines and a note of up to 64 KiB fit well within.
pub const MAX_BODY_BYTES: usize = 128 * 1024;

/// How long a request may take, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The witness's routes.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/", get(verifier_key))
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/{origin_hash}/checkpoint", get(latest_checkpoint))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(witness)
}

/// Serves the witness on `listener` until `shutdown` completes.
///
/// # Errors
///
/// The accept loop's I/O error.
pub async fn serve(
    witness: Arc<Witness>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(witness))
        .with_graceful_shutdown(shutdown)
        .await
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn verifier_key(State(witness): State<Arc<Witness>>) -> Response {
    text(
        StatusCode::OK,
        "text/plain; charset=utf-8",
        format!("{}\n", witness.key().verifier_key()),
    )
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Bytes) -> Response {
    let handled = tokio::task::spawn_blocking(move || witness.add_checkpoint(&body)).await;
    match handled {
        Ok(Ok(lines)) => text(StatusCode::OK, "text/plain; charset=utf-8", lines),
        Ok(Err(refusal)) => refused(&refusal),
        Err(e) => {
            tracing::error!(error = %e, "the add-checkpoint task failed");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
                "internal_error\n".into(),
            )
        }
    }
}

fn refused(refusal: &Refusal) -> Response {
    let status = match refusal {
        Refusal::OldSizeMismatch { latest, .. } => {
            return text(
                StatusCode::CONFLICT,
                "text/x.tlog.size",
                format!("{latest}\n"),
            );
        }
        Refusal::Malformed(_) | Refusal::OldSizeBeyondCheckpoint { .. } => StatusCode::BAD_REQUEST,
        Refusal::UnknownLog { .. } => StatusCode::NOT_FOUND,
        Refusal::LogSignatureMissing | Refusal::LogSignatureInvalid => StatusCode::FORBIDDEN,
        Refusal::EmptyTreeRootInvalid | Refusal::ConsistencyProofInvalid { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Refusal::State(_) | Refusal::Cosign => {
            tracing::error!(error = %refusal, "could not cosign");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    let detail = match status {
        StatusCode::INTERNAL_SERVER_ERROR => String::new(),
        _ => refusal.to_string(),
    };
    text(
        status,
        "text/plain; charset=utf-8",
        format!("{}\n{detail}\n", refusal.code()),
    )
}

async fn latest_checkpoint(
    State(witness): State<Arc<Witness>>,
    Path(origin_hash): Path<String>,
) -> Response {
    match witness.latest_checkpoint(&origin_hash) {
        Some(note) => text(StatusCode::OK, "text/plain; charset=utf-8", note),
        None => text(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not_found\n".into(),
        ),
    }
}
