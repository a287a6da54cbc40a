//! Passkey (WebAuthn) assertions over operator actions (DESIGN.md sections 8 and 12): the
//! one check, the same online (the console, before an action takes effect) and offline
//! (`ledger verify --export`, from the assertion the books keep), that an action was
//! signed by an operator's registered passkey.
//!
//! The challenge the authenticator signs is `SHA-256(canonical action || server nonce)`
//! ([`action_challenge`]), so an assertion made for one action never passes for another.
//! The signature is the authenticator's over `authenticatorData || SHA-256(clientDataJSON)`
//! (WebAuthn Level 2, section 7.2), with ES256 (P-256) or RS256 keys, given as the
//! SubjectPublicKeyInfo DER the browser reports at registration
//! (`AuthenticatorAttestationResponse.getPublicKey()`).

use base64::Engine;
use sha2::{Digest, Sha256};

/// What the books keep of an assertion (each member as sent by the browser).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    /// `authenticatorData`.
    pub authenticator_data: Vec<u8>,
    /// `clientDataJSON`, exactly as the browser produced it.
    pub client_data_json: Vec<u8>,
    /// The signature (DER ECDSA or PKCS#1 v1.5).
    pub signature: Vec<u8>,
}

/// What an assertion must show.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The relying party ID (the console's host name).
    pub rp_id: &'a str,
    /// The console's origin (`https://console.example.jp:8443`).
    pub origin: &'a str,
    /// The challenge the server gave ([`action_challenge`] for an action).
    pub challenge: &'a [u8],
}

/// What a valid assertion tells besides its validity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The authenticator's signature counter (0 where it keeps none).
    pub sign_count: u32,
}

/// Why an assertion is refused; each has a stable reason code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasskeyError {
    /// clientDataJSON is not the JSON WebAuthn defines.
    #[error("clientDataJSON is malformed")]
    ClientDataMalformed,
    /// It is not an assertion (`type` is not `webauthn.get`).
    #[error("clientDataJSON is not of an assertion")]
    NotAnAssertion,
    /// It was made for another challenge: another action, or another nonce.
    #[error("the assertion was made for another challenge")]
    ChallengeMismatch,
    /// It was made on another origin, or inside a cross-origin frame.
    #[error("the assertion was made on another origin")]
    OriginMismatch,
    /// authenticatorData is too short to hold its fixed part.
    #[error("authenticatorData is truncated")]
    AuthenticatorDataTruncated,
    /// It was made for another relying party.
    #[error("the assertion was made for another relying party")]
    RpIdMismatch,
    /// The authenticator did not see the user (flag UP).
    #[error("the user was not present")]
    UserNotPresent,
    /// The authenticator did not verify the user (flag UV: PIN or biometrics).
    #[error("the user was not verified")]
    UserNotVerified,
    /// The registered key is neither ES256 (P-256) nor RS256.
    #[error("the passkey's key type is not supported")]
    UnsupportedKey,
    /// The signature does not verify with the registered key.
    #[error("the assertion's signature is invalid")]
    SignatureInvalid,
    /// A member of the assertion is not in the encoding its field requires.
    #[error("the assertion is not encoded as it must be")]
    EncodingInvalid,
    /// The request carries no passkey assertion.
    #[error("the request carries no passkey assertion")]
    ProofMissing,
    /// The signed text is not a canonical request or registration.
    #[error("the signed text is malformed")]
    TextMalformed,
}

impl PasskeyError {
    /// The stable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            PasskeyError::ClientDataMalformed => "passkey_client_data_malformed",
            PasskeyError::NotAnAssertion => "passkey_not_an_assertion",
            PasskeyError::ChallengeMismatch => "passkey_challenge_mismatch",
            PasskeyError::OriginMismatch => "passkey_origin_mismatch",
            PasskeyError::AuthenticatorDataTruncated => "passkey_authenticator_data_truncated",
            PasskeyError::RpIdMismatch => "passkey_rp_id_mismatch",
            PasskeyError::UserNotPresent => "passkey_user_not_present",
            PasskeyError::UserNotVerified => "passkey_user_not_verified",
            PasskeyError::UnsupportedKey => "passkey_unsupported_key",
            PasskeyError::SignatureInvalid => "passkey_signature_invalid",
            PasskeyError::EncodingInvalid => "passkey_encoding_invalid",
            PasskeyError::ProofMissing => "passkey_proof_missing",
            PasskeyError::TextMalformed => "passkey_text_malformed",
        }
    }
}

/// The challenge for an action: `SHA-256(canonical || nonce)`, where `canonical` is the
/// action's canonical body (the same bytes a CLI operator request signs) and `nonce` the
/// server's fresh nonce for it.
pub fn action_challenge(canonical: &[u8], nonce: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(canonical);
    hash.update(nonce);
    hash.finalize().into()
}

/// Flag bits of authenticatorData (WebAuthn section 6.1).
const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
/// rpIdHash (32) + flags (1) + signCount (4).
const FIXED_PART: usize = 37;

/// Checks `assertion` against the registered key `spki_der` and what it must show: the
/// client data (type, challenge, origin), the relying party, user presence and
/// verification, then the signature.
pub fn verify_assertion(
    spki_der: &[u8],
    assertion: &Assertion,
    expected: &Expected<'_>,
) -> Result<Verified, PasskeyError> {
    check_client_data(&assertion.client_data_json, expected)?;
    let data = &assertion.authenticator_data;
    let fixed = data
        .get(..FIXED_PART)
        .ok_or(PasskeyError::AuthenticatorDataTruncated)?;
    if fixed[..32] != Sha256::digest(expected.rp_id.as_bytes())[..] {
        return Err(PasskeyError::RpIdMismatch);
    }
    let flags = fixed[32];
    if flags & USER_PRESENT == 0 {
        return Err(PasskeyError::UserNotPresent);
    }
    if flags & USER_VERIFIED == 0 {
        return Err(PasskeyError::UserNotVerified);
    }
    let oid =
        crate::operator_request::signature_oid(spki_der).ok_or(PasskeyError::UnsupportedKey)?;
    if oid == shuin_core::signature::ECDSA_WITH_SHA384 {
        return Err(PasskeyError::UnsupportedKey);
    }
    let mut signed = data.clone();
    signed.extend_from_slice(&Sha256::digest(&assertion.client_data_json));
    shuin_core::signature::verify(spki_der, oid, &signed, &assertion.signature)
        .map_err(|_| PasskeyError::SignatureInvalid)?;
    let count = [fixed[33], fixed[34], fixed[35], fixed[36]];
    Ok(Verified {
        sign_count: u32::from_be_bytes(count),
    })
}

/// Where a passkey was registered: what every assertion it makes must show.
#[derive(Debug, Clone, Copy)]
pub struct Relying<'a> {
    /// The relying party ID.
    pub rp_id: &'a str,
    /// The console's origin.
    pub origin: &'a str,
}

impl Assertion {
    /// The assertion of `proof` with its `signature` (standard base64).
    pub fn decode(
        proof: &crate::operator_request::PasskeyProof,
        signature: &str,
    ) -> Result<Assertion, PasskeyError> {
        let std = base64::engine::general_purpose::STANDARD;
        let decode = |text: &str| std.decode(text).map_err(|_| PasskeyError::EncodingInvalid);
        Ok(Assertion {
            authenticator_data: decode(&proof.authenticator_data)?,
            client_data_json: decode(&proof.client_data_json)?,
            signature: decode(signature)?,
        })
    }
}

/// Checks that the passkey with key `spki_der`, registered at `relying`, signed `text`
/// with `nonce`: the assertion `proof` and `signature` over
/// [`action_challenge`]`(text, nonce)`.
pub fn verify_over(
    spki_der: &[u8],
    text: &str,
    nonce: &str,
    proof: &crate::operator_request::PasskeyProof,
    signature: &str,
    relying: Relying<'_>,
) -> Result<Verified, PasskeyError> {
    let assertion = Assertion::decode(proof, signature)?;
    let challenge = action_challenge(text.as_bytes(), nonce.as_bytes());
    let expected = Expected {
        rp_id: relying.rp_id,
        origin: relying.origin,
        challenge: &challenge,
    };
    verify_assertion(spki_der, &assertion, &expected)
}

/// Checks a signed operator request that a passkey signed (the console's actions): the
/// request parses, its key is `spki_der`'s, and the assertion is over its text and nonce.
pub fn verify_request(
    spki_der: &[u8],
    signed: &crate::operator_request::SignedRequest,
    relying: Relying<'_>,
) -> Result<crate::operator_request::OperatorRequest, PasskeyError> {
    use crate::operator_request::{key_sha256, OperatorRequest};
    let proof = signed.passkey.as_ref().ok_or(PasskeyError::ProofMissing)?;
    let request =
        OperatorRequest::parse(&signed.request).map_err(|_| PasskeyError::TextMalformed)?;
    if request.key_sha256 != key_sha256(spki_der) {
        return Err(PasskeyError::SignatureInvalid);
    }
    verify_over(
        spki_der,
        &signed.request,
        &request.nonce,
        proof,
        &signed.signature,
        relying,
    )?;
    Ok(request)
}

fn check_client_data(json: &[u8], expected: &Expected<'_>) -> Result<(), PasskeyError> {
    let data: serde_json::Value =
        serde_json::from_slice(json).map_err(|_| PasskeyError::ClientDataMalformed)?;
    let text = |key: &str| data.get(key).and_then(serde_json::Value::as_str);
    let kind = text("type").ok_or(PasskeyError::ClientDataMalformed)?;
    if kind != "webauthn.get" {
        return Err(PasskeyError::NotAnAssertion);
    }
    let challenge = text("challenge").ok_or(PasskeyError::ClientDataMalformed)?;
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(challenge)
        .map_err(|_| PasskeyError::ClientDataMalformed)?;
    if challenge != expected.challenge {
        return Err(PasskeyError::ChallengeMismatch);
    }
    let cross_origin = data.get("crossOrigin").and_then(serde_json::Value::as_bool);
    if text("origin") != Some(expected.origin) || cross_origin == Some(true) {
        return Err(PasskeyError::OriginMismatch);
    }
    Ok(())
}

#[cfg(test)]
#[path = "passkey_tests.rs"]
mod tests;
