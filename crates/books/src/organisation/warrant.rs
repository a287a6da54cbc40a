//! Why a change to the organisation book counts: every enrolment, grant, removal,
//! revocation and designation must be warranted by the signed request of a `ca_admin`
//! just before it in the log (`operator.request`, whose signature is re-checked here with
//! the certificate the book enrolled), or be one of `init`'s own entries before any
//! request. An entry written into the database by hand has neither, and has no effect.

use super::kinds;
use super::roster::Roster;
use base64::Engine;
use der::Decode;
use serde::Deserialize;
use shuin_core::{Action, Role};
use shuin_ledger::operator_request::{
    key_sha256, verify_signature, OperatorRequest, SignedRequest,
};
use shuin_ledger::Entry;

/// The actor name of `shuin init`'s own entries.
pub const INIT_ACTOR: &str = "shuin-init";

/// The last signed request replayed, as far as it matters for the entries after it.
#[derive(Debug, Clone)]
pub(super) struct Warrant {
    /// The request's nonce: a request copied into the book a second time is a replay.
    pub(super) nonce: String,
    action: Action,
    params: serde_json::Value,
    /// Whether the signer held `ca_admin` when they signed.
    by_admin: bool,
    /// Whether a passkey signed it (in the web console) rather than the operator key.
    by_passkey: bool,
    /// The changes it already warranted (see [`change_key`]).
    spent: Vec<String>,
}

impl Warrant {
    pub(super) fn spent(&self, change: &str) -> bool {
        self.spent.iter().any(|c| c == change)
    }

    pub(super) fn spend(&mut self, change: String) {
        self.spent.push(change);
    }

    pub(super) fn action(&self) -> Action {
        self.action
    }

    /// Whether the operator key (not a passkey) signed it.
    pub(super) fn by_operator_key(&self) -> bool {
        !self.by_passkey
    }

    /// Whether a ca_admin signed it with their operator key.
    pub(super) fn by_admin(&self) -> bool {
        self.by_admin
    }

    /// A string parameter of the request.
    pub(super) fn param(&self, name: &str) -> Option<&str> {
        param(self, name)
    }
}

/// What makes one change distinct from another of the same request: its kind, and for a
/// revocation the certificate revoked.
pub(super) fn change_key(entry: &Entry) -> String {
    match entry
        .payload
        .get("certificate_sha256")
        .and_then(serde_json::Value::as_str)
    {
        Some(sha256) if entry.kind == kinds::CERTIFICATE_REVOKED => {
            format!("{}:{sha256}", entry.kind)
        }
        _ => entry.kind.clone(),
    }
}

#[derive(Deserialize)]
struct RequestPayload {
    request: String,
    signature: String,
    certificate_sha256: String,
    #[serde(default)]
    passkey: Option<shuin_ledger::operator_request::PasskeyProof>,
}

/// Re-checks an `operator.request` entry against the roster as it stood: the
/// certificate, the signature over the exact text, the key. `Err` says why not.
pub(super) fn from_request(roster: &Roster, entry: &Entry) -> Result<Warrant, String> {
    let p: RequestPayload = serde_json::from_value(entry.payload.clone())
        .map_err(|e| format!("operator.request payload: {e}"))?;
    let (operator, certificate) = roster
        .by_certificate(&p.certificate_sha256)
        .ok_or("the request names a certificate the book never enrolled")?;
    let signed = SignedRequest {
        request: p.request,
        signature: p.signature,
        passkey: p.passkey,
    };
    let by_passkey = signed.passkey.is_some();
    let request = if by_passkey {
        passkey_request(roster, &signed, &p.certificate_sha256)?
    } else {
        let facts = shuin_ledger::operator_certificate::facts(&certificate.der)
            .map_err(|e| e.to_string())?;
        if !verify_signature(&facts.spki_der, &signed) {
            return Err("the request's signature does not verify".into());
        }
        let request = OperatorRequest::parse(&signed.request).map_err(|e| e.0)?;
        if request.key_sha256 != key_sha256(&facts.spki_der) {
            return Err("the request is not the certificate holder's".into());
        }
        request
    };
    if operator.name != entry.actor.name {
        return Err("the request is not the certificate holder's".into());
    }
    Ok(Warrant {
        nonce: request.nonce,
        action: request.action,
        params: request.params,
        by_admin: operator.holds(Role::CaAdmin) && !by_passkey,
        by_passkey,
        spent: Vec::new(),
    })
}

/// A request a passkey signed: registered under `certificate_sha256`, its assertion over
/// the text.
fn passkey_request(
    roster: &Roster,
    signed: &SignedRequest,
    certificate_sha256: &str,
) -> Result<OperatorRequest, String> {
    let named = OperatorRequest::parse(&signed.request).map_err(|e| e.0)?;
    let passkey = roster
        .passkey(&named.key_sha256)
        .filter(|p| p.certificate_sha256 == certificate_sha256)
        .ok_or("the request names a passkey not registered under its certificate")?;
    let relying = shuin_ledger::passkey::Relying {
        rp_id: &passkey.key.rp_id,
        origin: &passkey.key.origin,
    };
    shuin_ledger::passkey::verify_request(&passkey.key.spki_der, signed, relying)
        .map_err(|e| format!("the passkey's assertion does not verify: {}", e.code()))
}

fn param<'a>(warrant: &'a Warrant, name: &str) -> Option<&'a str> {
    warrant.params.get(name).and_then(serde_json::Value::as_str)
}

/// The name (CN) and key of the CSR an `operator_add` carried.
fn csr_subject(warrant: &Warrant) -> Option<(String, Vec<u8>)> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(param(warrant, "csr")?)
        .ok()?;
    let csr = x509_cert::request::CertReq::from_der(&der).ok()?;
    let name =
        shuin_core::x509::name::attribute_values(&csr.info.subject, const_oid::db::rfc4519::CN)
            .into_iter()
            .next()?;
    let spki = der::Encode::to_der(&csr.info.public_key).ok()?;
    Some((name, spki))
}

/// Whether a request of `action` can warrant changes to the organisation book.
pub(super) fn changes_roles(warrant: &Warrant) -> bool {
    matches!(
        warrant.action,
        Action::OperatorAdd
            | Action::OperatorGrant
            | Action::OperatorRemoveRole
            | Action::OperatorRevoke
            | Action::NodePair
    )
}

/// Whether `warrant` covers `entry` (a change of the organisation book about `name`,
/// with `role` for grants and removals, `spki` for enrolments).
pub(super) fn covers(
    warrant: &Warrant,
    entry: &Entry,
    name: &str,
    role: Option<Role>,
    spki: Option<&[u8]>,
) -> bool {
    if !warrant.by_admin {
        return false;
    }
    let role_param = param(warrant, "role").and_then(Role::parse);
    let added = || csr_subject(warrant);
    match (entry.kind.as_str(), warrant.action) {
        (kinds::ENROLLED, Action::OperatorAdd | Action::NodePair) => {
            added().is_some_and(|(n, k)| n == name && Some(k.as_slice()) == spki)
        }
        (kinds::ROLE_GRANTED, Action::OperatorAdd)
        | (kinds::RESPONSIBLE_PERSON_DESIGNATED, Action::OperatorAdd) => {
            added().is_some_and(|(n, _)| n == name) && role_param == role
        }
        (kinds::ROLE_GRANTED, Action::OperatorGrant)
        | (kinds::RESPONSIBLE_PERSON_DESIGNATED, Action::OperatorGrant)
        | (kinds::ROLE_REMOVED, Action::OperatorRemoveRole) => {
            param(warrant, "name") == Some(name) && role_param == role
        }
        (kinds::CERTIFICATE_REVOKED, Action::OperatorRevoke) => {
            param(warrant, "name") == Some(name)
        }
        _ => false,
    }
}
