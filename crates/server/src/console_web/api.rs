//! The passkey steps of the web console, as JSON for `/static/console.js`:
//!
//! - `POST /console/v1/signin/begin` and `/finish`: an assertion over a fresh nonce, by
//!   a registered passkey whose operator certificate is usable, opens a session;
//! - `POST /console/v1/enrol/begin`, `/text` and `/finish`: with an open invitation the
//!   browser creates a passkey, which then signs its registration text
//!   (`shuin_ledger::passkey_registration`); the registration is ledgered;
//! - `POST /console/v1/prepare` and `/act`: the server builds the canonical operator
//!   request of a decision and its challenge `SHA-256(request || nonce)`; the session's
//!   passkey signs it; the request goes through the gate like the CLI's, with its
//!   assertion, and the gate ledgers it before it takes effect;
//! - `POST /console/v1/download/prepare` and `/act`: the same for the auditor's
//!   downloads only (`audit_pack`, `ledger_export`), on the remote zone's listeners too;
//!   done, the answer is a one-time link to the download ([`super::downloads`]).
//!
//! Refusals answer `{"code", "message"}` with the stable code. The session cookie is
//! `SameSite=Strict` and every session request also carries its CSRF token.

use super::sessions::{set_cookie, OpenError};
use super::Console;
use crate::operator_api::ClientIdentity;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use shuin_books::console::Outcome;
use shuin_core::{Action, OsRandom, RandomSource};
use shuin_ledger::operator_request::{OperatorRequest, PasskeyProof, SignedRequest};
use shuin_ledger::passkey::{action_challenge, Assertion, Expected};
use shuin_ledger::passkey_registration::{Registered, Registration, REGISTRATION_FORMAT};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const B64U: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// How long a sign-in nonce lives.
const SIGNIN_TTL: Duration = Duration::from_secs(300);
/// Sign-in nonces outstanding at most.
const MAX_SIGNINS: usize = 4096;
/// The largest JSON body of a passkey step.
const MAX_BODY: usize = 64 * 1024;

/// The passkey steps and the signed downloads; `decisions` adds the signed decisions
/// (`prepare`, `act`), which exist only where the zone allows any (never on the remote
/// zone's listeners).
pub(super) fn routes(decisions: bool) -> Router<Console> {
    let routes = Router::new()
        .route("/console/v1/download/prepare", post(prepare_download))
        .route("/console/v1/download/act", post(act_download))
        .route("/console/v1/signin/begin", post(signin_begin))
        .route("/console/v1/signin/finish", post(signin_finish))
        .route("/console/v1/enrol/begin", post(enrol_begin))
        .route("/console/v1/enrol/text", post(enrol_text))
        .route("/console/v1/enrol/finish", post(enrol_finish));
    let routes = if decisions {
        routes
            .route("/console/v1/prepare", post(prepare))
            .route("/console/v1/act", post(act))
    } else {
        routes
    };
    routes.layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
}

/// The sign-in nonces given out and not yet used.
#[derive(Debug, Default)]
pub(crate) struct SigninChallenges {
    open: Mutex<HashMap<String, Instant>>,
}

impl SigninChallenges {
    fn issue(&self) -> Result<String, Refused> {
        let nonce = random_text()?;
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|_, issued| issued.elapsed() <= SIGNIN_TTL);
        if open.len() >= MAX_SIGNINS {
            // Full (a flood of sign-ins begun and never finished): the oldest goes, so
            // that a flood cannot lock operators out.
            let oldest = open
                .iter()
                .min_by_key(|(_, issued)| **issued)
                .map(|(nonce, _)| nonce.clone());
            if let Some(oldest) = oldest {
                open.remove(&oldest);
            }
        }
        open.insert(nonce.clone(), Instant::now());
        Ok(nonce)
    }

    /// Spends `nonce`: true once, within its lifetime.
    fn spend(&self, nonce: &str) -> bool {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.remove(nonce)
            .is_some_and(|issued| issued.elapsed() <= SIGNIN_TTL)
    }
}

/// A refusal: the status and the stable code.
pub(super) struct Refused(StatusCode, String, String);

fn refused(status: StatusCode, code: &str, message: impl Into<String>) -> Refused {
    Refused(status, code.to_owned(), message.into())
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let body = json!({"code": self.1, "message": self.2});
        let mut response = (self.0, Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// An outcome that is not done, as a refusal.
fn from_outcome(outcome: Outcome) -> Refused {
    match outcome {
        Outcome::Refused { code, message } => {
            let status = match code.as_str() {
                "malformed_request" | "invalid_params" => StatusCode::BAD_REQUEST,
                "nonce_reused" | "invalid_state" => StatusCode::CONFLICT,
                "not_found" => StatusCode::NOT_FOUND,
                _ => StatusCode::FORBIDDEN,
            };
            Refused(status, code, message)
        }
        Outcome::Failed { message } => Refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "operator_action_failed".into(),
            message,
        ),
        Outcome::Done { .. } => Refused(StatusCode::OK, "done".into(), String::new()),
    }
}

/// Admits one more request without a session from `peer` (sign-in, enrolment): a
/// client that floods these steps gets `429 rate_limited`, others are still served.
fn admit(console: &Console, peer: SocketAddr) -> Result<(), Refused> {
    console
        .limiter
        .admit(peer.ip(), console.app.clock.now())
        .map_err(|retry| {
            refused(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many requests; try again in {} s",
                    retry.0.as_secs().max(1)
                ),
            )
        })
}

fn random_text() -> Result<String, Refused> {
    let mut bytes = [0u8; 32];
    OsRandom.fill(&mut bytes).map_err(|_| {
        refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "no randomness",
        )
    })?;
    Ok(B64U.encode(bytes))
}

/// What the browser returns from `navigator.credentials.get`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssertionJson {
    credential_id: String,
    authenticator_data: String,
    client_data_json: String,
    signature: String,
}

impl AssertionJson {
    fn proof(&self) -> PasskeyProof {
        PasskeyProof {
            credential_id: self.credential_id.clone(),
            authenticator_data: self.authenticator_data.clone(),
            client_data_json: self.client_data_json.clone(),
        }
    }
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn json_answer(value: serde_json::Value) -> Response {
    let mut response = Json(value).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn signin_begin(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Response, Refused> {
    admit(&console, peer)?;
    let nonce = console.signins.issue()?;
    Ok(json_answer(
        json!({"nonce": nonce, "challenge": nonce, "rp_id": console.relying.rp_id}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SigninFinish {
    nonce: String,
    assertion: AssertionJson,
}

async fn signin_finish(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<SigninFinish>,
) -> Result<Response, Refused> {
    admit(&console, peer)?;
    let unknown = || {
        refused(
            StatusCode::FORBIDDEN,
            "passkey_unknown",
            "this passkey is not registered for an operator, or can no longer be used",
        )
    };
    if !console.signins.spend(&body.nonce) {
        return Err(refused(
            StatusCode::FORBIDDEN,
            "nonce_unknown",
            "the sign-in expired or was used; start again",
        ));
    }
    let roster = console.console.roster().await.map_err(from_outcome)?;
    let passkey = roster
        .passkey_by_credential(&body.assertion.credential_id)
        .ok_or_else(unknown)?;
    if !roster.passkey_usable(passkey, console.app.clock.now()) {
        return Err(unknown());
    }
    // A passkey signs in only on the console it was registered at (its zone).
    if passkey.key.origin != console.relying.origin || passkey.key.rp_id != console.relying.rp_id {
        return Err(refused(
            StatusCode::FORBIDDEN,
            "passkey_origin_mismatch",
            "this passkey was registered at another console",
        ));
    }
    let assertion = Assertion::decode(&body.assertion.proof(), &body.assertion.signature)
        .map_err(|e| refused(StatusCode::BAD_REQUEST, e.code(), e.to_string()))?;
    let challenge = B64U.decode(&body.nonce).map_err(|_| {
        refused(
            StatusCode::BAD_REQUEST,
            "nonce_unknown",
            "the nonce is not base64url",
        )
    })?;
    let expected = Expected {
        rp_id: &passkey.key.rp_id,
        origin: &passkey.key.origin,
        challenge: &challenge,
    };
    shuin_ledger::passkey::verify_assertion(&passkey.key.spki_der, &assertion, &expected)
        .map_err(|e| {
            tracing::warn!(code = e.code(), operator = %passkey.key.name, %peer, "console sign-in refused");
            refused(StatusCode::FORBIDDEN, e.code(), e.to_string())
        })?;
    let identity = ClientIdentity {
        name: passkey.key.name.clone(),
        key_sha256: passkey.key.key_sha256.clone(),
        certificate_sha256: passkey.certificate_sha256.clone(),
    };
    let credential = passkey.key.credential_id.clone();
    let (cookie, _) = console
        .sessions
        .open(identity, credential, peer, &OsRandom)
        .await
        .map_err(|e| match e {
            OpenError::Full => refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "rate_limited",
                e.to_string(),
            ),
            other => {
                tracing::error!(error = %other, "a console session could not be opened");
                refused(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                    other.to_string(),
                )
            }
        })?;
    let mut response = json_answer(json!({"next": "/console/"}));
    if let Ok(value) = HeaderValue::from_str(&set_cookie(Some(&cookie))) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolBegin {
    token: String,
}

/// The operator an open invitation with `token` is for.
async fn invited(console: &Console, token: &str) -> Result<String, Refused> {
    let roster = console.console.roster().await.map_err(from_outcome)?;
    let invitation = roster.invitation(&sha256_hex(token)).ok_or_else(|| {
        refused(
            StatusCode::FORBIDDEN,
            "passkey_invitation_unknown",
            "no invitation has this token: ask for one with `shuin operator passkey-invite`",
        )
    })?;
    if !invitation.open_at(console.app.clock.now()) {
        return Err(refused(
            StatusCode::FORBIDDEN,
            "passkey_invitation_closed",
            "the invitation was used already or has expired: ask for a new one",
        ));
    }
    Ok(invitation.invited.name.clone())
}

async fn enrol_begin(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<EnrolBegin>,
) -> Result<Response, Refused> {
    admit(&console, peer)?;
    let name = invited(&console, &body.token).await?;
    let user_id = B64U.encode(&Sha256::digest(name.as_bytes())[..16]);
    Ok(json_answer(json!({
        "rp_id": console.relying.rp_id,
        "rp_name": "shuin",
        "user_id": user_id,
        "user_name": name,
        "challenge": random_text()?,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolText {
    token: String,
    credential_id: String,
    public_key: String,
}

async fn enrol_text(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<EnrolText>,
) -> Result<Response, Refused> {
    admit(&console, peer)?;
    let name = invited(&console, &body.token).await?;
    let spki = B64.decode(&body.public_key).ok();
    let supported = spki
        .as_deref()
        .and_then(shuin_ledger::operator_request::signature_oid)
        .is_some_and(|oid| oid != shuin_core::signature::ECDSA_WITH_SHA384);
    if !supported || B64U.decode(&body.credential_id).is_err() {
        return Err(refused(StatusCode::BAD_REQUEST, "passkey_unsupported_key", "the passkey must be ES256 (P-256) or RS256, with its public key as SubjectPublicKeyInfo"));
    }
    let nonce = random_text()?;
    let registration = Registration {
        format: REGISTRATION_FORMAT.into(),
        name,
        credential_id: body.credential_id,
        public_key: body.public_key,
        rp_id: console.relying.rp_id.clone(),
        origin: console.relying.origin.clone(),
        token_sha256: sha256_hex(&body.token),
        nonce,
        time: shuin_core::timefmt::rfc3339(console.app.clock.now()),
    };
    let text = registration
        .canonical_text()
        .map_err(|e| refused(StatusCode::BAD_REQUEST, "passkey_text_malformed", e.0))?;
    let challenge = action_challenge(text.as_bytes(), registration.nonce.as_bytes());
    Ok(json_answer(
        json!({"registration": text, "challenge": B64U.encode(challenge)}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolFinish {
    token: String,
    registration: String,
    assertion: AssertionJson,
}

async fn enrol_finish(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<EnrolFinish>,
) -> Result<Response, Refused> {
    admit(&console, peer)?;
    let registration = Registration::parse(&body.registration)
        .map_err(|e| refused(StatusCode::BAD_REQUEST, "passkey_text_malformed", e.0))?;
    if registration.origin != console.relying.origin || registration.rp_id != console.relying.rp_id
    {
        return Err(refused(
            StatusCode::FORBIDDEN,
            "passkey_origin_mismatch",
            "the registration names another console",
        ));
    }
    let registered = Registered {
        registration: body.registration,
        token: body.token,
        passkey: body.assertion.proof(),
        signature: body.assertion.signature,
    };
    console
        .console
        .register_passkey(&registered, console.zone)
        .await
        .map_err(from_outcome)?;
    Ok(json_answer(json!({"next": "/console/signin"})))
}

/// A decision from a form of the console.
#[derive(Deserialize)]
struct PrepareForm {
    csrf: String,
    action: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    serial: Option<String>,
    #[serde(default)]
    since: Option<String>,
    /// A registration: the identity the LRA verified, and how the code is delivered.
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    birth_date: Option<String>,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    gender: Option<String>,
    #[serde(default)]
    delivery: Option<String>,
    #[serde(default)]
    tracking: Option<String>,
    /// A passkey to remove.
    #[serde(default)]
    credential_id: Option<String>,
}

/// The session of the request, with its CSRF token checked.
async fn checked_session(
    console: &Console,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<std::sync::Arc<super::sessions::WebSession>, Refused> {
    let web = console.session(headers).await.ok_or_else(|| {
        refused(
            StatusCode::UNAUTHORIZED,
            "session_required",
            "sign in again: the session ended or was never opened",
        )
    })?;
    if !web.csrf_matches(csrf) {
        return Err(refused(
            StatusCode::FORBIDDEN,
            "csrf_mismatch",
            "the form is not from this session",
        ));
    }
    Ok(web)
}

/// The action and parameters of a decision.
fn decision(form: &PrepareForm) -> Result<(Action, serde_json::Value, Option<String>), Refused> {
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    let needed = |v: &Option<String>, what: &str| {
        text(v).ok_or_else(|| {
            refused(
                StatusCode::BAD_REQUEST,
                "invalid_params",
                format!("{what} is missing"),
            )
        })
    };
    match form.action.as_str() {
        "review_approve" => {
            let mut params = json!({"id": needed(&form.id, "the application id")?});
            if let Some(note) = text(&form.note) {
                params["note"] = json!(note);
            }
            Ok((Action::ReviewApprove, params, None))
        }
        "review_reject" => {
            let id = needed(&form.id, "the application id")?;
            let reason = needed(&form.reason, "a rejection's reason")?;
            Ok((
                Action::ReviewReject,
                json!({"id": id, "reason": reason}),
                None,
            ))
        }
        "revoke" => {
            let serial = needed(&form.serial, "the serial number")?;
            let reason = needed(&form.reason, "the reason")?;
            Ok((
                Action::Revoke,
                json!({"serial": serial, "reason": reason}),
                None,
            ))
        }
        "automation_suspend" | "automation_resume" => {
            let reason = needed(&form.reason, "the reason")?;
            let action = if form.action == "automation_suspend" {
                Action::AutomationSuspend
            } else {
                Action::AutomationResume
            };
            Ok((action, json!({"reason": reason}), None))
        }
        "automation_review" | "automation_review_preview" => {
            let since = needed(&form.since, "the start of the review")?;
            let sign_off = form.action == "automation_review";
            Ok((
                Action::AutomationReview,
                json!({"since": since, "sign_off": sign_off}),
                None,
            ))
        }
        "passkey_remove" => {
            let credential = needed(&form.credential_id, "the passkey's credential id")?;
            Ok((
                Action::PasskeyRemove,
                json!({"credential_id": credential}),
                None,
            ))
        }
        "audit_pack" => Ok((Action::AuditPack, json!({"download": "audit_pack"}), None)),
        "ledger_export" => Ok((
            Action::LedgerRead,
            json!({"download": "ledger_export"}),
            None,
        )),
        "registration_create" => {
            let identity = shuin_ra::VerifiedIdentity {
                name: needed(&form.name, "the name")?,
                birth_date: needed(&form.birth_date, "the date of birth")?,
                address: needed(&form.address, "the address")?,
                gender: text(&form.gender),
            };
            let delivery = text(&form.delivery).map(|method| shuin_ra::Delivery {
                method,
                tracking: text(&form.tracking),
            });
            let lifetime = shuin_ra::DEFAULT_CODE_LIFETIME;
            let (mut params, attachment) = shuin_ra::console::registration_create_request(
                &identity,
                lifetime,
                delivery.as_ref(),
                &OsRandom,
            )
            .map_err(|e| {
                refused(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                    e.to_string(),
                )
            })?;
            let attachment = attachment.to_string();
            params[shuin_books::console::ATTACHMENT_PARAM] =
                json!(shuin_books::console::attachment_sha256(&attachment));
            Ok((Action::RegistrationCreate, params, Some(attachment)))
        }
        _ => Err(refused(
            StatusCode::BAD_REQUEST,
            "invalid_params",
            "this console does not do that action",
        )),
    }
}

/// Where the page goes after `request` was done.
fn next_page(request: &OperatorRequest) -> String {
    let action = request.action.as_str();
    match request.action {
        Action::Revoke => format!(
            "/console/revoke?done=revoke&id={}",
            shuin_web::query_escape(request.param("serial").unwrap_or_default())
        ),
        Action::AutomationSuspend | Action::AutomationResume | Action::AutomationReview => {
            format!("/console/automation?done={action}")
        }
        Action::PasskeyRemove => "/console/passkeys?done=passkey_remove".to_owned(),
        _ => format!(
            "/console/?done={action}&id={}",
            shuin_web::query_escape(request.param("id").unwrap_or_default())
        ),
    }
}

/// Refuses on the download endpoints what is not a download.
fn only_downloads() -> Refused {
    refused(
        StatusCode::BAD_REQUEST,
        "invalid_params",
        "these endpoints make the auditor's downloads only",
    )
}

async fn prepare_download(
    state: State<Console>,
    headers: HeaderMap,
    Json(form): Json<PrepareForm>,
) -> Result<Response, Refused> {
    if !matches!(form.action.as_str(), "audit_pack" | "ledger_export") {
        return Err(only_downloads());
    }
    prepare(state, headers, Json(form)).await
}

async fn prepare(
    State(console): State<Console>,
    headers: HeaderMap,
    Json(form): Json<PrepareForm>,
) -> Result<Response, Refused> {
    let web = checked_session(&console, &headers, &form.csrf).await?;
    let (action, params, attachment) = decision(&form)?;
    let nonce = console.console.nonce().await.map_err(from_outcome)?;
    let request = OperatorRequest {
        format: shuin_ledger::operator_request::REQUEST_FORMAT.into(),
        action,
        params,
        nonce,
        time: shuin_core::timefmt::rfc3339(console.app.clock.now()),
        key_sha256: web.session.identity.key_sha256.clone(),
    };
    let text = request
        .canonical_text()
        .map_err(|e| refused(StatusCode::BAD_REQUEST, "malformed_request", e.0))?;
    let challenge = action_challenge(text.as_bytes(), request.nonce.as_bytes());
    Ok(json_answer(json!({
        "request": text,
        "challenge": B64U.encode(challenge),
        "credential_id": web.credential_id,
        "rp_id": console.relying.rp_id,
        // What travels beside the signed request (the identity of a registration): the
        // request names it by its SHA-256; the books never hold it.
        "attachment": attachment,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActBody {
    csrf: String,
    request: String,
    assertion: AssertionJson,
    #[serde(default)]
    attachment: Option<String>,
}

async fn act_download(
    state: State<Console>,
    headers: HeaderMap,
    Json(body): Json<ActBody>,
) -> Result<Response, Refused> {
    let asked = OperatorRequest::parse(&body.request)
        .ok()
        .and_then(|r| super::downloads::asked(&r));
    if asked.is_none() {
        return Err(only_downloads());
    }
    act(state, headers, Json(body)).await
}

async fn act(
    State(console): State<Console>,
    headers: HeaderMap,
    Json(body): Json<ActBody>,
) -> Result<Response, Refused> {
    let web = checked_session(&console, &headers, &body.csrf).await?;
    let signed = SignedRequest {
        request: body.request,
        signature: body.assertion.signature.clone(),
        passkey: Some(body.assertion.proof()),
    };
    // The session is bound to its passkey: a request signed by another is refused
    // before the gate, like a CLI request signed with another key than the session's.
    let bound = OperatorRequest::parse(&signed.request)
        .is_ok_and(|r| r.key_sha256 == web.session.identity.key_sha256)
        && body.assertion.credential_id == web.credential_id;
    let outcome = if bound {
        let attachment = body.attachment.map(zeroize::Zeroizing::new);
        console.console.act(&signed, attachment, console.zone).await
    } else {
        Outcome::refused(
            crate::operator_api::SESSION_KEY_MISMATCH,
            "the request is signed by another passkey than this session's",
        )
    };
    web.session.count(&outcome);
    match outcome {
        Outcome::Done { result } => {
            let request = OperatorRequest::parse(&signed.request).ok();
            if request.as_ref().map(|r| r.action) == Some(Action::RegistrationCreate) {
                // The code is shown once, in the page that asked; nothing to go to.
                return Ok(json_answer(json!({"shown": result})));
            }
            if let Some(review) = request
                .as_ref()
                .and_then(|r| super::duties::preview(r, &result))
            {
                // A review without sign-off: its report, for this session to read.
                let token = random_text()?;
                let next = format!("/console/automation/reviews/{token}");
                console.reviews.open(&web, token, review);
                return Ok(json_answer(json!({"next": next})));
            }
            if let Some(download) = request.as_ref().and_then(super::downloads::asked) {
                // The request is in the books: a one-time link makes the download.
                let link = console.downloads.link(&web, download, random_text()?);
                return Ok(json_answer(json!({"next": link})));
            }
            let ended = request.as_ref().is_some_and(|r| {
                r.action == Action::PasskeyRemove
                    && r.param("credential_id") == Some(web.credential_id.as_str())
            });
            if ended {
                // The session's own passkey is gone: so is the session.
                if let Some(cookie) = super::sessions::cookie_of(&headers) {
                    console.sessions.close(cookie).await;
                }
                return Ok(json_answer(json!({"next": "/console/signin"})));
            }
            let next = request.map_or_else(|| "/console/".to_owned(), |r| next_page(&r));
            Ok(json_answer(json!({"next": next})))
        }
        other => Err(from_outcome(other)),
    }
}
