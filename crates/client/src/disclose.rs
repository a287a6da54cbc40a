//! A holder's disclosure request (名義人への情報開示): a CMS SignedData over
//! `shuin-disclosure/1`, signed with the JPKI signing key, sent to
//! `POST /api/v1/disclosures`; the answer is the records kept about the holder.

use crate::apply::{agent, challenge, post_signed, sign_with_card, CardSigner};
use crate::ClientError;
use serde_json::Value;

fn transport(e: impl std::fmt::Display) -> ClientError {
    ClientError::Transport(e.to_string())
}

/// Asks `server` for the records kept about the card's holder (only application
/// `application_id`, if given) and returns the server's JSON answer.
pub fn disclose(
    server: &str,
    card: &dyn CardSigner,
    application_id: Option<&str>,
) -> Result<Value, ClientError> {
    let agent = agent();
    let base = server.trim_end_matches('/');
    let challenge = challenge(&agent, base)?;
    let nonce = challenge["nonce"]
        .as_str()
        .ok_or_else(|| transport("challenge without nonce"))?;
    let mut document = serde_json::json!({"format": "shuin-disclosure/1", "nonce": nonce});
    if let Some(id) = application_id {
        document["application_id"] = Value::String(id.to_owned());
    }
    let cms = sign_with_card(card, &document)?;
    let url = format!("{base}/api/v1/disclosures");
    post_signed(&agent, &url, &cms)
}
