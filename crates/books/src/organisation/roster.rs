//! The roster: who the operators are, which certificates they hold and which roles,
//! rebuilt only by replaying the organisation book (DESIGN.md section 8). No mutable
//! table is trusted: a role written into the database any other way has no effect.

use super::kinds;
use super::warrant::{self, Warrant, INIT_ACTOR};
use super::BookError;
use serde::Deserialize;
use shuin_core::Role;
use shuin_ledger::{Book, Entry, StoredEntry};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::SystemTime;

/// One operator certificate as enrolled in the book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorCertificate {
    /// SHA-256 of the certificate DER, hex.
    pub sha256: String,
    /// The certificate DER.
    pub der: Vec<u8>,
    /// Its serial, hex.
    pub serial: String,
    /// SHA-256 of its SubjectPublicKeyInfo DER, hex: how a signed request names its key.
    pub key_sha256: String,
    /// Validity.
    pub not_before: SystemTime,
    /// Validity.
    pub not_after: SystemTime,
    /// When and why it was revoked, if it was.
    pub revoked: Option<Revoked>,
    /// The sequence number of the entry that enrolled it.
    pub enrolled_seq: u64,
}

/// A revocation of an operator certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// When.
    pub at: SystemTime,
    /// RFC 5280 reason name.
    pub reason: String,
}

impl OperatorCertificate {
    /// Whether the certificate may sign at `now`.
    pub fn usable_at(&self, now: SystemTime) -> bool {
        self.revoked.is_none() && self.not_before <= now && now <= self.not_after
    }
}

/// An operator as the book knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRecord {
    /// The name that goes into the ledger.
    pub name: String,
    /// Roles held now.
    pub roles: BTreeSet<Role>,
    /// Every certificate ever enrolled, oldest first.
    pub certificates: Vec<OperatorCertificate>,
    /// When the operator first appeared in the book (RFC 3339).
    pub since: String,
}

impl OperatorRecord {
    /// Whether the operator holds `role`.
    pub fn holds(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The newest certificate usable at `now`.
    pub fn current_certificate(&self, now: SystemTime) -> Option<&OperatorCertificate> {
        self.certificates.iter().rev().find(|c| c.usable_at(now))
    }
}

/// The state of the organisation book after replaying it.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    pub(super) operators: BTreeMap<String, OperatorRecord>,
    /// key_sha256 -> operator name.
    pub(super) keys: HashMap<String, String>,
    /// certificate sha256 -> operator name.
    pub(super) certificates: HashMap<String, String>,
    pub(super) responsible_person: Option<String>,
    /// The next ledger position to replay.
    next_seq: u64,
    /// Whether any signed request has been replayed (after it, `init`'s entries end).
    requests_seen: bool,
    /// The last few signed requests of each operator that re-checked.
    warrants: HashMap<String, Vec<Warrant>>,
    /// Changes that no signed request of a ca_admin warranted: (seq, why). They had no
    /// effect.
    unwarranted: Vec<(u64, String)>,
    /// The nonces of the requests that changed roles: each warrants once.
    warrant_nonces: HashSet<String>,
    /// Passkey invitations and registrations (`super::passkeys`).
    pub(super) passkeys: super::passkeys::Passkeys,
    /// Whether the books keep an organisation of their own (an operator CA created, an
    /// operator enrolled, a role changed): then a handed roster has no effect.
    own_organisation: bool,
}

/// The kind of the entry that creates the instance's operator CA.
const OPERATOR_CA_CREATED: &str = "operator_ca.created";

/// Signed requests kept per operator for the entries that follow them.
const WARRANTS_KEPT: usize = 8;

#[derive(Deserialize)]
struct NameRole {
    name: String,
    role: Role,
}

#[derive(Deserialize)]
struct Enrolled {
    name: String,
    certificate: String,
    certificate_sha256: String,
    serial: String,
    key_sha256: String,
    not_before: String,
    not_after: String,
}

#[derive(Deserialize)]
struct CertificateRevoked {
    name: String,
    certificate_sha256: String,
    reason: String,
    revoked_at: String,
}

#[derive(Deserialize)]
struct Designated {
    responsible_person: String,
}

/// What an organisation-book entry changes: the operator's name, the role (grants,
/// removals, designations) and the key (enrolments). `None` for other kinds.
#[allow(clippy::type_complexity)]
fn change_of(entry: &Entry) -> Result<Option<(String, Option<Role>, Option<Vec<u8>>)>, BookError> {
    Ok(match entry.kind.as_str() {
        kinds::ROLE_GRANTED | kinds::LEGACY_ADDED | kinds::ROLE_REMOVED => {
            let p: NameRole = payload(entry)?;
            Some((p.name, Some(p.role), None))
        }
        kinds::ENROLLED => {
            use base64::Engine;
            let p: Enrolled = payload(entry)?;
            let spki = base64::engine::general_purpose::STANDARD
                .decode(&p.certificate)
                .ok()
                .and_then(|der| shuin_ledger::operator_certificate::facts(&der).ok())
                .map(|f| f.spki_der);
            Some((p.name, None, spki))
        }
        kinds::CERTIFICATE_REVOKED => {
            let p: CertificateRevoked = payload(entry)?;
            Some((p.name, None, None))
        }
        kinds::RESPONSIBLE_PERSON_DESIGNATED => {
            let p: Designated = payload(entry)?;
            Some((p.responsible_person, Some(Role::ResponsiblePerson), None))
        }
        _ => None,
    })
}

fn payload<T: serde::de::DeserializeOwned>(entry: &Entry) -> Result<T, BookError> {
    serde_json::from_value(entry.payload.clone()).map_err(|e| BookError::Malformed {
        seq: entry.seq,
        detail: format!("{} payload: {e}", entry.kind),
    })
}

fn time(entry: &Entry, text: &str) -> Result<SystemTime, BookError> {
    shuin_core::timefmt::parse_rfc3339(text).ok_or_else(|| BookError::Malformed {
        seq: entry.seq,
        detail: format!("{}: {text:?} is not RFC 3339", entry.kind),
    })
}

impl Roster {
    /// An empty roster (nothing replayed yet).
    pub fn new() -> Roster {
        Roster::default()
    }

    /// Replays stored rows, in order, from where the roster stands. Each row's leaf hash
    /// is checked against its bytes, so a row edited without its hash is refused.
    pub fn catch_up(&mut self, rows: &[StoredEntry]) -> Result<(), BookError> {
        for row in rows {
            if row.seq < self.next_seq {
                continue;
            }
            if row.seq != self.next_seq {
                return Err(BookError::Gap {
                    expected: self.next_seq,
                    found: row.seq,
                });
            }
            let hash = hex::encode(shuin_ledger::merkle::leaf_hash(&row.canonical));
            if hash != row.leaf_hash_hex {
                return Err(BookError::Malformed {
                    seq: row.seq,
                    detail: "the stored leaf hash does not match the entry".into(),
                });
            }
            let entry =
                Entry::from_canonical(&row.canonical).map_err(|e| BookError::Malformed {
                    seq: row.seq,
                    detail: e.to_string(),
                })?;
            self.apply(&entry)?;
            self.next_seq = row.seq + 1;
        }
        Ok(())
    }

    /// The next ledger position the roster has not seen.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Applies one entry (entries of other books, and other kinds, change nothing). A
    /// change no signed request of a ca_admin warrants has no effect and is listed in
    /// [`Roster::unwarranted`].
    pub fn apply(&mut self, entry: &Entry) -> Result<(), BookError> {
        if entry.kind == kinds::REQUEST {
            self.note_request(entry);
            return Ok(());
        }
        if entry.book != Book::Organization {
            return Ok(());
        }
        if entry.kind == shuin_ledger::operator_audit::ROSTER_RECEIVED {
            // Only an RA node's books hold handed rosters: in books that keep an
            // organisation of their own (the CA's), such a row has no effect.
            let taken = match self.own_organisation {
                true => Err("a handed roster in books that keep their own organisation".into()),
                false => self.take_handed(entry).map_err(|e| e.to_string()),
            };
            if let Err(why) = taken {
                self.unwarranted.push((entry.seq, why));
            }
            return Ok(());
        }
        if entry.kind == OPERATOR_CA_CREATED {
            self.own_organisation = true;
        }
        if let Err(why) = self.apply_passkey(entry)? {
            self.unwarranted.push((entry.seq, why));
            return Ok(());
        }
        let Some((name, role, spki)) = change_of(entry)? else {
            return Ok(());
        };
        self.own_organisation = true;
        if let Err(why) = self.warranted(entry, &name, role, spki.as_deref()) {
            self.unwarranted.push((entry.seq, why));
            return Ok(());
        }
        match entry.kind.as_str() {
            kinds::ROLE_GRANTED | kinds::LEGACY_ADDED => {
                if let Some(role) = role {
                    self.record(&name, &entry.time).roles.insert(role);
                }
            }
            kinds::ROLE_REMOVED => {
                if let (Some(op), Some(role)) = (self.operators.get_mut(&name), role) {
                    op.roles.remove(&role);
                }
                if role == Some(Role::ResponsiblePerson)
                    && self.responsible_person.as_deref() == Some(name.as_str())
                {
                    self.responsible_person = None;
                }
            }
            kinds::ENROLLED => self.enrol(entry)?,
            kinds::CERTIFICATE_REVOKED => self.revoke(entry)?,
            kinds::RESPONSIBLE_PERSON_DESIGNATED => self.responsible_person = Some(name),
            _ => {}
        }
        Ok(())
    }

    fn note_request(&mut self, entry: &Entry) {
        self.requests_seen = true;
        match warrant::from_request(self, entry) {
            Ok(w) if warrant::changes_roles(&w) && !self.warrant_nonces.insert(w.nonce.clone()) => {
                self.unwarranted.push((
                    entry.seq,
                    "a signed request copied into the book again (its nonce was used)".into(),
                ));
            }
            Ok(w) => {
                let kept = self.warrants.entry(entry.actor.name.clone()).or_default();
                if kept.len() == WARRANTS_KEPT {
                    kept.remove(0);
                }
                kept.push(w);
            }
            Err(why) => self.unwarranted.push((entry.seq, why)),
        }
    }

    /// Whether a warrant covers `entry`; the warrant is spent for that change (each
    /// request warrants each of its changes once).
    fn warranted(
        &mut self,
        entry: &Entry,
        name: &str,
        role: Option<Role>,
        spki: Option<&[u8]>,
    ) -> Result<(), String> {
        if !self.requests_seen
            && (entry.actor.name == INIT_ACTOR || entry.kind == kinds::LEGACY_ADDED)
        {
            return Ok(());
        }
        let change = warrant::change_key(entry);
        let covered = self
            .warrants
            .get_mut(&entry.actor.name)
            .is_some_and(|kept| {
                kept.iter_mut()
                    .find(|w| !w.spent(&change) && warrant::covers(w, entry, name, role, spki))
                    .map(|w| w.spend(change))
                    .is_some()
            });
        if covered {
            Ok(())
        } else {
            Err(format!(
                "{} for {name:?} is not warranted by a signed request of a ca_admin",
                entry.kind
            ))
        }
    }

    /// Spends the newest unspent `passkey_invite` request of `name`: each request
    /// warrants one invitation.
    pub(super) fn spend_invite_warrant(&mut self, name: &str) -> bool {
        let change = shuin_ledger::passkey_registration::INVITED.to_owned();
        self.warrants
            .get_mut(name)
            .and_then(|kept| {
                kept.iter_mut().rev().find(|w| {
                    w.action() == shuin_core::Action::PasskeyInvite
                        && w.by_operator_key()
                        && !w.spent(&change)
                })
            })
            .map(|w| w.spend(change))
            .is_some()
    }

    /// Spends the newest unspent `passkey_remove` request of `actor` naming
    /// `credential_id`; `for_others` asks for one a ca_admin signed with the operator key.
    pub(super) fn spend_remove_warrant(
        &mut self,
        actor: &str,
        credential_id: &str,
        for_others: bool,
    ) -> bool {
        let change = format!(
            "{}:{credential_id}",
            shuin_ledger::passkey_registration::REMOVED
        );
        self.warrants
            .get_mut(actor)
            .and_then(|kept| {
                kept.iter_mut().rev().find(|w| {
                    w.action() == shuin_core::Action::PasskeyRemove
                        && w.param("credential_id") == Some(credential_id)
                        && (!for_others || w.by_admin())
                        && !w.spent(&change)
                })
            })
            .map(|w| w.spend(change))
            .is_some()
    }

    fn revoke(&mut self, entry: &Entry) -> Result<(), BookError> {
        let p: CertificateRevoked = payload(entry)?;
        let at = time(entry, &p.revoked_at)?;
        let found = self
            .operators
            .get_mut(&p.name)
            .and_then(|op| {
                op.certificates
                    .iter_mut()
                    .find(|c| c.sha256 == p.certificate_sha256)
            })
            .ok_or_else(|| BookError::Malformed {
                seq: entry.seq,
                detail: format!("revokes an unknown certificate of {:?}", p.name),
            })?;
        found.revoked = Some(Revoked {
            at,
            reason: p.reason,
        });
        Ok(())
    }

    /// Changes that had no effect because nothing warranted them: (seq, why).
    pub fn unwarranted(&self) -> &[(u64, String)] {
        &self.unwarranted
    }

    fn record(&mut self, name: &str, since: &str) -> &mut OperatorRecord {
        self.operators
            .entry(name.to_owned())
            .or_insert_with(|| OperatorRecord {
                name: name.to_owned(),
                roles: BTreeSet::new(),
                certificates: Vec::new(),
                since: since.to_owned(),
            })
    }

    fn enrol(&mut self, entry: &Entry) -> Result<(), BookError> {
        use base64::Engine;
        let p: Enrolled = payload(entry)?;
        let der = base64::engine::general_purpose::STANDARD
            .decode(&p.certificate)
            .map_err(|e| BookError::Malformed {
                seq: entry.seq,
                detail: format!("certificate: {e}"),
            })?;
        if hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&der)) != p.certificate_sha256 {
            return Err(BookError::Malformed {
                seq: entry.seq,
                detail: "certificate_sha256 is not the certificate's hash".into(),
            });
        }
        if let Some(holder) = self.keys.get(&p.key_sha256) {
            if holder != &p.name {
                return Err(BookError::Malformed {
                    seq: entry.seq,
                    detail: format!("the key is already enrolled for {holder:?}"),
                });
            }
        }
        let certificate = OperatorCertificate {
            sha256: p.certificate_sha256.clone(),
            der,
            serial: p.serial,
            key_sha256: p.key_sha256.clone(),
            not_before: time(entry, &p.not_before)?,
            not_after: time(entry, &p.not_after)?,
            revoked: None,
            enrolled_seq: entry.seq,
        };
        self.keys.insert(p.key_sha256, p.name.clone());
        self.certificates
            .insert(p.certificate_sha256, p.name.clone());
        self.record(&p.name, &entry.time)
            .certificates
            .push(certificate);
        Ok(())
    }

    /// One operator.
    pub fn operator(&self, name: &str) -> Option<&OperatorRecord> {
        self.operators.get(name)
    }

    /// Every operator, by name.
    pub fn operators(&self) -> impl Iterator<Item = &OperatorRecord> {
        self.operators.values()
    }

    /// The operator whose key has SHA-256 `key_sha256` (hex of the SPKI DER).
    pub fn by_key(&self, key_sha256: &str) -> Option<&OperatorRecord> {
        self.keys
            .get(key_sha256)
            .and_then(|n| self.operators.get(n))
    }

    /// The operator and certificate with SHA-256 `certificate_sha256`.
    pub fn by_certificate(
        &self,
        certificate_sha256: &str,
    ) -> Option<(&OperatorRecord, &OperatorCertificate)> {
        let op = self
            .certificates
            .get(certificate_sha256)
            .and_then(|n| self.operators.get(n))?;
        let cert = op
            .certificates
            .iter()
            .find(|c| c.sha256 == certificate_sha256)?;
        Some((op, cert))
    }

    /// Whether anyone holds `role`.
    pub fn anyone_holds(&self, role: Role) -> bool {
        self.operators.values().any(|op| op.holds(role))
    }

    /// The designated responsible person (責任者), if they still hold the role.
    pub fn responsible_person(&self) -> Option<&OperatorRecord> {
        self.responsible_person
            .as_deref()
            .and_then(|n| self.operators.get(n))
            .filter(|op| op.holds(Role::ResponsiblePerson))
    }

    /// Every revoked operator certificate (for the operator CA's CRL).
    pub fn revoked_certificates(&self) -> Vec<(&OperatorRecord, &OperatorCertificate)> {
        self.operators
            .values()
            .flat_map(|op| op.certificates.iter().map(move |c| (op, c)))
            .filter(|(_, c)| c.revoked.is_some())
            .collect()
    }
}
