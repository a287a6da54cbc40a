//! Re-checking, offline, that every operator action in the books was signed by that
//! operator (DESIGN.md section 8). Fed the entries in log order, [`RequestAudit`] keeps
//! the operator CA certificate (`operator_ca.created`), the operator certificates
//! (`operator.enrolled`, each checked against the operator CA) and their revocations,
//! and checks each `operator.request`:
//!
//! - the certificate it names was enrolled earlier and not revoked before it;
//! - the signature verifies over the exact request text with that certificate's key;
//! - the request text is a canonical request whose key hash is the certificate's key,
//!   whose action is the entry's, and the entry's actor is the certificate's holder;
//! - no signed request is in the books twice (its nonce is single use). The nonces are
//!   kept in memory: tens of bytes per operator request.
//!
//! A request a passkey signed in the web console names the passkey's key instead: the
//! passkey must have been registered earlier (`operator.passkey_registered`, itself
//! checked: an open invitation of that operator, spent once, and the passkey's own
//! assertion over its registration), the certificate its invitation was signed with
//! must not be revoked, and the assertion must be over the exact request text.

use std::collections::HashMap;

use base64::Engine;
use serde::Deserialize;

use crate::operator_certificate;
use crate::operator_request::{
    key_sha256, verify_signature, OperatorRequest, PasskeyProof, SignedRequest,
};
use crate::passkey_registration::{self as registration, Invited, PasskeyKey};
use crate::Entry;

struct Enrolled {
    name: String,
    spki_der: Vec<u8>,
    /// Revoked in these books: nothing it signs after counts.
    revoked: bool,
    /// At an RA node: when the CA revoked it, as a roster it recorded says. The node's
    /// gate may decide with the roster before it for a while ([`HANDED_REVOCATION_GRACE`]).
    handed_revoked_at: Option<std::time::SystemTime>,
}

/// How long after the CA revoked an operator certificate an RA node's books may still
/// hold a request it signed: the node's gate decides with the roster it holds for up to
/// 60 s after the last take confirmed it (`shuin_books::organisation::ROSTER_FRESH_FOR`),
/// the CA's snapshot may be a second old, and the two clocks may differ.
pub const HANDED_REVOCATION_GRACE: std::time::Duration = std::time::Duration::from_secs(120);

/// Why the audit failed: the entry at fault, if it decoded, and what does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operator request at seq {seq:?}: {reason}")]
pub struct AuditError {
    /// The entry at fault.
    pub seq: Option<u64>,
    /// What does not hold.
    pub reason: String,
}

/// Audits every signed operator request among canonical entries given in log order;
/// returns how many were checked.
pub fn audit_canonical<B: AsRef<[u8]>>(
    entries: impl IntoIterator<Item = B>,
) -> Result<u64, AuditError> {
    let mut audit = RequestAudit::new();
    for bytes in entries {
        audit.observe_canonical(bytes.as_ref())?;
    }
    Ok(audit.checked())
}

/// The bytes every entry kind this audit reads starts with, in canonical JSON.
const OPERATOR_KIND: &[u8] = b"\"kind\":\"operator";

/// The audit state.
#[derive(Default)]
pub struct RequestAudit {
    /// Every request's nonce seen so far (a request in the books twice is a replay).
    nonces: std::collections::HashSet<String>,
    operator_ca_der: Option<Vec<u8>>,
    certificates: HashMap<String, Enrolled>,
    /// Invitations by token hash: the invitation and whether it was spent.
    invitations: HashMap<String, (Invited, bool)>,
    /// Registered passkeys by key hash, with the certificate they live as long as.
    passkeys: HashMap<String, (PasskeyKey, String)>,
    /// Per operator, the `passkey_invite` requests signed with their operator key that
    /// no invitation has answered yet: each warrants one invitation.
    invite_requests: HashMap<String, u32>,
    /// Whether the books record handed rosters (an RA node's), and so no operator CA of
    /// their own.
    rosters_recorded: bool,
    checked: u64,
}

#[derive(Deserialize)]
struct CaCreated {
    certificate: String,
}

#[derive(Deserialize)]
struct EnrolledPayload {
    certificate: String,
    certificate_sha256: String,
}

#[derive(Deserialize)]
struct RevokedPayload {
    certificate_sha256: String,
}

/// The kind of an RA node's record of the roster its CA's link handed over (a split
/// deployment): the operator CA's certificate and every operator certificate, with its
/// revocation. At a node, the requests are checked against the certificates it records.
pub const ROSTER_RECEIVED: &str = "operator.roster_received";

#[derive(Deserialize)]
struct RosterReceived {
    operator_ca: String,
    roster: HandedRoster,
}

#[derive(Deserialize)]
struct HandedRoster {
    operators: Vec<HandedOperator>,
}

#[derive(Deserialize)]
struct HandedOperator {
    certificates: Vec<HandedCertificate>,
}

#[derive(Deserialize)]
struct HandedCertificate {
    der: String,
    #[serde(default)]
    revoked: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RequestPayload {
    action: serde_json::Value,
    request: String,
    signature: String,
    certificate_sha256: String,
    #[serde(default)]
    passkey: Option<PasskeyProof>,
}

fn payload<T: serde::de::DeserializeOwned>(entry: &Entry) -> Result<T, String> {
    serde_json::from_value(entry.payload.clone())
        .map_err(|e| format!("{} payload: {e}", entry.kind))
}

impl RequestAudit {
    /// A new audit, before the first entry.
    pub fn new() -> RequestAudit {
        RequestAudit::default()
    }

    /// Signed operator requests checked so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// Takes the next entry as stored (canonical bytes). Only entries whose kind starts
    /// with `operator` are decoded.
    pub fn observe_canonical(&mut self, bytes: &[u8]) -> Result<(), AuditError> {
        if !bytes
            .windows(OPERATOR_KIND.len())
            .any(|w| w == OPERATOR_KIND)
        {
            return Ok(());
        }
        let entry = Entry::from_canonical(bytes).map_err(|e| AuditError {
            seq: None,
            reason: e.to_string(),
        })?;
        self.observe(&entry).map_err(|reason| AuditError {
            seq: Some(entry.seq),
            reason,
        })
    }

    /// Takes the next entry; an error names what does not hold.
    pub fn observe(&mut self, entry: &Entry) -> Result<(), String> {
        match entry.kind.as_str() {
            "operator_ca.created" => {
                if self.rosters_recorded {
                    return Err("an operator CA created in books that record handed rosters".into());
                }
                let p: CaCreated = payload(entry)?;
                let der = base64::engine::general_purpose::STANDARD
                    .decode(p.certificate)
                    .map_err(|e| format!("operator CA certificate: {e}"))?;
                self.operator_ca_der = Some(der);
            }
            "operator.enrolled" => self.enrolled(entry)?,
            "operator.certificate_revoked" => {
                let p: RevokedPayload = payload(entry)?;
                if let Some(cert) = self.certificates.get_mut(&p.certificate_sha256) {
                    cert.revoked = true;
                }
            }
            "operator.request" => self.request(entry)?,
            ROSTER_RECEIVED => self.roster_received(entry)?,
            registration::INVITED => self.invited(entry)?,
            registration::REGISTERED => self.registered(entry)?,
            registration::REMOVED => {
                let p: registration::Removed = payload(entry)?;
                self.passkeys.remove(&p.key_sha256);
            }
            _ => {}
        }
        Ok(())
    }

    fn enrolled(&mut self, entry: &Entry) -> Result<(), String> {
        use sha2::Digest;
        let p: EnrolledPayload = payload(entry)?;
        let der = base64::engine::general_purpose::STANDARD
            .decode(p.certificate)
            .map_err(|e| format!("certificate: {e}"))?;
        if hex::encode(sha2::Sha256::digest(&der)) != p.certificate_sha256 {
            return Err("certificate_sha256 is not the certificate's hash".into());
        }
        let ca = self
            .operator_ca_der
            .as_deref()
            .ok_or("an operator certificate is enrolled before the operator CA is published")?;
        let spki_der = operator_certificate::check(&der, ca).map_err(|e| e.to_string())?;
        let facts = operator_certificate::facts(&der).map_err(|e| e.to_string())?;
        self.certificates.insert(
            p.certificate_sha256,
            Enrolled {
                name: facts.name,
                spki_der,
                revoked: false,
                handed_revoked_at: None,
            },
        );
        Ok(())
    }

    /// An RA node's record of its CA's roster: the operator CA (the same as any recorded
    /// before), and each certificate checked against it. A certificate revoked once
    /// stays revoked.
    fn roster_received(&mut self, entry: &Entry) -> Result<(), String> {
        use sha2::Digest;
        let b64 = |text: &str| base64::engine::general_purpose::STANDARD.decode(text);
        let p: RosterReceived = payload(entry)?;
        let ca = b64(&p.operator_ca).map_err(|e| format!("operator CA certificate: {e}"))?;
        match &self.operator_ca_der {
            Some(_) if !self.rosters_recorded => {
                return Err("a handed roster in books with an operator CA of their own".into())
            }
            Some(known) if *known != ca => {
                return Err("the roster names another operator CA than the books".into())
            }
            Some(_) => {}
            None => self.operator_ca_der = Some(ca.clone()),
        }
        self.rosters_recorded = true;
        for certificate in p.roster.operators.iter().flat_map(|o| &o.certificates) {
            let der = b64(&certificate.der).map_err(|e| format!("certificate: {e}"))?;
            let spki_der = operator_certificate::check(&der, &ca).map_err(|e| e.to_string())?;
            let facts = operator_certificate::facts(&der).map_err(|e| e.to_string())?;
            let sha256 = hex::encode(sha2::Sha256::digest(&der));
            let handed_revoked_at = match &certificate.revoked {
                None => None,
                Some(revoked) => Some(
                    revoked[0]
                        .as_str()
                        .and_then(shuin_core::timefmt::parse_rfc3339)
                        .ok_or("a revocation time in the roster is not RFC 3339")?,
                ),
            };
            let known = self.certificates.get(&sha256);
            let enrolled = Enrolled {
                name: facts.name,
                spki_der,
                revoked: known.is_some_and(|c| c.revoked),
                handed_revoked_at: known
                    .and_then(|c| c.handed_revoked_at)
                    .or(handed_revoked_at),
            };
            self.certificates.insert(sha256, enrolled);
        }
        Ok(())
    }

    fn invited(&mut self, entry: &Entry) -> Result<(), String> {
        let p: Invited = payload(entry)?;
        let holder = self
            .certificates
            .get(&p.certificate_sha256)
            .map(|c| &c.name);
        if p.name != entry.actor.name || holder != Some(&p.name) {
            return Err("an invitation names another operator than its actor".into());
        }
        match self.invite_requests.get_mut(&p.name) {
            Some(count) if *count > 0 => *count -= 1,
            _ => {
                return Err(format!(
                    "an invitation no passkey_invite request of {:?} signed with their operator key asked for",
                    p.name
                ))
            }
        }
        self.invitations.insert(p.token_sha256.clone(), (p, false));
        Ok(())
    }

    fn registered(&mut self, entry: &Entry) -> Result<(), String> {
        let key = registration::check_registered(&entry.payload)?;
        let (invited, spent) = self
            .invitations
            .get_mut(&key.token_sha256)
            .ok_or("the passkey was registered without an invitation")?;
        if *spent || invited.name != key.name || entry.actor.name != key.name {
            return Err("the invitation was spent, or is another operator's".into());
        }
        let time = shuin_core::timefmt::parse_rfc3339;
        let (expires, at) = (time(&invited.expires_at), time(&entry.time));
        if expires.is_none() || at.is_none() || expires < at {
            return Err("the passkey was registered after its invitation expired".into());
        }
        let registered_already = self.passkeys.contains_key(&key.key_sha256)
            || self
                .passkeys
                .values()
                .any(|(k, _)| k.credential_id == key.credential_id);
        if registered_already {
            return Err("the passkey is registered already".into());
        }
        *spent = true;
        let certificate = invited.certificate_sha256.clone();
        self.passkeys
            .insert(key.key_sha256.clone(), (key, certificate));
        Ok(())
    }

    fn request(&mut self, entry: &Entry) -> Result<(), String> {
        let p: RequestPayload = payload(entry)?;
        let cert = self
            .certificates
            .get(&p.certificate_sha256)
            .ok_or("the request names a certificate the books never enrolled")?;
        if cert.revoked {
            return Err("the request was signed with a certificate revoked before it".into());
        }
        if let Some(revoked_at) = cert.handed_revoked_at {
            let at = shuin_core::timefmt::parse_rfc3339(&entry.time)
                .ok_or("the entry's time is not RFC 3339")?;
            let limit = revoked_at.checked_add(HANDED_REVOCATION_GRACE);
            if limit.is_some_and(|limit| at > limit) {
                return Err(format!(
                    "the request was admitted more than {} s after the CA revoked its certificate",
                    HANDED_REVOCATION_GRACE.as_secs()
                ));
            }
        }
        let signed = SignedRequest {
            request: p.request,
            signature: p.signature,
            passkey: p.passkey,
        };
        let request = match &signed.passkey {
            None => {
                if !verify_signature(&cert.spki_der, &signed) {
                    return Err(format!(
                        "the signature does not verify with the certificate of {:?}",
                        cert.name
                    ));
                }
                let request = OperatorRequest::parse(&signed.request).map_err(|e| e.0)?;
                if request.key_sha256 != key_sha256(&cert.spki_der) {
                    return Err("the request names another key than the certificate's".into());
                }
                request
            }
            Some(_) => self.passkey_request(&signed, &p.certificate_sha256, &cert.name)?,
        };
        if !self.nonces.insert(request.nonce.clone()) {
            return Err("the same signed request is in the books twice (a replay)".into());
        }
        if serde_json::to_value(request.action).ok() != Some(p.action) {
            return Err("the entry's action is not the signed one".into());
        }
        if entry.actor.name != cert.name {
            return Err(format!(
                "the entry names {:?} as actor but {:?} signed",
                entry.actor.name, cert.name
            ));
        }
        if request.action == shuin_core::Action::PasskeyInvite && signed.passkey.is_none() {
            *self.invite_requests.entry(cert.name.clone()).or_default() += 1;
        }
        self.checked += 1;
        Ok(())
    }

    /// A request a passkey signed: the passkey registered for the certificate's holder
    /// under that certificate, and its assertion over the text.
    fn passkey_request(
        &self,
        signed: &SignedRequest,
        certificate_sha256: &str,
        holder: &str,
    ) -> Result<OperatorRequest, String> {
        let named = OperatorRequest::parse(&signed.request).map_err(|e| e.0)?;
        let (key, certificate) = self
            .passkeys
            .get(&named.key_sha256)
            .ok_or("the request names a passkey the books never registered")?;
        if certificate != certificate_sha256 || key.name != holder {
            return Err("the passkey was registered for another operator certificate".into());
        }
        let relying = crate::passkey::Relying {
            rp_id: &key.rp_id,
            origin: &key.origin,
        };
        crate::passkey::verify_request(&key.spki_der, signed, relying).map_err(|e| {
            format!(
                "the passkey's assertion does not verify ({}) for {holder:?}",
                e.code()
            )
        })
    }
}

#[cfg(test)]
mod tests;
