//! Ledger trust (DESIGN.md section 11; docs/ledger.md, "Pinned audit key and forward
//! heads"): the audit key's pin, the last signed head kept outside the database, and
//! how recent the newest checkpoint must be.
//!
//! - **The pin** is the lowercase hex SHA-256 of the audit key's DER
//!   SubjectPublicKeyInfo, the `public_key_sha256` the facility book records with the key
//!   (`[ledger] audit_key_sha256` in `shuin.toml`). A key with another fingerprint is
//!   refused whatever the ledger says.
//! - **Forward heads.** A new tree head may be signed only if it extends the last signed
//!   head: same size and root, or larger with the signed root at the signed size
//!   ([`advance`] recomputes it from the leaves, the strongest consistency check).
//! - **Freshness.** A non-empty ledger needs a checkpoint, and entries may not stay
//!   unsigned for much longer than the configured interval ([`Freshness`]).
//!
//! Every refusal is a [`TrustError`] whose [`TrustError::code`] is a stable snake_case
//! reason code, also the first word of its message.

use crate::merkle::{self, CompactTree};
use crate::{Actor, Book, Checkpoint, EntryDraft, NoteKey};
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime};

/// Why the ledger or a head is not trusted. The message starts with [`TrustError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// A configured pin is not 64 hex digits.
    #[error("invalid_audit_key_pin: {0:?} is not a SHA-256 (64 hex digits)")]
    InvalidPin(String),
    /// The audit key is not the pinned one.
    #[error("audit_key_mismatch: the audit key has SHA-256 {found} but the pin expects {expected}: refusing a key that is not the instance's")]
    AuditKeyMismatch {
        /// The pinned fingerprint.
        expected: String,
        /// The key's fingerprint.
        found: String,
    },
    /// No pin is configured where one is required.
    #[error("audit_key_not_pinned: no audit key is pinned; after checking it against the facility book's key.generated entry, add `audit_key_sha256 = \"{found}\"` under [ledger] in shuin.toml")]
    AuditKeyNotPinned {
        /// The fingerprint of the key found.
        found: String,
    },
    /// Entries exist but no checkpoint signs any of them.
    #[error("no_checkpoint: the ledger holds {entries} entries but no signed checkpoint (start the server or run `shuin ledger export` to sign one)")]
    NoCheckpoint {
        /// How many entries.
        entries: u64,
    },
    /// Too many entries follow the newest checkpoint.
    #[error("checkpoint_stale: {unsigned} entries follow the newest checkpoint (size {signed}); at most {allowed} may (start the server or run `shuin ledger export` to sign one)")]
    TooManyUnsigned {
        /// Entries after the newest checkpoint.
        unsigned: u64,
        /// The newest checkpoint's size.
        signed: u64,
        /// The limit (the interval and its slack).
        allowed: u64,
    },
    /// An entry has stayed unsigned for too long.
    #[error("checkpoint_stale: entry {seq} ({time}) is not covered by a checkpoint after {age_seconds} s; at most {allowed_seconds} s are allowed (start the server or run `shuin ledger export` to sign one)")]
    UnsignedTooLong {
        /// The oldest unsigned entry.
        seq: u64,
        /// Its time.
        time: String,
        /// How long it has been unsigned.
        age_seconds: u64,
        /// The limit (the interval and its slack).
        allowed_seconds: u64,
    },
    /// The last signed head kept outside the database is missing.
    #[error("last_head_missing: {0}")]
    LastHeadMissing(String),
    /// The last signed head does not open with the audit key.
    #[error("last_head_unreadable: {0}")]
    LastHeadUnreadable(String),
    /// The ledger holds fewer entries than the last signed head.
    #[error("ledger_rolled_back: the last signed head covers {signed_size} entries but the ledger holds {size}: the database was rolled back or truncated")]
    LedgerRolledBack {
        /// The last signed head's size.
        signed_size: u64,
        /// The ledger's size.
        size: u64,
    },
    /// The entries give another root at the last signed head's size.
    #[error("history_rewritten: the last signed head has root {signed_root} at size {size} but the entries give {found_root}: entries were rewritten")]
    HistoryRewritten {
        /// The last signed head's size.
        size: u64,
        /// Its root (hex).
        signed_root: String,
        /// What the entries give (hex).
        found_root: String,
    },
    /// The database's checkpoints stop short of the last signed head.
    #[error("checkpoints_missing: the last signed head covers {signed_size} entries but the newest stored checkpoint covers {stored}: checkpoints were deleted")]
    CheckpointsMissing {
        /// The last signed head's size.
        signed_size: u64,
        /// The newest stored checkpoint's size (0 for none).
        stored: u64,
    },
    /// The stored tree head is not what the entries give.
    #[error("stored_head_mismatch: the stored tree head has root {stored_root} at size {size} but the entries give {computed_root}")]
    StoredHeadMismatch {
        /// The size.
        size: u64,
        /// The stored root (hex).
        stored_root: String,
        /// The computed root (hex).
        computed_root: String,
    },
}

impl TrustError {
    /// The stable snake_case reason code.
    pub fn code(&self) -> &'static str {
        match self {
            TrustError::InvalidPin(_) => "invalid_audit_key_pin",
            TrustError::AuditKeyMismatch { .. } => "audit_key_mismatch",
            TrustError::AuditKeyNotPinned { .. } => "audit_key_not_pinned",
            TrustError::NoCheckpoint { .. } => "no_checkpoint",
            TrustError::TooManyUnsigned { .. } | TrustError::UnsignedTooLong { .. } => {
                "checkpoint_stale"
            }
            TrustError::LastHeadMissing(_) => "last_head_missing",
            TrustError::LastHeadUnreadable(_) => "last_head_unreadable",
            TrustError::LedgerRolledBack { .. } => "ledger_rolled_back",
            TrustError::HistoryRewritten { .. } => "history_rewritten",
            TrustError::CheckpointsMissing { .. } => "checkpoints_missing",
            TrustError::StoredHeadMismatch { .. } => "stored_head_mismatch",
        }
    }
}

/// The pinned fingerprint of the audit key: SHA-256 of its DER SubjectPublicKeyInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditKeyPin([u8; 32]);

impl AuditKeyPin {
    /// Parses 64 hex digits (either case).
    ///
    /// # Errors
    ///
    /// [`TrustError::InvalidPin`].
    pub fn parse(text: &str) -> Result<AuditKeyPin, TrustError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes)
            .map_err(|_| TrustError::InvalidPin(text.to_owned()))?;
        Ok(AuditKeyPin(bytes))
    }

    /// The fingerprint of `key`.
    pub fn of_key(key: &NoteKey) -> AuditKeyPin {
        AuditKeyPin(Sha256::digest(key.spki_der()).into())
    }

    /// Lowercase hex.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// `key` is the pinned key.
    ///
    /// # Errors
    ///
    /// [`TrustError::AuditKeyMismatch`] naming both fingerprints.
    pub fn check(&self, key: &NoteKey) -> Result<(), TrustError> {
        let found = AuditKeyPin::of_key(key);
        if found == *self {
            Ok(())
        } else {
            Err(TrustError::AuditKeyMismatch {
                expected: self.hex(),
                found: found.hex(),
            })
        }
    }
}

/// Checks `key` against `pin`; without a pin, [`TrustError::AuditKeyNotPinned`] when
/// `required`, else nothing.
///
/// # Errors
///
/// As [`AuditKeyPin::check`], or [`TrustError::AuditKeyNotPinned`].
pub fn check_pin(
    pin: Option<&AuditKeyPin>,
    key: &NoteKey,
    required: bool,
) -> Result<(), TrustError> {
    match pin {
        Some(pin) => pin.check(key),
        None if required => Err(TrustError::AuditKeyNotPinned {
            found: AuditKeyPin::of_key(key).hex(),
        }),
        None => Ok(()),
    }
}

/// How recent the newest checkpoint must be: the configured interval, with slack for a
/// busy or restarting signer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// A checkpoint is due once this many entries follow the last one.
    pub every_entries: u64,
    /// A checkpoint is due when new entries are this old.
    pub every: Duration,
}

/// Slack on the time interval, for a server restarting or a clock step.
pub const FRESHNESS_SLACK: Duration = Duration::from_secs(300);

impl Freshness {
    /// At most this many entries may follow the newest checkpoint: twice the interval.
    pub fn allowed_entries(&self) -> u64 {
        self.every_entries.saturating_mul(2)
    }

    /// An entry may stay unsigned at most this long: twice the interval and
    /// [`FRESHNESS_SLACK`].
    pub fn allowed_age(&self) -> Duration {
        self.every.saturating_mul(2).saturating_add(FRESHNESS_SLACK)
    }

    /// Checks a ledger of `size` entries whose newest checkpoint has size `signed`
    /// (`None`: no checkpoint); `oldest_unsigned` is the seq and time of the first entry
    /// after it, if any.
    ///
    /// # Errors
    ///
    /// [`TrustError::NoCheckpoint`], [`TrustError::TooManyUnsigned`] or
    /// [`TrustError::UnsignedTooLong`].
    pub fn check(
        &self,
        size: u64,
        signed: Option<u64>,
        oldest_unsigned: Option<(u64, SystemTime)>,
        now: SystemTime,
    ) -> Result<(), TrustError> {
        let Some(signed) = signed else {
            return if size == 0 {
                Ok(())
            } else {
                Err(TrustError::NoCheckpoint { entries: size })
            };
        };
        let unsigned = size.saturating_sub(signed);
        if unsigned > self.allowed_entries() {
            return Err(TrustError::TooManyUnsigned {
                unsigned,
                signed,
                allowed: self.allowed_entries(),
            });
        }
        if let Some((seq, time)) = oldest_unsigned {
            let age = now.duration_since(time).unwrap_or_default();
            if age > self.allowed_age() {
                return Err(TrustError::UnsignedTooLong {
                    seq,
                    time: shuin_core::timefmt::rfc3339(time),
                    age_seconds: age.as_secs(),
                    allowed_seconds: self.allowed_age().as_secs(),
                });
            }
        }
        Ok(())
    }
}

/// A signed tree head: the checkpoint note and what it signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHead {
    /// The tree size.
    pub size: u64,
    /// The root hash.
    pub root: [u8; 32],
    /// The signed note, as signed.
    pub note: String,
}

impl SignedHead {
    /// Opens `note` with the audit key.
    ///
    /// # Errors
    ///
    /// [`TrustError::LastHeadUnreadable`].
    pub fn open(note: &str, key: &NoteKey) -> Result<SignedHead, TrustError> {
        let checkpoint = Checkpoint::open(note, key).map_err(|e| {
            TrustError::LastHeadUnreadable(format!(
                "the last signed head does not open with the audit key: {e}"
            ))
        })?;
        Ok(SignedHead {
            size: checkpoint.size,
            root: checkpoint.root,
            note: note.to_owned(),
        })
    }
}

/// Appends `leaves` to `tree`, which must not be past `signed`'s size, and checks that
/// the tree has `signed`'s root when it reaches its size.
///
/// # Errors
///
/// [`TrustError::HistoryRewritten`], or [`TrustError::LedgerRolledBack`] when the leaves
/// end before `signed`'s size.
pub fn advance(
    tree: &mut CompactTree,
    leaves: impl IntoIterator<Item = [u8; 32]>,
    signed: Option<&SignedHead>,
) -> Result<(), TrustError> {
    let check = |tree: &CompactTree| -> Result<(), TrustError> {
        match signed {
            Some(head) if head.size == tree.size() && head.root != tree.root() => {
                Err(TrustError::HistoryRewritten {
                    size: head.size,
                    signed_root: hex::encode(head.root),
                    found_root: hex::encode(tree.root()),
                })
            }
            _ => Ok(()),
        }
    };
    for leaf in leaves {
        check(tree)?;
        tree.append(leaf);
    }
    check(tree)?;
    match signed {
        Some(head) if head.size > tree.size() => Err(TrustError::LedgerRolledBack {
            signed_size: head.size,
            size: tree.size(),
        }),
        _ => Ok(()),
    }
}

/// The tree of the canonical entries `rows` appended to `tree` (from its size on),
/// checked against `signed` on the way ([`advance`]).
///
/// # Errors
///
/// As [`advance`].
pub fn advance_rows<'a>(
    tree: &mut CompactTree,
    rows: impl IntoIterator<Item = &'a [u8]>,
    signed: Option<&SignedHead>,
) -> Result<(), TrustError> {
    advance(tree, rows.into_iter().map(merkle::leaf_hash), signed)
}

/// A typed ledger entry kind: its name and the book it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryKind {
    /// The kind, as `<topic>.<event>`.
    pub name: &'static str,
    /// The book that holds it.
    pub book: Book,
}

impl EntryKind {
    /// A draft of this kind.
    pub fn draft(
        &self,
        actor: Actor,
        subjects: Vec<String>,
        payload: serde_json::Value,
    ) -> EntryDraft {
        EntryDraft {
            book: self.book,
            kind: self.name.to_owned(),
            actor,
            subjects,
            payload,
            evidence: Vec::new(),
        }
    }
}

/// The audit key refused to sign a head that does not extend the last signed one.
pub const CHECKPOINT_REFUSED: EntryKind = EntryKind {
    name: "checkpoint.refused",
    book: Book::Facility,
};

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn leaves(n: u8) -> Vec<[u8; 32]> {
        (0..n).map(|i| merkle::leaf_hash(&[i])).collect()
    }

    fn head_of(leaves: &[[u8; 32]]) -> SignedHead {
        SignedHead {
            size: u64::try_from(leaves.len()).unwrap(),
            root: merkle::root(leaves),
            note: String::new(),
        }
    }

    #[test]
    fn a_pin_parses_and_is_compared_with_the_key() {
        assert_eq!(
            AuditKeyPin::parse("xyz").unwrap_err().code(),
            "invalid_audit_key_pin"
        );
        let pin = AuditKeyPin::parse(&"AB".repeat(32)).unwrap();
        assert_eq!(pin.hex(), "ab".repeat(32));
    }

    #[test]
    fn a_head_extending_the_signed_one_passes_and_a_rewritten_one_fails() {
        let all = leaves(10);
        let signed = head_of(&all[..6]);
        let mut tree = CompactTree::new();
        advance(&mut tree, all.iter().copied(), Some(&signed)).unwrap();
        assert_eq!(tree.root(), merkle::root(&all));
        // From a frontier at the signed size on.
        let mut tree = CompactTree::new();
        advance(&mut tree, all[..6].iter().copied(), None).unwrap();
        advance(&mut tree, all[6..].iter().copied(), Some(&signed)).unwrap();

        let mut forged = all.clone();
        forged[2] = merkle::leaf_hash(b"forged");
        let error = advance(&mut CompactTree::new(), forged, Some(&signed)).unwrap_err();
        assert_eq!(error.code(), "history_rewritten");
        assert!(error.to_string().starts_with("history_rewritten: "));

        let error = advance(&mut CompactTree::new(), all[..4].to_vec(), Some(&signed));
        assert_eq!(error.unwrap_err().code(), "ledger_rolled_back");
    }

    #[test]
    fn freshness_needs_a_checkpoint_and_bounds_unsigned_entries() {
        let rule = Freshness {
            every_entries: 10,
            every: Duration::from_secs(60),
        };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100_000);
        rule.check(0, None, None, now).unwrap();
        assert_eq!(
            rule.check(3, None, None, now).unwrap_err().code(),
            "no_checkpoint"
        );
        rule.check(25, Some(5), Some((5, now)), now).unwrap();
        let error = rule.check(26, Some(5), Some((5, now)), now).unwrap_err();
        assert_eq!(error.code(), "checkpoint_stale");
        let old = now - Duration::from_secs(421);
        let error = rule.check(6, Some(5), Some((5, old)), now).unwrap_err();
        assert!(
            matches!(error, TrustError::UnsignedTooLong { seq: 5, .. }),
            "{error}"
        );
        rule.check(6, Some(5), Some((5, now - Duration::from_secs(420))), now)
            .unwrap();
    }

    #[test]
    fn the_refusal_kind_belongs_to_the_facility_book() {
        let actor = Actor {
            name: "shuin-ledger".into(),
            role: "system".into(),
            zone: "high_security".into(),
        };
        let draft = CHECKPOINT_REFUSED.draft(actor, vec![], serde_json::json!({}));
        assert_eq!(
            (draft.book, draft.kind.as_str()),
            (Book::Facility, "checkpoint.refused")
        );
    }
}
