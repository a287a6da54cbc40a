//! Ledger logic shared by every store: the text encoding of the compact Merkle state kept
//! in `ledger_state.compact`, and planning what one ledger transaction writes from that
//! state. Both stores must encode identically so a database can be moved between them.

use crate::StoreError;
use shuin_ledger::{CompactTree, Entry, EntryDraft};
use std::collections::HashSet;
use std::time::SystemTime;

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("ledger: {what}"))
}

/// Comma-separated lowercase hex hashes; empty for an empty tree.
pub(crate) fn encode_state(hashes: &[[u8; 32]]) -> String {
    hashes.iter().map(hex::encode).collect::<Vec<_>>().join(",")
}

pub(crate) fn decode_state(text: &str) -> Result<Vec<[u8; 32]>, StoreError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|part| {
            let bytes = hex::decode(part).map_err(corrupt)?;
            <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| corrupt("compact state hash length"))
        })
        .collect()
}

/// The tree stored in `ledger_state` (`None` when there is no row yet).
pub(crate) fn tree_from_row(row: Option<(i64, String)>) -> Result<CompactTree, StoreError> {
    match row {
        Some((size, compact)) => {
            let size = u64::try_from(size).map_err(corrupt)?;
            CompactTree::from_state(size, decode_state(&compact)?).map_err(corrupt)
        }
        None => Ok(CompactTree::new()),
    }
}

/// One draft to append, with its idempotency key and the time it is appended at.
pub(crate) struct TimedDraft {
    pub(crate) key: Option<String>,
    pub(crate) draft: EntryDraft,
    pub(crate) time: SystemTime,
}

/// One `ledger_entries` row, in database types.
pub(crate) struct EntryRow {
    pub(crate) seq: i64,
    pub(crate) canonical: Vec<u8>,
    pub(crate) leaf_hash_hex: String,
}

/// The new `ledger_state` row.
pub(crate) struct HeadRow {
    pub(crate) size: i64,
    pub(crate) root_hex: String,
    pub(crate) compact: String,
}

/// What one ledger transaction writes.
pub(crate) struct Plan {
    /// Per draft given, in order: the entry written, or `None` when its key was seen.
    pub(crate) results: Vec<Option<Entry>>,
    /// The entry rows, in seq order.
    pub(crate) rows: Vec<EntryRow>,
    /// The new `ledger_keys` rows: key and seq.
    pub(crate) keys: Vec<(String, i64)>,
    /// The new tree head; `None` when nothing is written.
    pub(crate) head: Option<HeadRow>,
}

/// Plans appending `drafts` in order on `tree` (which it advances). A draft whose key is
/// in `seen` (keys already stored) or was used earlier in `drafts` is skipped.
pub(crate) fn plan(
    tree: &mut CompactTree,
    drafts: Vec<TimedDraft>,
    mut seen: HashSet<String>,
) -> Result<Plan, StoreError> {
    let mut plan = Plan {
        results: Vec::with_capacity(drafts.len()),
        rows: Vec::with_capacity(drafts.len()),
        keys: Vec::new(),
        head: None,
    };
    for TimedDraft { key, draft, time } in drafts {
        if let Some(key) = &key {
            if !seen.insert(key.clone()) {
                plan.results.push(None);
                continue;
            }
        }
        let seq = tree.size();
        let entry = draft.into_entry(seq, shuin_core::timefmt::rfc3339(time));
        let canonical = entry.canonical_bytes().map_err(corrupt)?;
        let leaf = shuin_ledger::merkle::leaf_hash(&canonical);
        tree.append(leaf);
        let seq = i64::try_from(seq).map_err(corrupt)?;
        if let Some(key) = key {
            plan.keys.push((key, seq));
        }
        plan.rows.push(EntryRow {
            seq,
            canonical,
            leaf_hash_hex: hex::encode(leaf),
        });
        plan.results.push(Some(entry));
    }
    if !plan.rows.is_empty() {
        plan.head = Some(HeadRow {
            size: i64::try_from(tree.size()).map_err(corrupt)?,
            root_hex: hex::encode(tree.root()),
            compact: encode_state(&tree.to_state()),
        });
    }
    Ok(plan)
}

/// A stored leaf hash (64 hex digits) of row `seq`.
pub(crate) fn decode_leaf(seq: i64, text: &str) -> Result<[u8; 32], StoreError> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash)
        .map_err(|_| corrupt(format!("leaf hash of entry {seq} is not 64 hex digits")))?;
    Ok(hash)
}
