//! Passkeys bound to operators (DESIGN.md sections 8 and 12). An operator asks, by a
//! request signed with their operator key, for an invitation (`operator.passkey_invited`:
//! the SHA-256 of a one-time token, the certificate that signed, an expiry). In the web
//! console the browser creates the passkey, and the passkey then signs the
//! [`Registration`] text that names it, the operator, the console and the token's
//! hash; `operator.passkey_registered` keeps that text, the assertion and the token
//! (spent by then), so that anyone can check offline that the passkey was in the hands
//! of whoever held the invitation, and that the invitation was the operator's.

use crate::operator_request::{key_sha256, MalformedRequest, PasskeyProof};
use crate::passkey::{PasskeyError, Relying};
use serde::{Deserialize, Serialize};

/// The `format` of a registration text.
pub const REGISTRATION_FORMAT: &str = "shuin-passkey-registration/1";
/// The entry of an invitation.
pub const INVITED: &str = "operator.passkey_invited";
/// The entry of a registered passkey.
pub const REGISTERED: &str = "operator.passkey_registered";
/// The entry of a passkey removed (lost, replaced): it signs nothing after it.
pub const REMOVED: &str = "operator.passkey_removed";
/// The largest registration text accepted, in bytes.
const MAX_TEXT: usize = 8 * 1024;

/// What the new passkey signs to be registered (RFC 8785 canonical JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// Always [`REGISTRATION_FORMAT`].
    pub format: String,
    /// The operator, as the organisation book names them.
    pub name: String,
    /// The credential ID, base64url without padding.
    pub credential_id: String,
    /// The passkey's SubjectPublicKeyInfo DER, standard base64.
    pub public_key: String,
    /// The relying party ID (the console's host name).
    pub rp_id: String,
    /// The console's origin.
    pub origin: String,
    /// SHA-256 (hex) of the invitation's token.
    pub token_sha256: String,
    /// A fresh nonce from the console.
    pub nonce: String,
    /// When: RFC 3339 UTC, whole seconds.
    pub time: String,
}

impl Registration {
    /// The canonical JSON text to sign.
    pub fn canonical_text(&self) -> Result<String, MalformedRequest> {
        let value = serde_json::to_value(self).map_err(|e| MalformedRequest(e.to_string()))?;
        let bytes = crate::canonical::to_canonical_bytes(&value)
            .map_err(|e| MalformedRequest(e.to_string()))?;
        String::from_utf8(bytes).map_err(|e| MalformedRequest(e.to_string()))
    }

    /// Parses a signed text, accepting only the canonical form of this format.
    pub fn parse(text: &str) -> Result<Registration, MalformedRequest> {
        if text.len() > MAX_TEXT {
            return Err(MalformedRequest(format!(
                "the registration is over {MAX_TEXT} bytes"
            )));
        }
        let registration: Registration = serde_json::from_str(text)
            .map_err(|e| MalformedRequest(format!("not a passkey registration: {e}")))?;
        if registration.format != REGISTRATION_FORMAT {
            return Err(MalformedRequest(format!(
                "format {:?} is not {REGISTRATION_FORMAT}",
                registration.format
            )));
        }
        if registration.canonical_text()? != text {
            return Err(MalformedRequest(
                "the registration is not in RFC 8785 canonical form".into(),
            ));
        }
        Ok(registration)
    }

    /// The passkey's SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> Result<Vec<u8>, PasskeyError> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(&self.public_key)
            .map_err(|_| PasskeyError::EncodingInvalid)
    }

    /// Where the passkey was registered.
    pub fn relying(&self) -> Relying<'_> {
        Relying {
            rp_id: &self.rp_id,
            origin: &self.origin,
        }
    }
}

/// What `operator.passkey_invited` carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invited {
    /// The operator invited (the one who signed the request).
    pub name: String,
    /// SHA-256 (hex) of the one-time token.
    pub token_sha256: String,
    /// Until when it may be used (RFC 3339).
    pub expires_at: String,
    /// The operator certificate that signed the request: the passkey lives as long as it.
    pub certificate_sha256: String,
}

/// What `operator.passkey_registered` carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registered {
    /// The [`Registration`] text, exactly as signed.
    pub registration: String,
    /// The invitation's token, spent by this entry.
    pub token: String,
    /// The new passkey's assertion over the text.
    pub passkey: PasskeyProof,
    /// Its signature, standard base64.
    pub signature: String,
}

/// What `operator.passkey_removed` carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Removed {
    /// The operator whose passkey it was.
    pub name: String,
    /// Its credential ID (base64url).
    pub credential_id: String,
    /// SHA-256 (hex) of its public key.
    pub key_sha256: String,
}

/// A registered passkey, as [`check_registered`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyKey {
    /// The operator.
    pub name: String,
    /// The credential ID (base64url).
    pub credential_id: String,
    /// Its SubjectPublicKeyInfo DER.
    pub spki_der: Vec<u8>,
    /// SHA-256 (hex) of that DER: how a request names it.
    pub key_sha256: String,
    /// The relying party ID.
    pub rp_id: String,
    /// The console's origin.
    pub origin: String,
    /// SHA-256 (hex) of the invitation's token.
    pub token_sha256: String,
}

/// Checks an `operator.passkey_registered` payload by itself: the text is a canonical
/// registration, the token is the one whose hash it names, and the passkey it names
/// signed it. Whether the invitation was open is the caller's (it keeps the book).
pub fn check_registered(payload: &serde_json::Value) -> Result<PasskeyKey, String> {
    use sha2::Digest;
    let p: Registered = serde_json::from_value(payload.clone())
        .map_err(|e| format!("{REGISTERED} payload: {e}"))?;
    let registration = Registration::parse(&p.registration).map_err(|e| e.0)?;
    if hex::encode(sha2::Sha256::digest(p.token.as_bytes())) != registration.token_sha256 {
        return Err("the token is not the one the registration names".into());
    }
    if p.passkey.credential_id != registration.credential_id {
        return Err("the assertion was made by another credential".into());
    }
    let spki_der = registration.spki_der().map_err(|e| e.code().to_owned())?;
    crate::passkey::verify_over(
        &spki_der,
        &p.registration,
        &registration.nonce,
        &p.passkey,
        &p.signature,
        registration.relying(),
    )
    .map_err(|e| format!("the passkey did not sign its registration: {}", e.code()))?;
    Ok(PasskeyKey {
        name: registration.name,
        credential_id: registration.credential_id,
        key_sha256: key_sha256(&spki_der),
        spki_der,
        rp_id: registration.rp_id,
        origin: registration.origin,
        token_sha256: registration.token_sha256,
    })
}
