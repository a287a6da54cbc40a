//! Ledger logic shared by every store: the text encoding of the compact Merkle state kept
//! in `ledger_state.compact`, and building the next entry from that state. Both stores
//! must encode identically so a database can be moved between them.

use crate::StoreError;
use shuin_ledger::{CompactTree, Entry, EntryDraft};
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

/// What one append writes: the entry row and the new `ledger_state` row, in database
/// types.
pub(crate) struct Appended {
    pub(crate) entry: Entry,
    pub(crate) seq: i64,
    pub(crate) canonical: Vec<u8>,
    pub(crate) leaf_hash_hex: String,
    pub(crate) size: i64,
    pub(crate) root_hex: String,
    pub(crate) compact: String,
}

/// Builds the next entry on `tree` (which it advances).
pub(crate) fn next_entry(
    tree: &mut CompactTree,
    draft: EntryDraft,
    time: SystemTime,
) -> Result<Appended, StoreError> {
    let seq = tree.size();
    let entry = draft.into_entry(seq, shuin_core::timefmt::rfc3339(time));
    let canonical = entry.canonical_bytes().map_err(corrupt)?;
    let leaf = entry.leaf_hash().map_err(corrupt)?;
    tree.append(leaf);
    Ok(Appended {
        entry,
        seq: i64::try_from(seq).map_err(corrupt)?,
        canonical,
        leaf_hash_hex: hex::encode(leaf),
        size: i64::try_from(tree.size()).map_err(corrupt)?,
        root_hex: hex::encode(tree.root()),
        compact: encode_state(&tree.to_state()),
    })
}

/// A stored leaf hash (64 hex digits) of row `seq`.
pub(crate) fn decode_leaf(seq: i64, text: &str) -> Result<[u8; 32], StoreError> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash)
        .map_err(|_| corrupt(format!("leaf hash of entry {seq} is not 64 hex digits")))?;
    Ok(hash)
}
