//! The gate every signed operator request passes before it takes effect (DESIGN.md
//! section 8), in this order:
//!
//! 1. the signature, against the operator's certificate as enrolled in the organisation
//!    book, that certificate against the operator CA (signature, validity) and its
//!    revocation (the book is what the operator CA's CRL is made from);
//! 2. the nonce, consumed here (a replay is refused);
//! 3. the role and the zone, by the policy table of `shuin_core::operator`;
//! 4. the request, its signature and who signed it, into the books (`operator.request`);
//! 5. only then does the caller act, with the [`Admitted`] it gets back.
//!
//! Refusals are ledgered as `operator.refused`, within a [`RefusalBudget`]. If the books
//! cannot be written, nothing is admitted (fail closed).

use crate::organisation::{kinds, BookError, HandedRoster, Organisation, RefusalBudget, Roster};
use crate::request::{book_of, verify_signature, OperatorRequest, SignedRequest};
use serde_json::json;
use shuin_core::operator::{permit, PolicyRefusal};
use shuin_core::{Action, RandomSource, Role, Zone};
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{LedgerStore, NonceOutcome, NonceStore};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How far a request's `time` may be from the server's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(300);
/// How long an operator nonce lives.
pub const NONCE_TTL: Duration = Duration::from_secs(300);
/// Operator nonces are kept apart from applicants' challenge nonces by this prefix.
const NONCE_PREFIX: &str = "operator:";

/// Why a request was refused. Each has a stable reason code ([`Refusal::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// Not a well-formed signed request.
    #[error("malformed_request: {0}")]
    Malformed(String),
    /// No operator certificate in the books has this key.
    #[error("operator_unknown: no enrolled operator certificate has this key")]
    UnknownKey,
    /// The operator's certificates are revoked, expired or not valid yet.
    #[error("operator_certificate_unusable: {0}")]
    CertificateUnusable(String),
    /// The enrolled certificate was not issued by this instance's operator CA.
    #[error("operator_certificate_untrusted: the certificate enrolled for {0:?} was not issued by the operator CA")]
    CertificateUntrusted(String),
    /// The signature does not verify with the operator's key.
    #[error("request_signature_invalid: the signature does not verify with the operator's key")]
    SignatureInvalid,
    /// The request's time is too far from the server's.
    #[error("request_time_skew: the request was signed at {0}, too far from the server's time")]
    TimeSkew(String),
    /// The nonce was never issued, or has expired.
    #[error("nonce_unknown: the nonce was not issued by this server, or has expired")]
    NonceUnknown,
    /// The nonce was already used: a replay.
    #[error("nonce_reused: the request was already used (a replay)")]
    NonceReused,
    /// Role or zone.
    #[error("{0}")]
    Policy(PolicyRefusal),
    /// A passkey may not invite another: that takes the operator key.
    #[error("passkey_invite_needs_operator_key: a passkey cannot invite another passkey; sign the invitation with your operator key")]
    PasskeyCannotInvite,
    /// A passkey signs only the web console's actions, from the console's zones; the
    /// organisation book and everything else take the operator key.
    #[error("passkey_action_not_allowed: a passkey does not sign {0} (here); sign it with your operator key")]
    PasskeyActionNotAllowed(String),
}

impl Refusal {
    /// The stable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "malformed_request",
            Refusal::UnknownKey => "operator_unknown",
            Refusal::CertificateUnusable(_) => "operator_certificate_unusable",
            Refusal::CertificateUntrusted(_) => "operator_certificate_untrusted",
            Refusal::SignatureInvalid => "request_signature_invalid",
            Refusal::TimeSkew(_) => "request_time_skew",
            Refusal::NonceUnknown => "nonce_unknown",
            Refusal::NonceReused => "nonce_reused",
            Refusal::Policy(p) => p.code(),
            Refusal::PasskeyCannotInvite => "passkey_invite_needs_operator_key",
            Refusal::PasskeyActionNotAllowed(_) => "passkey_action_not_allowed",
        }
    }
}

/// Why the gate did not admit a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// Refused (and ledgered, within the budget).
    #[error("{0}")]
    Refused(Refusal),
    /// The books could not be read or written: nothing was admitted.
    #[error("the books are unavailable: {0}")]
    Books(#[from] BookError),
    /// No randomness for a nonce.
    #[error("randomness: {0}")]
    Random(String),
}

impl From<shuin_store::StoreError> for GateError {
    fn from(e: shuin_store::StoreError) -> GateError {
        GateError::Books(BookError::Store(e))
    }
}

/// A request that passed the gate and is in the books.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// Who signed it.
    pub operator: String,
    /// The role it is done in.
    pub role: Role,
    /// The zone it came from.
    pub zone: Zone,
    /// The request as signed.
    pub request: OperatorRequest,
    /// SHA-256 of the certificate that verified it.
    pub certificate_sha256: String,
    /// The position of its `operator.request` entry.
    pub entry_seq: u64,
}

impl Admitted {
    /// The actor to ledger the effects with.
    pub fn actor(&self) -> Actor {
        crate::organisation::actor(&self.operator, self.role, self.zone)
    }
}

/// The most of a refusal's text that goes into the permanent books: a refused request's
/// text (field names a parser quotes, say) is the sender's, so only a bounded prefix is
/// kept.
const DETAIL_CHARS: usize = 200;

fn bounded(text: &str) -> String {
    match text.char_indices().nth(DETAIL_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// What `operator.request` keeps: the request as signed, its signature, the certificate
/// that verified it, and for a passkey the rest of its assertion.
fn request_payload(
    signed: &SignedRequest,
    action: Action,
    certificate_sha256: &str,
) -> serde_json::Value {
    let mut payload = json!({
        "action": action,
        "request": signed.request,
        "signature": signed.signature,
        "certificate_sha256": certificate_sha256,
    });
    if let Some(passkey) = &signed.passkey {
        payload["passkey"] = json!(passkey);
    }
    payload
}

/// What a passkey may sign: the web console's actions, from the console's zones (never
/// the local console's), and of the organisation book only the removal of one's own
/// passkey.
fn passkey_may_sign(request: &OperatorRequest, name: &str, zone: Zone) -> Result<(), Refusal> {
    let not_allowed = || Refusal::PasskeyActionNotAllowed(request.action.as_str().into());
    if !matches!(zone, Zone::Secure | Zone::Remote) {
        return Err(not_allowed());
    }
    match request.action {
        Action::PasskeyInvite => Err(Refusal::PasskeyCannotInvite),
        Action::PasskeyRemove if request.param("name").is_some_and(|n| n != name) => {
            Err(not_allowed())
        }
        Action::PasskeyRemove
        | Action::ReviewList
        | Action::ReviewShow
        | Action::ReviewApprove
        | Action::ReviewReject
        | Action::Revoke
        | Action::RegistrationCreate
        | Action::AutomationSuspend
        | Action::AutomationResume
        | Action::AutomationReview
        | Action::LedgerRead
        | Action::AuditPack
        | Action::Status => Ok(()),
        _ => Err(not_allowed()),
    }
}

/// The request's time is within [`MAX_SKEW`] of the server's.
fn check_time(
    request: &OperatorRequest,
    name: &str,
    now: SystemTime,
) -> Result<(), (Refusal, Option<String>)> {
    let who = || Some(name.to_owned());
    let signed_at = shuin_core::timefmt::parse_rfc3339(&request.time)
        .ok_or_else(|| (Refusal::Malformed("time is not RFC 3339".into()), who()))?;
    let skew = match signed_at.duration_since(now) {
        Ok(ahead) => ahead,
        Err(behind) => behind.duration(),
    };
    if skew > MAX_SKEW {
        return Err((Refusal::TimeSkew(request.time.clone()), who()));
    }
    Ok(())
}

/// Step 1 for a request a passkey signed: the passkey is registered, the certificate it
/// was invited under is usable, and its assertion is over the request. Returns the
/// operator's name and that certificate's hash.
fn passkey_signer(
    roster: &Roster,
    signed: &SignedRequest,
    now: SystemTime,
) -> Result<(String, String), (Refusal, Option<String>)> {
    let request =
        OperatorRequest::parse(&signed.request).map_err(|e| (Refusal::Malformed(e.0), None))?;
    let passkey = roster
        .passkey(&request.key_sha256)
        .ok_or((Refusal::UnknownKey, None))?;
    let who = Some(passkey.key.name.clone());
    if !roster.passkey_usable(passkey, now) {
        let why = "the operator certificate the passkey was registered under is revoked or expired";
        return Err((Refusal::CertificateUnusable(why.into()), who));
    }
    let relying = shuin_ledger::passkey::Relying {
        rp_id: &passkey.key.rp_id,
        origin: &passkey.key.origin,
    };
    if let Err(e) = shuin_ledger::passkey::verify_request(&passkey.key.spki_der, signed, relying) {
        tracing::warn!(code = e.code(), operator = %passkey.key.name, "a passkey assertion did not verify");
        return Err((Refusal::SignatureInvalid, who));
    }
    Ok((passkey.key.name.clone(), passkey.certificate_sha256.clone()))
}

/// Where a gate's roster comes from.
#[derive(Debug)]
enum RosterSource {
    /// The organisation book in the instance's own ledger (the CA, all-in-one).
    Book(Box<Organisation>),
    /// The CA's roster, as its link handed it to this RA node.
    Handed(Arc<HandedRoster>),
}

/// The gate of one running instance.
#[derive(Debug)]
pub struct Gate {
    source: RosterSource,
    /// The operator CA certificate (DER) that every operator certificate must chain to.
    operator_ca_der: Vec<u8>,
    budget: RefusalBudget,
}

impl Gate {
    /// A gate for certificates issued by the operator CA `operator_ca_der`.
    pub fn new(operator_ca_der: Vec<u8>, budget: RefusalBudget) -> Gate {
        Gate {
            source: RosterSource::Book(Box::default()),
            operator_ca_der,
            budget,
        }
    }

    /// The gate of an RA node: it decides with the CA's roster as `handed` over by the
    /// CA's link (`crate::organisation::HandedRoster`), and ledgers into the node's own
    /// books.
    pub fn handed(
        operator_ca_der: Vec<u8>,
        budget: RefusalBudget,
        handed: Arc<HandedRoster>,
    ) -> Gate {
        Gate {
            source: RosterSource::Handed(handed),
            operator_ca_der,
            budget,
        }
    }

    /// The organisation book as it stands now (at an RA node, as handed over last).
    pub async fn roster<S: LedgerStore + ?Sized>(&self, store: &S) -> Result<Roster, BookError> {
        match &self.source {
            RosterSource::Book(organisation) => organisation.roster(store).await,
            RosterSource::Handed(handed) => Ok(handed.latest()?),
        }
    }

    /// The roster to decide with at `now`: at an RA node, only one a take confirmed
    /// lately.
    async fn deciding_roster<S: LedgerStore + ?Sized>(
        &self,
        store: &S,
        now: SystemTime,
    ) -> Result<Roster, BookError> {
        match &self.source {
            RosterSource::Book(organisation) => organisation.roster(store).await,
            RosterSource::Handed(handed) => Ok(handed.current(now)?),
        }
    }

    /// A fresh single-use nonce for the next request.
    pub async fn nonce<S: NonceStore + ?Sized>(
        &self,
        store: &S,
        rng: &dyn RandomSource,
        now: SystemTime,
    ) -> Result<String, GateError> {
        use base64::Engine;
        let mut bytes = [0u8; 32];
        rng.fill(&mut bytes)
            .map_err(|e| GateError::Random(e.to_string()))?;
        let nonce = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        store
            .insert_nonce(&format!("{NONCE_PREFIX}{nonce}"), now + NONCE_TTL)
            .await?;
        Ok(nonce)
    }

    /// Steps 1–4 of the [module documentation](self) for a request from `zone`.
    pub async fn admit<S: LedgerStore + NonceStore + ?Sized>(
        &self,
        store: &S,
        signed: &SignedRequest,
        zone: Zone,
        now: SystemTime,
    ) -> Result<Admitted, GateError> {
        let roster = self.deciding_roster(store, now).await?;
        let (request, name, certificate_sha256) = match self.authenticate(&roster, signed, now) {
            Ok(found) => found,
            Err((refusal, who)) => {
                return Err(self.refuse(store, refusal, who, None, zone, now).await?);
            }
        };
        let refused = |refusal| (refusal, Some(name.clone()));
        if signed.passkey.is_some() {
            if let Err(refusal) = passkey_may_sign(&request, &name, zone) {
                let (refusal, who) = refused(refusal);
                let action = Some(request.action);
                return Err(self.refuse(store, refusal, who, action, zone, now).await?);
            }
        }
        let outcome = store
            .consume_nonce(&format!("{NONCE_PREFIX}{}", request.nonce), now)
            .await?;
        let checked = match outcome {
            NonceOutcome::Fresh => Ok(()),
            NonceOutcome::Reused => Err(refused(Refusal::NonceReused)),
            _ => Err(refused(Refusal::NonceUnknown)),
        };
        let held: Vec<Role> = roster
            .operator(&name)
            .map(|op| op.roles.iter().copied().collect())
            .unwrap_or_default();
        let role = checked.and_then(|()| {
            permit(request.action, zone, &held).map_err(|p| refused(Refusal::Policy(p)))
        });
        let role = match role {
            Ok(role) => role,
            Err((refusal, who)) => {
                let action = Some(request.action);
                return Err(self.refuse(store, refusal, who, action, zone, now).await?);
            }
        };
        let entry = store
            .append(
                EntryDraft {
                    book: book_of(request.action),
                    kind: kinds::REQUEST.into(),
                    actor: crate::organisation::actor(&name, role, zone),
                    subjects: vec![format!("operator:{name}")],
                    payload: request_payload(signed, request.action, &certificate_sha256),
                    evidence: vec![],
                },
                now,
            )
            .await?;
        Ok(Admitted {
            operator: name,
            role,
            zone,
            request,
            certificate_sha256,
            entry_seq: entry.seq,
        })
    }

    /// Step 1: returns the request, the operator's name and the certificate's hash.
    #[allow(clippy::type_complexity)]
    fn authenticate(
        &self,
        roster: &Roster,
        signed: &SignedRequest,
        now: SystemTime,
    ) -> Result<(OperatorRequest, String, String), (Refusal, Option<String>)> {
        let request =
            OperatorRequest::parse(&signed.request).map_err(|e| (Refusal::Malformed(e.0), None))?;
        if signed.passkey.is_some() {
            let (name, certificate) = passkey_signer(roster, signed, now)?;
            check_time(&request, &name, now)?;
            return Ok((request, name, certificate));
        }
        let operator = roster
            .by_key(&request.key_sha256)
            .ok_or((Refusal::UnknownKey, None))?;
        let who = Some(operator.name.clone());
        let certificate = operator
            .certificates
            .iter()
            .rev()
            .find(|c| c.key_sha256 == request.key_sha256 && c.usable_at(now))
            .ok_or_else(|| {
                let why = match operator
                    .certificates
                    .iter()
                    .rev()
                    .find(|c| c.key_sha256 == request.key_sha256)
                {
                    Some(c) if c.revoked.is_some() => "the certificate is revoked",
                    _ => "the certificate is expired or not yet valid",
                };
                (Refusal::CertificateUnusable(why.into()), who.clone())
            })?;
        let spki = crate::operator_certificate::check(&certificate.der, &self.operator_ca_der)
            .map_err(|_| {
                (
                    Refusal::CertificateUntrusted(operator.name.clone()),
                    who.clone(),
                )
            })?;
        if crate::request::key_sha256(&spki) != request.key_sha256
            || !verify_signature(&spki, signed)
        {
            return Err((Refusal::SignatureInvalid, who));
        }
        check_time(&request, &operator.name, now)?;
        Ok((request, operator.name.clone(), certificate.sha256.clone()))
    }

    /// Ledgers a refusal within the budget and returns it as an error.
    async fn refuse<S: LedgerStore + ?Sized>(
        &self,
        store: &S,
        refusal: Refusal,
        who: Option<String>,
        action: Option<Action>,
        zone: Zone,
        now: SystemTime,
    ) -> Result<GateError, GateError> {
        if let Some(note) = self.budget.note(now) {
            let name = who.unwrap_or_else(|| "(unidentified)".into());
            store
                .append(
                    EntryDraft {
                        book: Book::Organization,
                        kind: kinds::REFUSED.into(),
                        actor: Actor {
                            name: name.clone(),
                            role: "unauthorised".into(),
                            zone: zone.as_str().into(),
                        },
                        subjects: vec![format!("operator:{name}")],
                        payload: json!({
                            "code": refusal.code(),
                            "detail": bounded(&refusal.to_string()),
                            "action": action,
                            "suppressed_before": note.suppressed_before,
                        }),
                        evidence: vec![],
                    },
                    now,
                )
                .await?;
        }
        Ok(GateError::Refused(refusal))
    }
}
