//! The operator console's protocol (DESIGN.md section 8): every operator action arrives
//! as a signed request, passes the gate (`crate::gate`: signature, operator certificate,
//! nonce, role and zone, then the books), and only then is dispatched to the service that
//! owns it. This module holds what every listener shares: the [`Outcome`] of a request,
//! the admission with its attachment check, the parameter readers the actions use, and
//! the local admin socket's [`Request`] and [`Answer`]. The actions on the books
//! themselves are in [`actions`]; the RA's and the CA's sit next to their services.

pub mod actions;
pub mod answers;

use crate::{Admitted, Gate, GateError, SignedRequest};
use serde::{Deserialize, Serialize};
use shuin_core::{Role, Zone};
use shuin_store::{LedgerStore, NonceStore};
use std::time::SystemTime;
use zeroize::Zeroizing;

/// The answer to a signed request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Done; what the action returns.
    Done {
        /// What the action returns.
        result: serde_json::Value,
    },
    /// Refused at the gate or by the action, with a stable code.
    Refused {
        /// The stable code.
        code: String,
        /// For the operator.
        message: String,
    },
    /// Something failed on the server's side; nothing was done, or what was done is in
    /// the books.
    Failed {
        /// For the operator.
        message: String,
    },
}

impl Outcome {
    /// A refusal with a stable code.
    pub fn refused(code: &str, message: impl Into<String>) -> Outcome {
        Outcome::Refused {
            code: code.into(),
            message: message.into(),
        }
    }

    /// A failure on the server's side.
    pub fn failed(e: impl std::fmt::Display) -> Outcome {
        Outcome::Failed {
            message: e.to_string(),
        }
    }

    /// Parameters the action cannot use (`invalid_params`).
    pub fn invalid(message: impl Into<String>) -> Outcome {
        Outcome::refused("invalid_params", message)
    }
}

/// The one line an operator reads: a refusal as `code: message` (the message alone when
/// it already starts with its code), a failure as `the server failed: message`.
impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Refused { code, message } if message.starts_with(code.as_str()) => {
                f.write_str(message)
            }
            Outcome::Refused { code, message } => write!(f, "{code}: {message}"),
            Outcome::Failed { message } => write!(f, "the server failed: {message}"),
            Outcome::Done { .. } => f.write_str("done"),
        }
    }
}

/// What an action returns: its result, or why not.
pub type Acted = Result<serde_json::Value, Outcome>;

/// The gate, or the refusal of an instance made before operator identity.
pub fn gate(gate: Option<&Gate>) -> Result<&Gate, Outcome> {
    gate.ok_or_else(|| {
        Outcome::refused(
            "operator_ca_missing",
            "this instance has no operator CA (it was made before operator identity); make a new instance with `shuin init --first-admin-csr`",
        )
    })
}

/// The code of a request an RA node cannot decide on: its CA's link has not handed
/// over (or lately confirmed) the operators.
pub const ROSTER_UNAVAILABLE: &str = "roster_unavailable";

/// Admits a signed request from `zone` through `gate`. An `attachment` travels beside
/// the request; its SHA-256 must be the signed `attachment_sha256`.
pub async fn admit<S: LedgerStore + NonceStore + ?Sized>(
    gate: &Gate,
    store: &S,
    signed: &SignedRequest,
    attachment: Option<Zeroizing<String>>,
    zone: Zone,
    now: SystemTime,
) -> Result<(Admitted, Option<Zeroizing<String>>), Outcome> {
    let admitted = match gate.admit(store, signed, zone, now).await {
        Ok(admitted) => admitted,
        Err(GateError::Refused(refusal)) => {
            tracing::warn!(
                code = refusal.code(),
                "refused an operator request: {refusal}"
            );
            return Err(Outcome::refused(refusal.code(), refusal.to_string()));
        }
        Err(GateError::Books(crate::BookError::Handed(e))) => {
            tracing::warn!("refused an operator request: {e}");
            return Err(Outcome::refused(ROSTER_UNAVAILABLE, e.to_string()));
        }
        Err(e) => {
            tracing::error!("operator request: {e}");
            return Err(Outcome::Failed {
                message: format!("nothing was done: {e}"),
            });
        }
    };
    tracing::info!(
        operator = %admitted.operator,
        action = %admitted.request.action,
        seq = admitted.entry_seq,
        "operator request admitted"
    );
    let attachment = checked_attachment(&admitted, attachment)?;
    Ok((admitted, attachment))
}

/// The signed parameter that names the attachment by its SHA-256 (hex).
pub const ATTACHMENT_PARAM: &str = "attachment_sha256";

/// SHA-256 (hex) of an attachment, as [`ATTACHMENT_PARAM`] carries it.
pub fn attachment_sha256(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// The operator's side: the request to sign for `action` with `params`, naming the
/// `attachment` (which travels beside it, never in the books) by its SHA-256. The key is
/// named by the SHA-256 of its SubjectPublicKeyInfo.
pub fn request_to_sign(
    action: shuin_core::Action,
    mut params: serde_json::Value,
    attachment: Option<&str>,
    nonce: String,
    now: SystemTime,
    public_key_der: &[u8],
) -> crate::OperatorRequest {
    if let Some(text) = attachment {
        params[ATTACHMENT_PARAM] = serde_json::Value::String(attachment_sha256(text));
    }
    crate::OperatorRequest {
        format: crate::request::REQUEST_FORMAT.into(),
        action,
        params,
        nonce,
        time: shuin_core::timefmt::rfc3339(now),
        key_sha256: crate::request::key_sha256(public_key_der),
    }
}

/// The request as sent: its canonical text and the signature over it.
pub fn signed(text: String, signature: &[u8]) -> SignedRequest {
    use base64::Engine;
    SignedRequest {
        request: text,
        signature: base64::engine::general_purpose::STANDARD.encode(signature),
        passkey: None,
    }
}

/// The operator's side of one action: the request before its nonce and signature.
#[derive(Debug)]
pub struct Unsigned {
    /// What to do.
    pub action: shuin_core::Action,
    /// With what.
    pub params: serde_json::Value,
    /// What travels beside the request (a share, an identity, a CSV), named in it by its
    /// SHA-256.
    pub attachment: Option<Zeroizing<String>>,
}

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SigningError<E: std::error::Error + 'static> {
    /// The request has no canonical text.
    #[error("the request: {0}")]
    Canonical(#[from] crate::request::MalformedRequest),
    /// The operator's key did not sign.
    #[error("signing the request with the operator key: {0}")]
    Key(#[source] E),
}

impl Unsigned {
    /// The request for `nonce` at `now`, signed by `sign` over its canonical text with the
    /// key whose SubjectPublicKeyInfo is `public_key_der`, and its attachment.
    ///
    /// # Errors
    ///
    /// [`SigningError`].
    pub fn sign<E: std::error::Error + 'static>(
        self,
        nonce: String,
        now: SystemTime,
        public_key_der: &[u8],
        sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<Request, SigningError<E>> {
        let attachment = self.attachment.as_ref().map(|text| text.as_str());
        let request = request_to_sign(
            self.action,
            self.params,
            attachment,
            nonce,
            now,
            public_key_der,
        );
        let text = request.canonical_text()?;
        let signature = sign(text.as_bytes()).map_err(SigningError::Key)?;
        Ok(Request::Signed {
            signed: signed(text, &signature),
            attachment: self.attachment.map(|s| s.as_str().to_owned()),
        })
    }
}

/// The attachment, if the signed parameters name it by its SHA-256; refused when it is
/// missing, different, or not announced.
fn checked_attachment(
    admitted: &Admitted,
    attachment: Option<Zeroizing<String>>,
) -> Result<Option<Zeroizing<String>>, Outcome> {
    match (admitted.request.param(ATTACHMENT_PARAM), attachment) {
        (None, None) => Ok(None),
        (Some(expected), Some(text)) => {
            if attachment_sha256(&text) == expected {
                Ok(Some(text))
            } else {
                Err(Outcome::refused(
                    "attachment_mismatch",
                    "the attachment is not the one whose SHA-256 was signed",
                ))
            }
        }
        (Some(_), None) => Err(Outcome::refused(
            "attachment_missing",
            "the signed request names an attachment that was not sent",
        )),
        (None, Some(_)) => Err(Outcome::refused(
            "attachment_unexpected",
            "an attachment was sent that the signed request does not name",
        )),
    }
}

/// The attachment an action needs (`what` it carries), or `attachment_missing`.
pub fn required_attachment(
    attachment: Option<Zeroizing<String>>,
    what: &str,
) -> Result<Zeroizing<String>, Outcome> {
    attachment.ok_or_else(|| {
        Outcome::refused(
            "attachment_missing",
            format!("this request carries {what} as its attachment"),
        )
    })
}

/// The text parameter `name`, which the action needs.
pub fn text<'a>(admitted: &'a Admitted, name: &str) -> Result<&'a str, Outcome> {
    admitted.request.param(name).ok_or_else(|| {
        Outcome::invalid(format!(
            "{} needs the parameter {name:?}",
            admitted.request.action
        ))
    })
}

/// What an operator's `revoke` names: the serial, the RFC 5280 reason, and when the key
/// was compromised if known.
#[derive(Debug, Clone)]
pub struct RevokeParams {
    /// The certificate.
    pub serial: shuin_core::Serial,
    /// Why.
    pub reason: shuin_core::revocation::RevocationReason,
    /// `invalidity_date`, if given.
    pub invalidity_date: Option<SystemTime>,
}

impl RevokeParams {
    /// The parameters of an admitted `revoke`, or `invalid_params`.
    pub fn of(admitted: &Admitted) -> Result<RevokeParams, Outcome> {
        use shuin_core::revocation::RevocationReason;
        let serial_text = text(admitted, "serial")?;
        let serial = shuin_core::Serial::from_hex(serial_text)
            .ok_or_else(|| Outcome::invalid(format!("serial {serial_text:?} is not hex")))?;
        let reason_text = text(admitted, "reason")?;
        let reason = RevocationReason::parse(reason_text).ok_or_else(|| {
            Outcome::invalid(format!(
                "reason {reason_text:?} is not an RFC 5280 reason name"
            ))
        })?;
        let invalidity_date = match admitted.request.param("invalidity_date") {
            None => None,
            Some(t) => Some(
                shuin_core::timefmt::parse_rfc3339(t)
                    .ok_or_else(|| Outcome::invalid("invalidity_date must be RFC 3339"))?,
            ),
        };
        Ok(RevokeParams {
            serial,
            reason,
            invalidity_date,
        })
    }
}

/// The boolean parameter `name`; false when absent.
pub fn flag(admitted: &Admitted, name: &str) -> bool {
    admitted
        .request
        .params
        .get(name)
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
}

/// The parameter `role`.
pub fn role(admitted: &Admitted) -> Result<Role, Outcome> {
    let name = text(admitted, "role")?;
    Role::parse(name).ok_or_else(|| {
        let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        Outcome::invalid(format!("role must be one of {}", names.join(", ")))
    })
}

/// A request to the local admin socket: one JSON document per connection.
#[derive(Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// The seal state (no identity needed).
    Status,
    /// A nonce for the next signed request.
    Nonce,
    /// A signed operator request, and the attachment whose SHA-256 its parameters
    /// carry (`attachment_sha256`: a share, an identity, a CSV), if any.
    Signed {
        /// The request as the operator signed it.
        signed: SignedRequest,
        /// What travels beside it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attachment: Option<String>,
    },
}

/// The admin socket's answer: one JSON line. `S` is the seal state the server reports.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer<S> {
    /// The seal state.
    Status(S),
    /// A nonce for the next signed request.
    Nonce {
        /// The nonce.
        nonce: String,
    },
    /// What became of a signed request.
    Signed {
        /// The outcome.
        outcome: Outcome,
    },
    /// The request was not understood.
    Error {
        /// For the client.
        message: String,
    },
}

/// A nonce for the next signed request.
pub async fn nonce<S: NonceStore + ?Sized>(
    gate: &Gate,
    store: &S,
    rng: &dyn shuin_core::RandomSource,
    now: SystemTime,
) -> Result<String, Outcome> {
    gate.nonce(store, rng, now).await.map_err(Outcome::failed)
}

/// The roster, for the actions that read it.
pub async fn roster<S: LedgerStore + ?Sized>(
    gate: &Gate,
    store: &S,
) -> Result<crate::Roster, Outcome> {
    gate.roster(store).await.map_err(Outcome::failed)
}

#[cfg(test)]
mod outcome_tests {
    use super::Outcome;

    #[test]
    fn an_outcome_reads_as_one_line() {
        assert_eq!(
            Outcome::refused("seal_sealed", "seal_sealed: the instance is sealed").to_string(),
            "seal_sealed: the instance is sealed"
        );
        assert_eq!(
            Outcome::refused("invalid_params", "no name").to_string(),
            "invalid_params: no name"
        );
        assert_eq!(
            Outcome::failed("disk full").to_string(),
            "the server failed: disk full"
        );
        let done = Outcome::Done {
            result: serde_json::json!({}),
        };
        assert_eq!(done.to_string(), "done");
    }

    #[test]
    fn an_unsigned_request_is_signed_over_its_canonical_text_with_its_attachment_named() {
        use super::{Request, Unsigned};
        let unsigned = Unsigned {
            action: shuin_core::Action::Unseal,
            params: serde_json::json!({}),
            attachment: Some(zeroize::Zeroizing::new("share".to_owned())),
        };
        let mut seen = Vec::new();
        let request = unsigned
            .sign("n1".into(), std::time::UNIX_EPOCH, b"key", |text| {
                seen = text.to_vec();
                Ok::<_, std::io::Error>(vec![1, 2, 3])
            })
            .map_err(|e| e.to_string());
        let Ok(Request::Signed { signed, attachment }) = request else {
            panic!("not signed");
        };
        assert_eq!(signed.request.as_bytes(), seen.as_slice());
        assert_eq!(signed.signature, "AQID");
        assert_eq!(attachment.as_deref(), Some("share"));
        let sha = super::attachment_sha256("share");
        assert!(signed.request.contains(&sha), "{}", signed.request);
        assert!(signed.request.contains("\"nonce\":\"n1\""));
        let refused = Unsigned {
            action: shuin_core::Action::Unseal,
            params: serde_json::json!({}),
            attachment: None,
        }
        .sign("n2".into(), std::time::UNIX_EPOCH, b"key", |_| {
            Err(std::io::Error::other("token removed"))
        });
        assert!(matches!(refused, Err(super::SigningError::Key(_))));
    }
}
