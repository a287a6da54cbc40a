//! Operator sessions (DESIGN.md section 9): every authenticated connection to an
//! operator listener is a session, and the facility book records its opening and its
//! closing.
//!
//! - `session.opened` names the operator (the certificate's CN, as enrolled), the
//!   SHA-256 of their key and of their certificate, the zone of the listener and the
//!   peer's address. It is written before the connection serves anything: if the books
//!   cannot take it, the connection is refused (fail closed).
//! - `session.closed` points at its opening entry and counts the actions done and the
//!   requests refused in the session, with the refusals per reason code. However many
//!   requests a client sends, a session adds these two entries (and what the gate's own
//!   refusal budget lets it record), so a flood of refusals cannot grow the books
//!   without bound.

use serde_json::json;
use shuin_core::Zone;
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{LedgerStore, StoreError};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// The entry kinds of sessions, in the facility book.
pub mod kinds {
    /// A session began (before it serves anything).
    pub const OPENED: &str = "session.opened";
    /// A session ended, with its counts.
    pub const CLOSED: &str = "session.closed";
}

/// The most distinct refusal codes a session's record lists; more are counted under
/// [`OTHER_CODES`].
pub const MAX_CODES: usize = 32;
/// Where refusal codes past [`MAX_CODES`] are counted.
pub const OTHER_CODES: &str = "other";

/// Who connected, from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOpening {
    /// The operator's name: the CN of their operator certificate.
    pub operator: String,
    /// SHA-256 (hex) of the certificate's SubjectPublicKeyInfo (the operator's key).
    pub key_sha256: String,
    /// SHA-256 (hex) of the certificate.
    pub certificate_sha256: String,
    /// The zone of the listener.
    pub zone: Zone,
    /// The peer's address.
    pub peer: String,
}

/// What happened in a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionTally {
    /// Requests that passed the gate and were done.
    pub actions: u64,
    /// Requests refused (at the session's binding, at the gate, or by the action).
    pub refusals: u64,
    /// Refusals per stable reason code (at most [`MAX_CODES`] codes, then
    /// [`OTHER_CODES`]).
    pub refusal_codes: BTreeMap<String, u64>,
    /// Requests that failed on the server's side.
    pub failures: u64,
}

impl SessionTally {
    /// Counts one refusal with `code`.
    pub fn refused(&mut self, code: &str) {
        self.refusals = self.refusals.saturating_add(1);
        let key = if self.refusal_codes.contains_key(code) || self.refusal_codes.len() < MAX_CODES {
            code
        } else {
            OTHER_CODES
        };
        let count = self.refusal_codes.entry(key.to_owned()).or_default();
        *count = count.saturating_add(1);
    }
}

fn actor(opening: &SessionOpening) -> Actor {
    Actor {
        name: opening.operator.clone(),
        role: "session".into(),
        zone: opening.zone.as_str().into(),
    }
}

/// Records the opening of a session; returns the position of its entry, which names the
/// session. Nothing may be served on the connection unless this succeeded.
pub async fn open<S: LedgerStore + ?Sized>(
    store: &S,
    opening: &SessionOpening,
    now: SystemTime,
) -> Result<u64, StoreError> {
    let entry = store
        .append(
            EntryDraft {
                book: Book::Facility,
                kind: kinds::OPENED.into(),
                actor: actor(opening),
                subjects: vec![format!("operator:{}", opening.operator)],
                payload: json!({
                    "operator": opening.operator,
                    "key_sha256": opening.key_sha256,
                    "certificate_sha256": opening.certificate_sha256,
                    "zone": opening.zone,
                    "peer": opening.peer,
                }),
                evidence: vec![],
            },
            now,
        )
        .await?;
    Ok(entry.seq)
}

/// Records the closing of the session opened at `opened_seq`, with its counts.
pub async fn close<S: LedgerStore + ?Sized>(
    store: &S,
    opening: &SessionOpening,
    opened_seq: u64,
    tally: &SessionTally,
    lasted: Duration,
    now: SystemTime,
) -> Result<u64, StoreError> {
    let entry = store
        .append(
            EntryDraft {
                book: Book::Facility,
                kind: kinds::CLOSED.into(),
                actor: actor(opening),
                subjects: vec![
                    format!("operator:{}", opening.operator),
                    format!("session:{opened_seq}"),
                ],
                payload: json!({
                    "session": opened_seq,
                    "operator": opening.operator,
                    "zone": opening.zone,
                    "peer": opening.peer,
                    "actions": tally.actions,
                    "refusals": tally.refusals,
                    "refusal_codes": tally.refusal_codes,
                    "failures": tally.failures,
                    "seconds": lasted.as_secs(),
                }),
                evidence: vec![],
            },
            now,
        )
        .await?;
    Ok(entry.seq)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn refusal_codes_are_bounded() {
        let mut tally = SessionTally::default();
        for i in 0..100 {
            tally.refused(&format!("code_{i}"));
        }
        tally.refused("code_0");
        assert_eq!(tally.refusals, 101);
        assert_eq!(tally.refusal_codes.len(), MAX_CODES + 1);
        assert_eq!(tally.refusal_codes["code_0"], 2);
        assert_eq!(tally.refusal_codes[OTHER_CODES], 100 - 32);
    }
}
