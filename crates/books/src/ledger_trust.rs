//! What the stored ledger is checked against besides itself (DESIGN.md section 11;
//! docs/ledger.md, "Pinned audit key and forward heads"): the audit key pinned in
//! `shuin.toml`, the last signed head kept in the instance directory, and the
//! checkpoint interval. `shuin ledger verify --data` runs [`check`] after the entries,
//! the tree and the checkpoints have verified on their own.

use shuin_ledger::head_file::HeadFile;
use shuin_ledger::trust::{
    advance_rows, check_pin, AuditKeyPin, Freshness, SignedHead, TrustError,
};
use shuin_ledger::{CompactTree, Entry, NoteKey, StoredEntry};
use shuin_store::StoredCheckpoint;
use std::path::Path;
use std::time::SystemTime;

/// The instance's anchors for its stored ledger.
#[derive(Debug, Clone)]
pub struct LedgerTrust {
    /// The pinned audit key (`[ledger] audit_key_sha256`, or `--audit-key-sha256`).
    pub pin: Option<AuditKeyPin>,
    /// Whether the pin and the last signed head are required (every instance but a
    /// development one).
    pub required: bool,
    /// The last signed head's note, if the file exists.
    pub last_head: Option<String>,
    /// How recent the newest checkpoint must be.
    pub freshness: Freshness,
    /// The time now, from the injected clock.
    pub now: SystemTime,
}

impl LedgerTrust {
    /// The anchors of the instance in `dir`: its last signed head file is read.
    ///
    /// # Errors
    ///
    /// The head file exists but cannot be read.
    pub fn read(
        dir: &Path,
        pin: Option<AuditKeyPin>,
        required: bool,
        freshness: Freshness,
        now: SystemTime,
    ) -> std::io::Result<LedgerTrust> {
        Ok(LedgerTrust {
            pin,
            required,
            last_head: HeadFile::in_dir(dir).load()?,
            freshness,
            now,
        })
    }
}

/// What [`check`] established.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrustFacts {
    /// The audit key's fingerprint (none before the first key is made).
    pub audit_key_sha256: Option<String>,
    /// Whether it was checked against a pin.
    pub pinned: bool,
    /// The last signed head's size, if one is kept.
    pub last_head_size: Option<u64>,
}

/// Checks the stored ledger (`rows`, already verified, and its `checkpoints`, checked
/// with `key`) against `trust`.
///
/// # Errors
///
/// The first [`TrustError`]: another key than the pinned one (or none pinned where one
/// is required), a last signed head the entries or the checkpoints do not reach, or a
/// newest checkpoint older than the interval allows.
pub fn check(
    rows: &[StoredEntry],
    checkpoints: &[StoredCheckpoint],
    key: Option<&NoteKey>,
    trust: &LedgerTrust,
) -> Result<TrustFacts, TrustError> {
    let mut facts = TrustFacts::default();
    if let Some(key) = key {
        check_pin(trust.pin.as_ref(), key, trust.required)?;
        facts.audit_key_sha256 = Some(AuditKeyPin::of_key(key).hex());
        facts.pinned = trust.pin.is_some();
    }
    let size = u64::try_from(rows.len()).unwrap_or(u64::MAX);
    let newest = checkpoints.last().map(|c| c.size);
    match (&trust.last_head, key) {
        (Some(note), Some(key)) => {
            let signed = SignedHead::open(note, key)?;
            advance_rows(
                &mut CompactTree::new(),
                rows.iter()
                    .take(usize::try_from(signed.size).unwrap_or(usize::MAX))
                    .map(|row| row.canonical.as_slice()),
                Some(&signed),
            )?;
            if newest.unwrap_or(0) < signed.size {
                return Err(TrustError::CheckpointsMissing {
                    signed_size: signed.size,
                    stored: newest.unwrap_or(0),
                });
            }
            facts.last_head_size = Some(signed.size);
        }
        (Some(_), None) => {
            return Err(TrustError::LastHeadUnreadable(
                "a last signed head is kept but the facility book records no audit key".into(),
            ))
        }
        (None, _) if trust.required && size > 0 => {
            return Err(TrustError::LastHeadMissing(format!(
                "{} is missing from the instance directory: it is written by init and by every checkpoint",
                shuin_ledger::head_file::HEAD_FILE
            )))
        }
        (None, _) => {}
    }
    let oldest_unsigned = newest
        .map_or(rows.first(), |n| {
            rows.get(usize::try_from(n).unwrap_or(usize::MAX))
        })
        .and_then(|row| {
            let entry = Entry::from_canonical(&row.canonical).ok()?;
            Some((entry.seq, shuin_core::timefmt::parse_rfc3339(&entry.time)?))
        });
    trust
        .freshness
        .check(size, newest, oldest_unsigned, trust.now)?;
    Ok(facts)
}
