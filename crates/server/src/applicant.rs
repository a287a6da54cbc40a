//! Applicant routes (front-end zone, DESIGN.md section 3.2).

use crate::problem::{from_ra_error, problem};
use crate::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use shuin_core::timefmt::rfc3339;
use shuin_core::ReasonCode;
use shuin_ra::ApplicationOutcome;

const MAX_BODY: usize = shuin_ra::MAX_APPLICATION_BYTES;

/// The applicant routes; those that write are admitted per client by `limiter`.
pub(crate) fn routes(
    limiter: std::sync::Arc<crate::rate_limit::RateLimiter>,
    clock: std::sync::Arc<dyn shuin_core::Clock>,
) -> Router<AppState> {
    let writes = Router::new()
        .route("/api/v1/challenges", post(create_challenge))
        .route("/api/v1/applications", post(submit_application))
        .route("/api/v1/revocations", post(submit_revocation))
        .route("/api/v1/disclosures", post(submit_disclosure))
        .route("/api/v1/enrollments", post(enroll))
        .route_layer(axum::middleware::from_fn_with_state(
            (limiter, clock),
            crate::rate_limit::admit,
        ));
    Router::new()
        .merge(writes)
        .route("/api/v1/applications/{id}", get(application))
}

async fn create_challenge(State(state): State<AppState>) -> Response {
    match state.ra.create_challenge().await {
        Ok(challenge) => {
            let body = serde_json::json!({
                "nonce": challenge.nonce,
                "expires_at": rfc3339(challenge.expires_at),
                "terms_sha256": challenge.terms_sha256,
                "terms_url": challenge.terms_url,
            });
            (StatusCode::CREATED, axum::Json(body)).into_response()
        }
        Err(e) => from_ra_error(e),
    }
}

fn is_pkcs7_mime(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/pkcs7-mime"))
}

async fn submit_application(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match read_signed_body(&headers, body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    // Detached: a client that disconnects never stops the cycle half-way.
    let ra = state.ra.clone();
    match shuin_ra::detached(async move { ra.submit_application(&bytes).await }).await {
        Ok(outcome) => outcome_response(outcome, true),
        Err(e) => from_ra_error(e),
    }
}

async fn read_signed_body(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, Response> {
    if !is_pkcs7_mime(headers) {
        return Err(problem(
            ReasonCode::UnsupportedMediaType,
            "send the CMS SignedData as application/pkcs7-mime",
        ));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(problem(
            ReasonCode::PayloadTooLarge,
            "the request exceeds 64 KiB",
        ));
    }
    axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| problem(ReasonCode::PayloadTooLarge, "the request exceeds 64 KiB"))
}

async fn submit_revocation(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match read_signed_body(&headers, body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    // Detached: a client that disconnects never stops the cycle half-way.
    let ra = state.ra.clone();
    match shuin_ra::detached(async move { ra.submit_revocation(&bytes).await }).await {
        Ok(done) => {
            let body = serde_json::json!({
                "status": "revoked",
                "serial": done.serial.to_hex(),
                "revoked_at": rfc3339(done.revoked_at),
                "crl_number": done.crl_number,
            });
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Err(e) => from_ra_error(e),
    }
}

/// `POST /api/v1/disclosures`: the holder's own records. Personal data: never stored by
/// a cache on the way.
async fn submit_disclosure(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match read_signed_body(&headers, body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    // Detached: the disclosure is ledgered whole even if the client goes away.
    let ra = state.ra.clone();
    match shuin_ra::detached(async move { ra.submit_disclosure(&bytes).await }).await {
        Ok(disclosure) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(disclosure),
        )
            .into_response(),
        Err(e) => from_ra_error(e),
    }
}

/// `POST /api/v1/enrollments` (legacy flow). The body holds the identification code:
/// it is never logged.
async fn enroll(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return problem(
            ReasonCode::UnsupportedMediaType,
            "send the enrollment as application/json",
        );
    }
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => return problem(ReasonCode::PayloadTooLarge, "the request exceeds 64 KiB"),
    };
    // Detached: a client that disconnects never stops the cycle half-way.
    let ra = state.ra.clone();
    match shuin_ra::detached(async move { ra.enroll(&bytes).await }).await {
        Ok(outcome) => outcome_response(outcome, true),
        Err(e) => from_ra_error(e),
    }
}

async fn application(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.ra.application(&id).await {
        Ok(outcome) => outcome_response(outcome, false),
        Err(e) => from_ra_error(e),
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).unwrap_or_default()
}

fn outcome_response(outcome: ApplicationOutcome, created: bool) -> Response {
    match outcome {
        ApplicationOutcome::Issued {
            id,
            serial,
            certificate_der,
            chain_der,
        } => {
            let chain: String = chain_der.iter().map(|c| pem("CERTIFICATE", c)).collect();
            let body = serde_json::json!({
                "application_id": id,
                "status": "issued",
                "serial": serial.to_hex(),
                "certificate_pem": pem("CERTIFICATE", &certificate_der),
                "chain_pem": chain,
            });
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, axum::Json(body)).into_response()
        }
        ApplicationOutcome::PendingReview { id, reasons } => {
            let body = serde_json::json!({"application_id": id, "status": "pending_review", "review_reasons": reasons});
            let status = if created {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            (status, axum::Json(body)).into_response()
        }
        ApplicationOutcome::Registered {
            registration_id,
            identification_code,
            expires_at,
        } => {
            let body = serde_json::json!({
                "status": "registered",
                "registration_id": registration_id,
                "identification_code": identification_code.as_str(),
                "expires_at": rfc3339(expires_at),
            });
            (StatusCode::CREATED, axum::Json(body)).into_response()
        }
        ApplicationOutcome::Approved { id } => {
            let body = serde_json::json!({"application_id": id, "status": "approved"});
            (StatusCode::ACCEPTED, axum::Json(body)).into_response()
        }
        ApplicationOutcome::Rejected { id, reason } => {
            let body =
                serde_json::json!({"application_id": id, "status": "rejected", "reason": reason});
            (StatusCode::OK, axum::Json(body)).into_response()
        }
    }
}
