//! The organisation book (DESIGN.md sections 6 and 8): operators, their certificates
//! from the operator CA, and their roles. Every fact is a ledger entry; whether someone
//! holds a role is decided by replaying the book ([`Roster`]). The [`Organisation`]
//! keeps a roster in memory and catches it up from the ledger before every decision, so
//! a cache never outlives the book it was built from.

mod listing;
mod passkeys;
mod refusals;
mod roster;
mod snapshot;
mod warrant;

pub use listing::OperatorListing;
pub use passkeys::{Invitation, OperatorPasskey};
pub use refusals::{RefusalBudget, RefusalNote, UnledgeredRefusals};
pub use roster::{OperatorCertificate, OperatorRecord, Revoked, Roster};
pub use snapshot::{HandedRoster, RosterFeed, RosterSnapshot, RosterUnavailable, ROSTER_FRESH_FOR};
pub use warrant::INIT_ACTOR;

use serde_json::json;
use shuin_core::{Role, Zone};
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{LedgerStore, StoreError};
use std::sync::Mutex;
use std::time::SystemTime;

/// The entry kinds of the organisation book that the roster replays.
pub mod kinds {
    /// An operator certificate was issued by the operator CA and enrolled.
    pub const ENROLLED: &str = "operator.enrolled";
    /// A role was granted.
    pub const ROLE_GRANTED: &str = "operator.role_granted";
    /// A role was removed.
    pub const ROLE_REMOVED: &str = "operator.role_removed";
    /// An operator certificate was revoked.
    pub const CERTIFICATE_REVOKED: &str = "operator.certificate_revoked";
    /// A role granted by name before operators had keys (still replayed).
    pub const LEGACY_ADDED: &str = "operator.added";
    /// The responsible person (責任者) was designated.
    pub const RESPONSIBLE_PERSON_DESIGNATED: &str = "organization.responsible_person_designated";
    /// A signed operator request, ledgered before it takes effect.
    pub const REQUEST: &str = "operator.request";
    /// A refused operator request.
    pub const REFUSED: &str = "operator.refused";
}

/// Why the organisation book could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BookError {
    /// An entry of the book does not decode as its kind requires.
    #[error("organisation book entry {seq}: {detail}")]
    Malformed {
        /// Its position.
        seq: u64,
        /// What is wrong.
        detail: String,
    },
    /// The stored rows skip a position.
    #[error("the ledger skips from position {expected} to {found}")]
    Gap {
        /// The position expected next.
        expected: u64,
        /// The position found.
        found: u64,
    },
    /// Storage trouble.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// An RA node holds no usable roster from its CA.
    #[error("{0}")]
    Handed(#[from] RosterUnavailable),
}

/// Ledger rows read at a time while the organisation book is replayed.
const REPLAY_PAGE: u64 = 1_000;

/// The organisation book of a running instance: a roster kept caught up with the
/// ledger.
#[derive(Debug, Default)]
pub struct Organisation {
    roster: Mutex<Roster>,
}

impl Organisation {
    /// An organisation that has replayed nothing yet.
    pub fn new() -> Organisation {
        Organisation::default()
    }

    /// Replays what the ledger gained since the last call and returns a copy of the
    /// roster as it stands.
    pub async fn roster<S: LedgerStore + ?Sized>(&self, store: &S) -> Result<Roster, BookError> {
        let mut current = self.snapshot();
        let known = current.unwarranted().len();
        // In pages: between two calls (an operator request, the upkeep's five minutes)
        // a busy CA may append many entries, and only the page in hand is held.
        loop {
            let rows = store
                .ledger_rows_page(current.next_seq(), REPLAY_PAGE)
                .await?;
            current.catch_up(&rows)?;
            if u64::try_from(rows.len()).unwrap_or(u64::MAX) < REPLAY_PAGE {
                break;
            }
        }
        for (seq, why) in current.unwarranted().iter().skip(known) {
            tracing::error!(
                seq,
                "the organisation book holds a change with no effect: {why}"
            );
        }
        let mut kept = self
            .roster
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.next_seq() > kept.next_seq() {
            *kept = current.clone();
        }
        Ok(current)
    }

    fn snapshot(&self) -> Roster {
        self.roster
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Replays the whole organisation book of `store` once (for one-off commands).
pub async fn replay<S: LedgerStore + ?Sized>(store: &S) -> Result<Roster, BookError> {
    Organisation::new().roster(store).await
}

/// The actor of an operator acting in `role` from `zone`.
pub fn actor(name: &str, role: Role, zone: Zone) -> Actor {
    Actor {
        name: name.to_owned(),
        role: role.as_str().to_owned(),
        zone: zone.as_str().to_owned(),
    }
}

fn organisation_entry(
    kind: &str,
    by: &Actor,
    name: &str,
    payload: serde_json::Value,
) -> EntryDraft {
    EntryDraft {
        book: Book::Organization,
        kind: kind.to_owned(),
        actor: by.clone(),
        subjects: vec![format!("operator:{name}")],
        payload,
        evidence: vec![],
    }
}

/// Ledgers a role grant (and, for the responsible person, their designation).
pub async fn grant<S: LedgerStore + ?Sized>(
    store: &S,
    name: &str,
    role: Role,
    by: &Actor,
    now: SystemTime,
) -> Result<(), BookError> {
    role_change(store, kinds::ROLE_GRANTED, name, role, by, now).await?;
    if role == Role::ResponsiblePerson {
        let payload = json!({"responsible_person": name});
        let draft = organisation_entry(kinds::RESPONSIBLE_PERSON_DESIGNATED, by, name, payload);
        store.append(draft, now).await?;
    }
    Ok(())
}

/// Ledgers the removal of a role.
pub async fn remove_role<S: LedgerStore + ?Sized>(
    store: &S,
    name: &str,
    role: Role,
    by: &Actor,
    now: SystemTime,
) -> Result<(), BookError> {
    role_change(store, kinds::ROLE_REMOVED, name, role, by, now).await
}

async fn role_change<S: LedgerStore + ?Sized>(
    store: &S,
    kind: &str,
    name: &str,
    role: Role,
    by: &Actor,
    now: SystemTime,
) -> Result<(), BookError> {
    let payload = json!({"name": name, "role": role});
    store
        .append(organisation_entry(kind, by, name, payload), now)
        .await?;
    Ok(())
}

/// What the book records of a newly issued operator certificate.
#[derive(Debug, Clone)]
pub struct Enrolment<'a> {
    /// The operator's name (the certificate's CN).
    pub name: &'a str,
    /// The certificate DER.
    pub certificate_der: &'a [u8],
    /// Its serial, hex.
    pub serial: &'a str,
    /// SHA-256 of its SubjectPublicKeyInfo DER, hex.
    pub key_sha256: &'a str,
    /// Validity.
    pub not_before: SystemTime,
    /// Validity.
    pub not_after: SystemTime,
}

/// Ledgers `operator.enrolled`.
pub async fn enrol<S: LedgerStore + ?Sized>(
    store: &S,
    enrolment: &Enrolment<'_>,
    by: &Actor,
    now: SystemTime,
) -> Result<(), BookError> {
    use base64::Engine;
    use sha2::Digest;
    let payload = json!({
        "name": enrolment.name,
        "certificate": base64::engine::general_purpose::STANDARD.encode(enrolment.certificate_der),
        "certificate_sha256": hex::encode(sha2::Sha256::digest(enrolment.certificate_der)),
        "serial": enrolment.serial,
        "key_sha256": enrolment.key_sha256,
        "not_before": shuin_core::timefmt::rfc3339(enrolment.not_before),
        "not_after": shuin_core::timefmt::rfc3339(enrolment.not_after),
    });
    store
        .append(
            organisation_entry(kinds::ENROLLED, by, enrolment.name, payload),
            now,
        )
        .await?;
    Ok(())
}

/// Ledgers the revocation of an operator certificate.
pub async fn revoke_certificate<S: LedgerStore + ?Sized>(
    store: &S,
    name: &str,
    certificate: &OperatorCertificate,
    reason: &str,
    by: &Actor,
    now: SystemTime,
) -> Result<(), BookError> {
    let payload = json!({
        "name": name,
        "certificate_sha256": certificate.sha256,
        "serial": certificate.serial,
        "reason": reason,
        "revoked_at": shuin_core::timefmt::rfc3339(now),
    });
    store
        .append(
            organisation_entry(kinds::CERTIFICATE_REVOKED, by, name, payload),
            now,
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
