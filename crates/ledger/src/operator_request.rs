//! Signed operator requests (DESIGN.md section 8).
//!
//! The operator signs the RFC 8785 canonical JSON of an [`OperatorRequest`]:
//!
//! ```json
//! {"action":"revoke","format":"shuin-operator-request/1",
//!  "key_sha256":"<hex SHA-256 of the operator's SubjectPublicKeyInfo DER>",
//!  "nonce":"<from the server>","params":{"reason":"keyCompromise","serial":"0A1B"},
//!  "time":"2026-12-06T01:02:03Z"}
//! ```
//!
//! and sends a [`SignedRequest`]: that exact text and the signature over its UTF-8
//! bytes (RSASSA-PKCS1-v1_5 with SHA-256 for RSA keys, ECDSA with SHA-256 on P-256 and
//! with SHA-384 on P-384, DER-encoded). The text and the signature go into the books
//! as they were sent, so anyone can re-check them offline against the operator's
//! certificate, which the organisation book holds ([`verify_signature`]).
//!
//! Parameters never carry secrets or personal data: what would (an unseal share, the
//! identity of a registration, a CSV of entry/exit records) travels beside the signed
//! body as an *attachment*, and the parameters carry its SHA-256 (`attachment_sha256`).

use crate::Book;
use serde::{Deserialize, Serialize};
use shuin_core::signature::{
    ECDSA_WITH_SHA256, ECDSA_WITH_SHA384, EC_PUBLIC_KEY, RSA_ENCRYPTION, SECP256R1, SECP384R1,
};
use shuin_core::Action;

/// The `format` of a request.
pub const REQUEST_FORMAT: &str = "shuin-operator-request/1";
/// The largest signed request accepted, in bytes.
pub const MAX_REQUEST_TEXT: usize = 32 * 1024;

/// What the operator signs. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorRequest {
    /// Always [`REQUEST_FORMAT`].
    pub format: String,
    /// What to do.
    pub action: Action,
    /// The action's parameters (an object).
    pub params: serde_json::Value,
    /// A single-use nonce from the server.
    pub nonce: String,
    /// When it was signed: RFC 3339 UTC, whole seconds.
    pub time: String,
    /// SHA-256 (hex) of the signing key's SubjectPublicKeyInfo DER.
    pub key_sha256: String,
}

/// A request as sent: the signed text and its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRequest {
    /// The canonical JSON text of an [`OperatorRequest`], exactly as signed.
    pub request: String,
    /// The signature over the UTF-8 bytes of `request`, standard base64. For a request
    /// signed by a passkey, the authenticator's signature (see [`PasskeyProof`]).
    pub signature: String,
    /// Present when a passkey signed the request in the web console: the rest of the
    /// authenticator's assertion (`crate::passkey::verify_request` checks it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passkey: Option<PasskeyProof>,
}

/// What a passkey's assertion over a request carries besides its signature: the
/// authenticator signed `authenticatorData || SHA-256(clientDataJSON)`, and the
/// clientDataJSON's challenge is `SHA-256(request || nonce)`
/// (`crate::passkey::action_challenge`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeyProof {
    /// The credential ID, base64url without padding.
    pub credential_id: String,
    /// authenticatorData, standard base64.
    pub authenticator_data: String,
    /// clientDataJSON exactly as the browser produced it, standard base64.
    pub client_data_json: String,
}

/// Why a request is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MalformedRequest(pub String);

impl OperatorRequest {
    /// The canonical JSON text to sign.
    pub fn canonical_text(&self) -> Result<String, MalformedRequest> {
        let value = serde_json::to_value(self).map_err(|e| MalformedRequest(e.to_string()))?;
        let bytes = crate::canonical::to_canonical_bytes(&value)
            .map_err(|e| MalformedRequest(e.to_string()))?;
        String::from_utf8(bytes).map_err(|e| MalformedRequest(e.to_string()))
    }

    /// Parses a signed text, accepting only the canonical form of a request of this
    /// format whose params are an object.
    pub fn parse(text: &str) -> Result<OperatorRequest, MalformedRequest> {
        if text.len() > MAX_REQUEST_TEXT {
            return Err(MalformedRequest(format!(
                "the request is over {MAX_REQUEST_TEXT} bytes"
            )));
        }
        let request: OperatorRequest = serde_json::from_str(text)
            .map_err(|e| MalformedRequest(format!("not a signed operator request: {e}")))?;
        if request.format != REQUEST_FORMAT {
            return Err(MalformedRequest(format!(
                "format {:?} is not {REQUEST_FORMAT}",
                request.format
            )));
        }
        if !request.params.is_object() {
            return Err(MalformedRequest("params must be an object".into()));
        }
        if request.canonical_text()? != text {
            return Err(MalformedRequest(
                "the request is not in RFC 8785 canonical form".into(),
            ));
        }
        Ok(request)
    }

    /// A string parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).and_then(serde_json::Value::as_str)
    }
}

/// The signature algorithm an operator key of this SubjectPublicKeyInfo signs with.
pub fn signature_oid(spki_der: &[u8]) -> Option<const_oid::ObjectIdentifier> {
    use der::Decode;
    let spki = spki::SubjectPublicKeyInfoRef::from_der(spki_der).ok()?;
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok());
    match (spki.algorithm.oid, curve) {
        (RSA_ENCRYPTION, _) => Some(shuin_core::signature::SHA256_WITH_RSA),
        (EC_PUBLIC_KEY, Some(SECP256R1)) => Some(ECDSA_WITH_SHA256),
        (EC_PUBLIC_KEY, Some(SECP384R1)) => Some(ECDSA_WITH_SHA384),
        _ => None,
    }
}

/// Checks `signed.signature` over `signed.request` with the key in `spki_der`. A request
/// a passkey signed is never valid here: `crate::passkey::verify_request` checks those.
pub fn verify_signature(spki_der: &[u8], signed: &SignedRequest) -> bool {
    use base64::Engine;
    if signed.passkey.is_some() {
        return false;
    }
    let Some(oid) = signature_oid(spki_der) else {
        return false;
    };
    let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(&signed.signature) else {
        return false;
    };
    shuin_core::signature::verify(spki_der, oid, signed.request.as_bytes(), &signature).is_ok()
}

/// SHA-256 (hex) of a SubjectPublicKeyInfo DER: how a request names its key.
pub fn key_sha256(spki_der: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(spki_der))
}

/// The book a signed request of `action` goes into.
pub fn book_of(action: Action) -> Book {
    match action {
        Action::Revoke | Action::CrlNow | Action::RootCrl => Book::Revocation,
        Action::ReviewList
        | Action::ReviewShow
        | Action::ReviewApprove
        | Action::ReviewReject
        | Action::RegistrationCreate
        | Action::AutomationSuspend
        | Action::AutomationResume
        | Action::AutomationReview => Book::Application,
        Action::Unseal
        | Action::Ceremony
        | Action::CeremonyCustodian
        | Action::FacilityImport
        | Action::FacilityToken
        | Action::RetentionPurge
        | Action::LedgerRead
        | Action::AuditPack => Book::Facility,
        Action::OperatorAdd
        | Action::OperatorGrant
        | Action::OperatorRemoveRole
        | Action::OperatorRevoke
        | Action::NodePair
        | Action::PasskeyInvite
        | Action::PasskeyRemove
        | Action::Status => Book::Organization,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> OperatorRequest {
        OperatorRequest {
            format: REQUEST_FORMAT.into(),
            action: Action::Revoke,
            params: serde_json::json!({"serial": "0A", "reason": "keyCompromise"}),
            nonce: "n".into(),
            time: "2026-12-06T01:02:03Z".into(),
            key_sha256: "00".into(),
        }
    }

    #[test]
    fn canonical_text_round_trips() {
        let text = sample().canonical_text().unwrap_or_default();
        assert!(
            text.starts_with("{\"action\":\"revoke\",\"format\""),
            "{text}"
        );
        assert_eq!(OperatorRequest::parse(&text), Ok(sample()));
    }

    #[test]
    fn non_canonical_and_foreign_texts_are_refused() {
        let text = sample().canonical_text().unwrap_or_default();
        let spaced = text.replacen(':', ": ", 1);
        assert!(OperatorRequest::parse(&spaced).is_err());
        let unknown = text.replacen('{', "{\"extra\":1,", 1);
        assert!(OperatorRequest::parse(&unknown).is_err());
        let mut other = sample();
        other.format = "shuin-operator-request/9".into();
        let other = other.canonical_text().unwrap_or_default();
        assert!(OperatorRequest::parse(&other).is_err());
        let mut listy = sample();
        listy.params = serde_json::json!([1]);
        let listy = listy.canonical_text().unwrap_or_default();
        assert!(OperatorRequest::parse(&listy).is_err());
        assert!(OperatorRequest::parse(&"x".repeat(MAX_REQUEST_TEXT + 1)).is_err());
    }
}
