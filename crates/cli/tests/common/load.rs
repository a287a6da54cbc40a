//! Load that tolerates a dead server: applications and holders' revocations over HTTP
//! that answer a transport error instead of panicking (the crash tests kill the server
//! while they run).

use super::{ADDRESS, BIRTH, NAME};
use base64::Engine;
use serde_json::Value;
use shuin_keys::{KeySpec, SoftwareSigner};
use std::time::Duration;

/// A status and answer, or the transport error.
pub type Attempt = Result<(u16, Value), String>;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// POSTs `body`; a JSON answer is parsed, any other kept as a string.
pub fn try_post(url: &str, content_type: &str, body: &[u8]) -> Attempt {
    let mut answer = agent()
        .post(url)
        .header("Content-Type", content_type)
        .send(body)
        .map_err(|e| e.to_string())?;
    let status = answer.status().as_u16();
    let text = answer.body_mut().read_to_string().unwrap_or_default();
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

/// A fresh challenge at `front`, or the refusal.
fn challenge(front: &str) -> Result<Result<Value, (u16, Value)>, String> {
    let (status, challenge) = try_post(
        &format!("{front}/api/v1/challenges"),
        "application/json",
        b"",
    )?;
    Ok(if status == 201 {
        Ok(challenge)
    } else {
        Err((status, challenge))
    })
}

/// An application signed by `card` for a new key, at `front`.
pub fn try_apply_at(front: &str, card: &shuin_testkit::TestCard) -> Attempt {
    try_apply_as(front, card, NAME)
}

/// The same, with `name` typed as the applicant's name.
pub fn try_apply_as(front: &str, card: &shuin_testkit::TestCard, name: &str) -> Attempt {
    match signed_application_as(front, card, name)? {
        Ok(cms) => submit_application(front, &cms),
        Err(refused) => Ok(refused),
    }
}

/// Sends a signed application to `front`.
pub fn submit_application(front: &str, cms: &[u8]) -> Attempt {
    try_post(
        &format!("{front}/api/v1/applications"),
        "application/pkcs7-mime",
        cms,
    )
}

/// An application signed by `card` for a new key, on a fresh challenge from `front`
/// (not sent), or the challenge's refusal.
pub fn signed_application(
    front: &str,
    card: &shuin_testkit::TestCard,
) -> Result<Result<Vec<u8>, (u16, Value)>, String> {
    signed_application_as(front, card, NAME)
}

fn signed_application_as(
    front: &str,
    card: &shuin_testkit::TestCard,
    name: &str,
) -> Result<Result<Vec<u8>, (u16, Value)>, String> {
    let challenge = match challenge(front)? {
        Ok(challenge) => challenge,
        Err(refused) => return Ok(Err(refused)),
    };
    let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let csr = shuin_client::build_csr(&key).unwrap();
    let document = serde_json::json!({
        "format": "shuin-application/1",
        "kind": "new",
        "nonce": challenge["nonce"],
        "terms_sha256": challenge["terms_sha256"],
        "applicant": {"name": name, "birth_date": BIRTH, "address": ADDRESS, "gender": "1"},
        "csr": base64::engine::general_purpose::STANDARD.encode(csr),
    });
    Ok(Ok(card
        .sign_application(document.to_string().as_bytes())
        .unwrap()))
}

/// The holder's revocation of `serial` (hex), signed by `card`, at `front`.
pub fn try_revoke_at(front: &str, card: &shuin_testkit::TestCard, serial: &str) -> Attempt {
    let challenge = match challenge(front)? {
        Ok(challenge) => challenge,
        Err(refused) => return Ok(refused),
    };
    let body = serde_json::json!({"format": "shuin-revocation/1", "serial": serial,
        "reason": "keyCompromise", "nonce": challenge["nonce"]});
    let cms = card.sign_application(body.to_string().as_bytes()).unwrap();
    try_post(
        &format!("{front}/api/v1/revocations"),
        "application/pkcs7-mime",
        &cms,
    )
}
