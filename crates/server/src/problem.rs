//! `application/problem+json` answers (RFC 9457) with shuin's reason codes.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use shuin_core::ReasonCode;
use shuin_ra::RaError;

/// The HTTP status for a reason code (DESIGN.md section 3.4).
pub fn status_for(code: ReasonCode) -> StatusCode {
    use ReasonCode as C;
    match code {
        C::MalformedRequest | C::UnsupportedFormat | C::CsrMalformed => StatusCode::BAD_REQUEST,
        C::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        C::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        C::NonceReused
        | C::KeyReused
        | C::IdentificationCodeUsed
        | C::CertificateAlreadyRevoked => StatusCode::CONFLICT,
        C::IdentificationCodeLocked => StatusCode::LOCKED,
        C::Unauthorized => StatusCode::UNAUTHORIZED,
        C::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        C::JpkiRevocationUnavailable | C::CaSealed | C::ServiceUnavailable => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        C::NotFound | C::CertificateUnknown | C::NoRecordsHeld => StatusCode::NOT_FOUND,
        C::DisclosureNotAuthorized => StatusCode::FORBIDDEN,
        C::BusinessTerminated => StatusCode::GONE,
        C::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

fn title_for(code: ReasonCode) -> &'static str {
    use ReasonCode as C;
    match code {
        C::MalformedRequest => "Malformed request / リクエストの形式が不正です",
        C::UnsupportedMediaType => "Unsupported media type / 対応していないメディアタイプです",
        C::PayloadTooLarge => "Payload too large / 申請が大きすぎます",
        C::JpkiRevocationUnavailable => {
            "JPKI revocation status unavailable / 失効情報を確認できません"
        }
        C::CaSealed => "CA sealed / 認証局は起動準備中です",
        C::InternalError => "Internal error / 内部エラー",
        C::ServiceUnavailable => {
            "Temporarily unavailable, try again later / 一時的に利用できません。しばらくしてから再度お試しください"
        }
        C::NotFound => "Not found / 見つかりません",
        C::Unauthorized => "Unauthorized / 認証されていません",
        C::RateLimited => "Too many requests / リクエストが多すぎます",
        C::BusinessTerminated => {
            "The certification business has ended / 認証業務は廃止されました"
        }
        C::DisclosureNotAuthorized | C::NoRecordsHeld => {
            "Disclosure refused / 開示できません"
        }
        _ => "Application refused / 申請を受け付けられません",
    }
}

/// A problem response.
pub(crate) fn problem(code: ReasonCode, detail: &str) -> Response {
    problem_with(code, detail, serde_json::Map::new())
}

/// A problem response with extension members (RFC 9457 section 3.2), such as the list
/// of invalid items of a batch.
pub(crate) fn problem_with(
    code: ReasonCode,
    detail: &str,
    extensions: serde_json::Map<String, serde_json::Value>,
) -> Response {
    let mut body = serde_json::json!({
        "type": format!("urn:shuin:problem:{}", code.as_str()),
        "code": code.as_str(),
        "title": title_for(code),
        "detail": detail,
    });
    if let Some(members) = body.as_object_mut() {
        for (name, value) in extensions {
            members.entry(name).or_insert(value);
        }
    }
    let mut response = (status_for(code), body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/problem+json"),
    );
    if code.is_retryable() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("30"));
    }
    response
}

/// Maps an RA error; internal detail is logged with a request id, never sent.
pub(crate) fn from_ra_error(error: RaError) -> Response {
    match error {
        RaError::Rejected(rejection) => problem(rejection.code, &rejection.detail),
        other => {
            let mut id = [0u8; 8];
            let _ = getrandom_id(&mut id);
            let request_id = hex::encode(id);
            tracing::error!(request_id = %request_id, error = %other, source = ?std::error::Error::source(&other), "unavailable (storage, ledger or key backend)");
            // Storage, ledger or key backend trouble: nothing was made visible, and the
            // same request may succeed later.
            problem(
                other.code(),
                &format!("temporarily unavailable, nothing was done; try again later (request id {request_id})"),
            )
        }
    }
}

fn getrandom_id(buf: &mut [u8]) -> Result<(), shuin_core::random::RandomError> {
    use shuin_core::RandomSource;
    shuin_core::OsRandom.fill(buf)
}

/// The fallback for unknown routes.
pub(crate) async fn not_found() -> Response {
    problem(ReasonCode::NotFound, "no such resource")
}

/// A problem response for an operator request, with the gate's or the action's stable
/// code (`zone_refused`, `role_missing`, `session_key_mismatch`, ...).
pub(crate) fn operator_problem(status: StatusCode, code: &str, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": format!("urn:shuin:problem:{code}"),
        "code": code,
        "title": "Operator request refused / 操作は受け付けられません",
        "detail": detail,
    });
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/problem+json"),
    );
    response
}
