//! The roster handed to RA nodes (DESIGN.md section 10, docs/deployment.md "Operators at
//! RA nodes"). The organisation book lives in the CA's ledger; an RA node's gate decides
//! from the CA's roster as its link last handed it over:
//!
//! - the CA side ([`RosterFeed`]) takes a [`RosterSnapshot`] of its roster (operators,
//!   their certificates with revocations, roles, the responsible person) and names it
//!   by its digest;
//! - the link sends that digest with every take, and the snapshot itself when the node
//!   holds another;
//! - the node ([`HandedRoster`]) rebuilds a [`Roster`] from the snapshot, deriving every
//!   key and certificate hash from the certificates themselves (each issued by the
//!   operator CA), records it in its own books (`operator.roster_received`: offline,
//!   `ledger verify` checks the node's operator requests against it), and refuses to decide
//!   (fail closed) before a snapshot came, or when no take confirmed it for
//!   [`ROSTER_FRESH_FOR`]: an operator revoked at the CA is shut out at the nodes within
//!   that time even when the link is cut.
//!
//! Passkeys are not handed over: at an RA node, operators sign with their operator key.

use super::roster::{OperatorCertificate, OperatorRecord, Revoked, Roster};
use super::BookError;
use crate::Gate;
use serde::{Deserialize, Serialize};
use shuin_core::{Role, Zone};
use shuin_ledger::operator_audit::ROSTER_RECEIVED;
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{KeyedDraft, LedgerStore};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// How long a handed roster serves without a take confirming it.
pub const ROSTER_FRESH_FOR: Duration = Duration::from_secs(60);
/// How far the node's clock may step back behind a confirmation before the roster no
/// longer serves.
const CLOCK_TOLERANCE: Duration = Duration::from_secs(5);

/// The CA's roster as handed to its RA nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterSnapshot {
    /// The CA's ledger position the roster was replayed up to (its next position).
    pub as_of: u64,
    /// Every operator, by name.
    pub operators: Vec<SnapshotOperator>,
    /// The designated responsible person (責任者).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responsible_person: Option<String>,
}

/// One operator of a [`RosterSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotOperator {
    /// The name that goes into the books.
    pub name: String,
    /// The roles held now.
    pub roles: Vec<Role>,
    /// When the operator first appeared in the CA's book (RFC 3339).
    pub since: String,
    /// Every certificate enrolled, oldest first.
    pub certificates: Vec<SnapshotCertificate>,
}

/// One operator certificate of a [`RosterSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotCertificate {
    /// The certificate, base64 DER.
    pub der: String,
    /// The position of the CA's entry that enrolled it.
    pub enrolled_seq: u64,
    /// When (RFC 3339) and why (RFC 5280 reason name) it was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<(String, String)>,
}

impl Roster {
    /// The roster as handed to RA nodes.
    pub fn snapshot(&self) -> RosterSnapshot {
        use base64::Engine;
        let certificate = |c: &OperatorCertificate| SnapshotCertificate {
            der: base64::engine::general_purpose::STANDARD.encode(&c.der),
            enrolled_seq: c.enrolled_seq,
            revoked: c
                .revoked
                .as_ref()
                .map(|r| (shuin_core::timefmt::rfc3339(r.at), r.reason.clone())),
        };
        RosterSnapshot {
            as_of: self.next_seq(),
            operators: self
                .operators()
                .map(|op| SnapshotOperator {
                    name: op.name.clone(),
                    roles: op.roles.iter().copied().collect(),
                    since: op.since.clone(),
                    certificates: op.certificates.iter().map(certificate).collect(),
                })
                .collect(),
            responsible_person: self.responsible_person.clone(),
        }
    }
}

impl Roster {
    /// Replaying an RA node's book: the roster the node took in replaces the operators,
    /// their certificates and the responsible person.
    pub(super) fn take_handed(&mut self, entry: &shuin_ledger::Entry) -> Result<(), BookError> {
        let snapshot: RosterSnapshot = serde_json::from_value(entry.payload["roster"].clone())
            .map_err(|e| BookError::Malformed {
                seq: entry.seq,
                detail: format!("{ROSTER_RECEIVED} payload: {e}"),
            })?;
        let handed = snapshot.roster().map_err(|e| BookError::Malformed {
            seq: entry.seq,
            detail: e.to_string(),
        })?;
        self.operators = handed.operators;
        self.keys = handed.keys;
        self.certificates = handed.certificates;
        self.responsible_person = handed.responsible_person;
        Ok(())
    }
}

/// Why a snapshot cannot be taken in.
fn malformed(detail: String) -> BookError {
    BookError::Malformed { seq: 0, detail }
}

impl RosterSnapshot {
    /// Names what the snapshot says (not where it was taken): SHA-256 (hex) of its
    /// operators and responsible person as JSON.
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let said = serde_json::json!([self.operators, self.responsible_person]);
        hex::encode(sha2::Sha256::digest(said.to_string().as_bytes()))
    }

    /// The roster it describes. Each certificate's hash, serial, key and validity are
    /// read from the certificate itself; a key enrolled for two operators is refused.
    pub fn roster(&self) -> Result<Roster, BookError> {
        let mut roster = Roster::new();
        for op in &self.operators {
            let mut record = OperatorRecord {
                name: op.name.clone(),
                roles: op.roles.iter().copied().collect(),
                certificates: Vec::new(),
                since: op.since.clone(),
            };
            for c in &op.certificates {
                let certificate =
                    taken_in(c).map_err(|e| malformed(format!("{}: {e}", op.name)))?;
                if let Some(holder) = roster.keys.get(&certificate.key_sha256) {
                    if holder != &op.name {
                        return Err(malformed(format!(
                            "a key of {} is also {holder}'s",
                            op.name
                        )));
                    }
                }
                roster
                    .keys
                    .insert(certificate.key_sha256.clone(), op.name.clone());
                roster
                    .certificates
                    .insert(certificate.sha256.clone(), op.name.clone());
                record.certificates.push(certificate);
            }
            roster.operators.insert(op.name.clone(), record);
        }
        roster.responsible_person = self.responsible_person.clone();
        Ok(roster)
    }
}

/// One certificate of a snapshot, its facts read from the DER.
fn taken_in(c: &SnapshotCertificate) -> Result<OperatorCertificate, String> {
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(&c.der)
        .map_err(|e| format!("certificate: {e}"))?;
    let facts = shuin_ledger::operator_certificate::facts(&der).map_err(|e| e.0)?;
    let revoked = match &c.revoked {
        None => None,
        Some((at, reason)) => Some(Revoked {
            at: shuin_core::timefmt::parse_rfc3339(at)
                .ok_or_else(|| format!("revoked at {at:?} is not RFC 3339"))?,
            reason: reason.clone(),
        }),
    };
    Ok(OperatorCertificate {
        sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&der)),
        serial: facts.serial,
        key_sha256: crate::request::key_sha256(&facts.spki_der),
        not_before: facts.not_before,
        not_after: facts.not_after,
        revoked,
        enrolled_seq: c.enrolled_seq,
        der,
    })
}

/// The CA's side: snapshots of its roster, for its links to RA nodes.
pub struct RosterFeed {
    gate: Arc<Gate>,
    store: Arc<dyn LedgerStore>,
}

impl std::fmt::Debug for RosterFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RosterFeed").finish_non_exhaustive()
    }
}

impl RosterFeed {
    /// The roster of `gate` over the books of `store`.
    pub fn new(gate: Arc<Gate>, store: Arc<dyn LedgerStore>) -> RosterFeed {
        RosterFeed { gate, store }
    }

    /// The roster as it stands now.
    pub async fn snapshot(&self) -> Result<RosterSnapshot, BookError> {
        Ok(self.gate.roster(self.store.as_ref()).await?.snapshot())
    }
}

/// The node's record of a roster handed over, keyed by its digest and the CA's position
/// (a retried append writes it once; each node on a shared store records what it took
/// in).
fn received(operator_ca_der: &[u8], digest: &str, snapshot: &RosterSnapshot) -> KeyedDraft {
    use base64::Engine;
    let operator_ca = base64::engine::general_purpose::STANDARD.encode(operator_ca_der);
    KeyedDraft {
        key: Some(format!("{ROSTER_RECEIVED}:{digest}:{}", snapshot.as_of)),
        draft: EntryDraft {
            book: Book::Organization,
            kind: ROSTER_RECEIVED.into(),
            actor: Actor {
                name: "shuin-ra (CA link)".into(),
                role: "system".into(),
                zone: Zone::Secure.as_str().into(),
            },
            subjects: vec!["organisation:roster".into()],
            payload: serde_json::json!({"digest": digest, "as_of": snapshot.as_of,
                "operator_ca": operator_ca, "roster": snapshot}),
            evidence: vec![],
        },
    }
}

/// Why an RA node's gate cannot decide now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RosterUnavailable {
    /// The CA's link has handed over no roster since the node started.
    #[error(
        "the CA's link has not handed this node its operators yet; try again once it is connected"
    )]
    NotYet,
    /// No take confirmed the roster for too long.
    #[error("the CA's link has not confirmed this node's operators since {0}; operator actions wait until it is connected again")]
    Stale(String),
}

/// An RA node's side: the roster its CA's link handed over last, in memory only (a node
/// that starts waits for its link's first take).
#[derive(Debug)]
pub struct HandedRoster {
    held: Mutex<Option<Held>>,
    fresh_for: Duration,
}

#[derive(Debug)]
struct Held {
    digest: String,
    roster: Roster,
    confirmed: SystemTime,
}

impl HandedRoster {
    /// Nothing handed yet; a roster serves `fresh_for` after the last take confirmed it.
    pub fn new(fresh_for: Duration) -> HandedRoster {
        HandedRoster {
            held: Mutex::new(None),
            fresh_for,
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Option<Held>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The digest of the roster held, which the node tells the link.
    pub fn digest(&self) -> Option<String> {
        self.held().as_ref().map(|h| h.digest.clone())
    }

    /// What a take said: the CA's roster's `digest`, and the roster itself when the node
    /// holds another. A matching digest confirms the roster held. A new roster is checked
    /// (what its digest names, every certificate issued by the operator CA
    /// `operator_ca_der`), recorded in the node's books (`operator.roster_received`, the
    /// organisation book) and only then used.
    pub async fn receive<S: LedgerStore + ?Sized>(
        &self,
        store: &S,
        operator_ca_der: &[u8],
        given: (&str, Option<&RosterSnapshot>),
        now: SystemTime,
    ) -> Result<(), BookError> {
        let (digest, snapshot) = given;
        if let Some(h) = self.held().as_mut().filter(|h| h.digest == digest) {
            // The roster held (a snapshot of it again, after the link redialled, is not
            // recorded twice).
            h.confirmed = now;
            return Ok(());
        }
        let Some(snapshot) = snapshot else {
            return Ok(());
        };
        let roster = self.checked(operator_ca_der, digest, snapshot)?;
        store
            .append_batch(vec![received(operator_ca_der, digest, snapshot)], now)
            .await?;
        tracing::info!(
            operators = snapshot.operators.len(),
            as_of = snapshot.as_of,
            "the CA's link handed over its operators"
        );
        *self.held() = Some(Held {
            digest: digest.to_owned(),
            roster,
            confirmed: now,
        });
        Ok(())
    }

    /// The roster `snapshot` describes, if it may be taken in.
    fn checked(
        &self,
        operator_ca_der: &[u8],
        digest: &str,
        snapshot: &RosterSnapshot,
    ) -> Result<Roster, BookError> {
        if snapshot.digest() != digest {
            return Err(malformed("the roster is not what its digest names".into()));
        }
        let roster = snapshot.roster()?;
        for (op, c) in roster
            .operators()
            .flat_map(|op| op.certificates.iter().map(move |c| (op, c)))
        {
            shuin_ledger::operator_certificate::check(&c.der, operator_ca_der)
                .map_err(|e| malformed(format!("a certificate of {}: {}", op.name, e.0)))?;
        }
        Ok(roster)
    }

    /// The roster held, however old (for reading, never for deciding).
    pub fn latest(&self) -> Result<Roster, RosterUnavailable> {
        let held = self.held();
        let held = held.as_ref().ok_or(RosterUnavailable::NotYet)?;
        Ok(held.roster.clone())
    }

    /// The roster to decide with at `now`.
    pub fn current(&self, now: SystemTime) -> Result<Roster, RosterUnavailable> {
        let held = self.held();
        let held = held.as_ref().ok_or(RosterUnavailable::NotYet)?;
        // A clock stepped back by more than a few seconds fails closed too (until the next
        // take confirms the roster again), rather than stretching its freshness.
        let fresh = match now.duration_since(held.confirmed) {
            Ok(age) => age <= self.fresh_for,
            Err(ahead) => ahead.duration() <= CLOCK_TOLERANCE,
        };
        if !fresh {
            let since = shuin_core::timefmt::rfc3339(held.confirmed);
            return Err(RosterUnavailable::Stale(since));
        }
        Ok(held.roster.clone())
    }
}
