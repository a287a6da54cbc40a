//! Entry/exit records of the certificate equipment room (入退室管理) into the facility
//! book (docs/ledger.md, "Entry/exit records"):
//!
//! - `POST /ledger/v1/access-events` for an access-control system: `Authorization:
//!   Bearer <token>` (the token's SHA-256 is the setting [`TOKEN_SETTING`], made by
//!   `shuin facility access-token`), `Content-Type: application/json`, a JSON array of
//!   `{"time", "person", "door", "direction"}` of at most [`MAX_BODY`] bytes. All items
//!   are valid and recorded in one transaction, or none is: 400 `malformed_request` lists
//!   every invalid item (index from 0) in `errors`. 200 `{"imported", "duplicates"}`.
//! - [`AccessEvents::record`], which `shuin facility import-access` uses too.
//!
//! Validation is `shuin_core::access_event`; each event becomes one
//! `facility.access_event` entry whose idempotency key is the event's, so an event sent
//! twice (in one batch, by two POSTs, or by a POST and a CSV import) is recorded once.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use shuin_core::access_event::{self, AccessEvent, AccessImportError, AccessPolicy};
use shuin_core::ReasonCode;
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{KeyedDraft, LedgerStore, SettingsStore, StoreError};

use crate::problem::{problem, problem_with};
use crate::AppState;

/// The setting holding the hex SHA-256 of the access-control system's bearer token
/// (empty or absent: the endpoint is off and answers 404).
pub const TOKEN_SETTING: &str = "facility.access_token_sha256";
/// The largest request body.
pub(crate) const MAX_BODY: usize = 1024 * 1024;
/// How many invalid items the `detail` text names (`errors` lists them all).
const DETAIL_ITEMS: usize = 10;

/// Records entry/exit events in the facility book.
pub struct AccessEvents {
    ledger: Arc<dyn LedgerStore>,
    settings: Arc<dyn SettingsStore>,
    policy: AccessPolicy,
}

impl std::fmt::Debug for AccessEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessEvents")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// What a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessRecorded {
    /// Events appended now.
    pub imported: usize,
    /// Events skipped because they were recorded before (or earlier in the batch).
    pub duplicates: usize,
    /// The seq of the first and last entry appended, if any.
    pub seqs: Option<(u64, u64)>,
}

impl AccessEvents {
    /// Appends to `ledger`; reads the token hash from `settings`; accepts what `policy`
    /// allows.
    pub fn new(
        ledger: Arc<dyn LedgerStore>,
        settings: Arc<dyn SettingsStore>,
        policy: AccessPolicy,
    ) -> Self {
        Self {
            ledger,
            settings,
            policy,
        }
    }

    /// The doors and clock skew accepted.
    pub fn policy(&self) -> &AccessPolicy {
        &self.policy
    }

    /// The console's `facility_import`: the CSV of entry/exit records is the request's
    /// attachment, checked against the policy and recorded all rows or none, with the
    /// operator as actor (`shuin_books::console`).
    pub async fn import_on_console(
        &self,
        admitted: &shuin_books::Admitted,
        csv: Option<zeroize::Zeroizing<String>>,
        now: SystemTime,
    ) -> shuin_books::console::Acted {
        use shuin_books::console::{required_attachment, Outcome};
        let csv = required_attachment(csv, "the CSV of entry/exit records")?;
        let events = access_event::parse_csv(csv.as_bytes(), &self.policy, now).map_err(|e| {
            Outcome::refused(
                shuin_books::access_import::INVALID_CSV,
                format!("{e}; nothing was imported"),
            )
        })?;
        let source = format!(
            "csv:{}",
            admitted.request.param("file_name").unwrap_or("upload")
        );
        let recorded = self
            .record(&events, &source, &admitted.actor(), now)
            .await
            .map_err(Outcome::failed)?;
        Ok(serde_json::json!({
            "ok": true,
            "source": source,
            "imported": recorded.imported,
            "duplicates": recorded.duplicates,
            "first_seq": recorded.seqs.map(|(first, _)| first),
            "last_seq": recorded.seqs.map(|(_, last)| last),
        }))
    }

    /// Appends one `facility.access_event` entry per event, in order, in one atomic
    /// batch; events recorded before are skipped.
    pub async fn record(
        &self,
        events: &[AccessEvent],
        source: &str,
        actor: &Actor,
        time: SystemTime,
    ) -> Result<AccessRecorded, StoreError> {
        let drafts = events
            .iter()
            .map(|event| KeyedDraft {
                key: Some(event.idempotency_key()),
                draft: EntryDraft {
                    book: Book::Facility,
                    kind: access_event::KIND.to_owned(),
                    actor: actor.clone(),
                    subjects: vec![format!("door:{}", event.door)],
                    payload: event.payload(source),
                    evidence: Vec::new(),
                },
            })
            .collect();
        let written = self.ledger.append_batch(drafts, time).await?;
        Ok(AccessRecorded {
            imported: written.len(),
            duplicates: events.len().saturating_sub(written.len()),
            seqs: written
                .first()
                .zip(written.last())
                .map(|(a, b)| (a.seq, b.seq)),
        })
    }

    /// The configured token hash, if the endpoint is on.
    async fn token_sha256(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .settings
            .setting(TOKEN_SETTING)
            .await?
            .filter(|hash| !hash.trim().is_empty()))
    }
}

/// Who the entries of `POST /ledger/v1/access-events` name as actor.
pub fn http_actor() -> Actor {
    Actor {
        name: "access-control-system".into(),
        role: "system".into(),
        zone: "secure".into(),
    }
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/ledger/v1/access-events", post(post_events))
}

async fn post_events(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    answer(&state, &headers, body)
        .await
        .unwrap_or_else(|refusal| refusal)
}

async fn answer(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Response, Response> {
    let access = &state.access_events;
    let expected = access
        .token_sha256()
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| {
            problem(
                ReasonCode::NotFound,
                "no access-control system is configured on this instance",
            )
        })?;
    if !bearer(headers).is_some_and(|token| access_event::token_matches(token, &expected)) {
        tracing::warn!("access events refused: missing or wrong bearer token");
        let mut refusal = problem(
            ReasonCode::Unauthorized,
            "send the access-control system's token as Authorization: Bearer <token>",
        );
        refusal.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"shuin-access-events\""),
        );
        return Err(refusal);
    }
    let bytes = read_json_body(headers, body).await?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        problem(
            ReasonCode::MalformedRequest,
            &format!("the body is not JSON: {e}"),
        )
    })?;
    let events = access_event::parse_json(&value, &access.policy, state.clock.now())
        .map_err(refused_items)?;
    let recorded = access
        .record(&events, "http", &http_actor(), state.clock.now())
        .await
        .map_err(|e| internal(&e))?;
    tracing::info!(
        imported = recorded.imported,
        duplicates = recorded.duplicates,
        "access events recorded"
    );
    Ok((
        StatusCode::OK,
        Json(serde_json::json!({
            "imported": recorded.imported,
            "duplicates": recorded.duplicates,
        })),
    )
        .into_response())
}

/// The token of `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

async fn read_json_body(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, Response> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(problem(
            ReasonCode::UnsupportedMediaType,
            "send the events as application/json",
        ));
    }
    let too_large = || {
        problem(
            ReasonCode::PayloadTooLarge,
            &format!("the request exceeds {MAX_BODY} bytes; send fewer events at a time"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| too_large())
}

/// 400 (or 413) naming every invalid item; nothing was written.
fn refused_items(error: AccessImportError) -> Response {
    let AccessImportError::Invalid(invalid) = error else {
        let code = match error {
            AccessImportError::NotAnArray => ReasonCode::MalformedRequest,
            _ => ReasonCode::PayloadTooLarge,
        };
        return problem(code, &error.to_string());
    };
    let mut items: Vec<u64> = invalid.iter().map(|i| i.position).collect();
    items.dedup();
    let named: Vec<String> = invalid
        .iter()
        .take(DETAIL_ITEMS)
        .map(|i| format!("item {}: {}", i.position, i.error))
        .collect();
    let more = invalid.len().saturating_sub(DETAIL_ITEMS);
    let detail = format!(
        "{} invalid item(s), nothing was recorded: {}{}",
        items.len(),
        named.join("; "),
        if more > 0 {
            format!("; and {more} more (see errors)")
        } else {
            String::new()
        }
    );
    let errors: Vec<serde_json::Value> = invalid
        .iter()
        .map(|i| {
            serde_json::json!({
                "index": i.position,
                "field": i.error.field().map(|f| f.as_str()),
                "message": i.error.to_string(),
            })
        })
        .collect();
    let mut extensions = serde_json::Map::new();
    extensions.insert("errors".into(), serde_json::Value::Array(errors));
    problem_with(ReasonCode::MalformedRequest, &detail, extensions)
}

fn internal(error: &StoreError) -> Response {
    use shuin_core::RandomSource;
    let mut id = [0u8; 8];
    let _ = shuin_core::OsRandom.fill(&mut id);
    let request_id = hex::encode(id);
    tracing::error!(request_id = %request_id, error = %error, "recording access events failed");
    problem(
        ReasonCode::InternalError,
        &format!("internal error (request id {request_id})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_strictly() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc "),
        );
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&headers), None);
    }

    #[tokio::test]
    async fn bodies_are_json_and_bounded() {
        let json = |length: Option<&'static str>| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            if let Some(length) = length {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static(length));
            }
            headers
        };
        let read = read_json_body(&json(None), Body::from("[]")).await.unwrap();
        assert_eq!(&read[..], b"[]");
        let over = Body::from(vec![b' '; MAX_BODY + 1]);
        let refused = read_json_body(&json(None), over).await.unwrap_err();
        assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let declared = read_json_body(&json(Some("99999999")), Body::from("[]"))
            .await
            .unwrap_err();
        assert_eq!(declared.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let mut csv = HeaderMap::new();
        csv.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
        let refused = read_json_body(&csv, Body::from("[]")).await.unwrap_err();
        assert_eq!(refused.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn invalid_items_are_listed_in_the_problem() {
        let refused = refused_items(AccessImportError::Invalid(vec![access_event::Invalid {
            position: 3,
            error: access_event::AccessEventError::Empty(access_event::Field::Person),
        }]));
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let too_many = refused_items(AccessImportError::TooManyEvents { max: 1 });
        assert_eq!(too_many.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
