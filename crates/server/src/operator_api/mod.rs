//! The operator API of operator listeners (`client_auth = "operator"`, DESIGN.md
//! sections 8 and 9): the protocol of the local console (`shuin_books::console`) over
//! mutual TLS. These routes exist only on operator listeners; elsewhere they answer 404.
//!
//! - `POST /operator/v1/nonce`: a nonce for the next signed request ([`Answer::Nonce`]).
//! - `POST /operator/v1/request`: a signed request with its attachment
//!   ([`Request::Signed`]); done, it answers `200` with [`Answer::Signed`]; refused or
//!   failed, a problem document carrying the stable code.
//! - `GET /operator/v1/status`: the seal state ([`Answer::Status`]).
//!
//! The gate is given the listener's zone (never `high_security`: that is the local
//! console's alone, so issuer-key actions are refused here whatever the role). A signed
//! request must be signed with the key of the connection's client certificate
//! (`session_key_mismatch` otherwise): the session is bound to the person. What becomes
//! of each request is counted into the session's record.

pub mod client;
mod session;

pub use session::{ClientIdentity, Session, Sessions};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Serialize;
use shuin_books::console::{Answer, Outcome, Request};
use shuin_books::{OperatorRequest, SignedRequest};
use shuin_core::Zone;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The largest request: a signed request with the largest attachment (a CSV of
/// entry/exit records, 8 MiB, JSON-escaped), as on the local console.
const MAX_REQUEST: usize = 20 * 1024 * 1024;

/// The console the operator API serves: the local console's, with the listener's zone.
#[async_trait::async_trait]
pub trait OperatorConsole: Send + Sync {
    /// The seal state.
    async fn status(&self) -> serde_json::Value;
    /// A nonce for the next signed request.
    async fn nonce(&self) -> Result<String, Outcome>;
    /// Admits a signed request from `zone` and acts on it.
    async fn act(
        &self,
        signed: &SignedRequest,
        attachment: Option<Zeroizing<String>>,
        zone: Zone,
    ) -> Outcome;
    /// The organisation book as it stands.
    async fn roster(&self) -> Result<shuin_books::Roster, Outcome>;
    /// Registers a passkey from `zone`.
    async fn register_passkey(
        &self,
        registered: &shuin_ledger::passkey_registration::Registered,
        zone: Zone,
    ) -> Result<shuin_ledger::passkey_registration::PasskeyKey, Outcome>;
    /// Writes `download` into the new directory `out`.
    async fn write_download(
        &self,
        download: crate::admin_socket::Download,
        out: &std::path::Path,
    ) -> Result<(), Outcome>;
}

#[async_trait::async_trait]
impl<C: crate::admin_socket::Console> OperatorConsole for C {
    async fn status(&self) -> serde_json::Value {
        serde_json::to_value(crate::admin_socket::Console::status(self).await)
            .unwrap_or(serde_json::Value::Null)
    }

    async fn nonce(&self) -> Result<String, Outcome> {
        crate::admin_socket::Console::nonce(self).await
    }

    async fn act(
        &self,
        signed: &SignedRequest,
        attachment: Option<Zeroizing<String>>,
        zone: Zone,
    ) -> Outcome {
        crate::admin_socket::Console::act(self, signed, attachment, zone, None).await
    }

    async fn roster(&self) -> Result<shuin_books::Roster, Outcome> {
        crate::admin_socket::Console::roster(self).await
    }

    async fn register_passkey(
        &self,
        registered: &shuin_ledger::passkey_registration::Registered,
        zone: Zone,
    ) -> Result<shuin_ledger::passkey_registration::PasskeyKey, Outcome> {
        crate::admin_socket::Console::register_passkey(self, registered, zone).await
    }

    async fn write_download(
        &self,
        download: crate::admin_socket::Download,
        out: &std::path::Path,
    ) -> Result<(), Outcome> {
        crate::admin_socket::Console::write_download(self, download, out).await
    }
}

/// The operator routes, for a listener of `zone`.
pub fn routes(console: Arc<dyn OperatorConsole>, zone: Zone) -> Router {
    Router::new()
        .route("/operator/v1/nonce", post(nonce))
        .route("/operator/v1/request", post(request))
        .route("/operator/v1/status", get(status))
        .layer(DefaultBodyLimit::max(MAX_REQUEST))
        .with_state(Api { console, zone })
}

#[derive(Clone)]
struct Api {
    console: Arc<dyn OperatorConsole>,
    zone: Zone,
}

/// The code of a request signed with a key other than the client certificate's.
pub const SESSION_KEY_MISMATCH: &str = "session_key_mismatch";

fn json<T: Serialize>(answer: &Answer<T>) -> Response {
    match serde_json::to_string(answer) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => outcome_problem(&Outcome::failed(e)),
    }
}

/// The HTTP status of a refusal's code.
fn status_of(code: &str) -> StatusCode {
    match code {
        "malformed_request"
        | "invalid_params"
        | "attachment_mismatch"
        | "attachment_missing"
        | "attachment_unexpected" => StatusCode::BAD_REQUEST,
        "nonce_reused" => StatusCode::CONFLICT,
        shuin_books::console::ROSTER_UNAVAILABLE | shuin_ra::console::CA_UNAVAILABLE => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::FORBIDDEN,
    }
}

/// A refused or failed request as a problem document (RFC 9457) with its stable code.
fn outcome_problem(outcome: &Outcome) -> Response {
    let (status, code, detail) = match outcome {
        Outcome::Refused { code, message } => (status_of(code), code.as_str(), message.clone()),
        Outcome::Failed { message } => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "operator_action_failed",
            message.clone(),
        ),
        Outcome::Done { .. } => (StatusCode::OK, "done", String::new()),
    };
    crate::problem::operator_problem(status, code, &detail)
}

async fn status(State(api): State<Api>) -> Response {
    json(&Answer::Status(api.console.status().await))
}

async fn nonce(State(api): State<Api>) -> Response {
    match api.console.nonce().await {
        Ok(nonce) => json::<()>(&Answer::Nonce { nonce }),
        Err(outcome) => outcome_problem(&outcome),
    }
}

async fn request(
    State(api): State<Api>,
    Extension(session): Extension<Arc<Session>>,
    body: Bytes,
) -> Response {
    let outcome = match serde_json::from_slice::<Request>(&body) {
        Ok(Request::Signed { signed, attachment }) => match bound(&session, &signed) {
            Ok(()) => {
                let attachment = attachment.map(Zeroizing::new);
                api.console.act(&signed, attachment, api.zone).await
            }
            Err(refusal) => refusal,
        },
        Ok(_) | Err(_) => Outcome::refused(
            "malformed_request",
            "the body must be a signed request ({\"command\": \"signed\", ...})",
        ),
    };
    session.count(&outcome);
    match outcome {
        Outcome::Done { result } => json::<()>(&Answer::Signed {
            outcome: Outcome::Done { result },
        }),
        refused => outcome_problem(&refused),
    }
}

/// The request must be signed with the key of the connection's certificate.
fn bound(session: &Session, signed: &SignedRequest) -> Result<(), Outcome> {
    // A request that does not parse is the gate's to refuse (and ledger).
    let Ok(request) = OperatorRequest::parse(&signed.request) else {
        return Ok(());
    };
    if request.key_sha256 == session.identity.key_sha256 {
        return Ok(());
    }
    tracing::warn!(
        operator = %session.identity.name,
        session = session.opened_seq(),
        "refused a request signed with another key than the session's certificate"
    );
    Err(Outcome::refused(
        SESSION_KEY_MISMATCH,
        format!(
            "{SESSION_KEY_MISMATCH}: the request is signed with a key other than the one of this connection's client certificate ({})",
            session.identity.name
        ),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use shuin_core::{Action, OsRandom, RandomSource};

    fn signed_by(key: &[u8]) -> SignedRequest {
        #[allow(clippy::disallowed_methods)] // tests stand outside the injected clock
        let now = std::time::SystemTime::now();
        let request = shuin_books::console::request_to_sign(
            Action::Status,
            serde_json::json!({}),
            None,
            "n".into(),
            now,
            key,
        );
        shuin_books::console::signed(request.canonical_text().unwrap(), b"sig")
    }

    #[test]
    fn a_request_must_be_signed_by_the_sessions_key() {
        let mut theirs = [0u8; 32];
        OsRandom.fill(&mut theirs).unwrap();
        let identity = ClientIdentity {
            name: "alice".into(),
            key_sha256: shuin_books::request::key_sha256(b"alice's key"),
            certificate_sha256: "00".repeat(32),
        };
        let session = Session::unrecorded(identity, Zone::Remote);
        assert!(bound(&session, &signed_by(b"alice's key")).is_ok());
        let refused = bound(&session, &signed_by(&theirs)).unwrap_err();
        session.count(&refused);
        assert!(matches!(&refused, Outcome::Refused { code, .. } if code == SESSION_KEY_MISMATCH));
        session.count(&Outcome::Done {
            result: serde_json::json!({}),
        });
        let tally = session.tally();
        assert_eq!((tally.actions, tally.refusals), (1, 1));
        assert_eq!(tally.refusal_codes[SESSION_KEY_MISMATCH], 1);
        // What does not parse is left to the gate, which refuses and ledgers it.
        let garbage = SignedRequest {
            request: "{".into(),
            signature: String::new(),
            passkey: None,
        };
        assert!(bound(&session, &garbage).is_ok());
    }
}
