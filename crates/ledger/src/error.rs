//! The error type for encoding, decoding and proving ledger data.

/// Failure to encode, decode or prove ledger data.
///
/// Every variant is permanent: retrying with the same input gives the same result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The entry could not be turned into a JSON value.
    #[error("cannot encode ledger entry as JSON")]
    Encode(#[source] serde_json::Error),
    /// The bytes are not JSON, or not JSON of the shape of an entry.
    #[error("bytes are not a ledger entry in JSON")]
    Decode(#[source] serde_json::Error),
    /// The bytes decode to an entry but are not its RFC 8785 canonical form (extra
    /// whitespace, unsorted or duplicate keys, non-minimal escapes, and so on).
    #[error("bytes are not in RFC 8785 canonical form (first difference at byte {offset})")]
    NotCanonical {
        /// Offset of the first byte that differs from the canonical form.
        offset: usize,
    },
    /// A number that ledger JSON does not carry: a non-integer, or an integer outside
    /// the IEEE 754 safe range ±(2^53 − 1) (see [`crate::canonical`]).
    #[error("number {number} is not allowed in ledger JSON: only integers within ±(2^53 - 1) are")]
    UnsupportedNumber {
        /// The number as serde_json prints it.
        number: String,
    },
    /// Arrays and objects nest deeper than [`crate::canonical::MAX_DEPTH`].
    #[error("JSON nests deeper than {limit} levels")]
    TooDeep {
        /// The nesting limit.
        limit: usize,
    },
    /// The entry time is not of the form `YYYY-MM-DDTHH:MM:SSZ`.
    #[error("entry time {time:?} is not RFC 3339 UTC with whole seconds (YYYY-MM-DDTHH:MM:SSZ)")]
    InvalidTime {
        /// The time as given.
        time: String,
    },
    /// A proof was requested for a tree larger than the leaves supplied.
    #[error("tree size {size} exceeds the {available} leaves supplied")]
    SizeExceedsLeaves {
        /// The requested tree size.
        size: u64,
        /// How many leaf hashes were supplied.
        available: usize,
    },
    /// An inclusion proof was requested for a leaf outside the tree.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof was requested from a larger tree to a smaller one.
    #[error("cannot prove consistency from size {old_size} to smaller size {new_size}")]
    ShrinkingTree {
        /// The old tree size.
        old_size: u64,
        /// The new tree size.
        new_size: u64,
    },
    /// A [`crate::CompactTree`] state whose hash count does not fit its size.
    #[error("compact tree of size {size} needs {expected} subtree hashes, found {found}")]
    CompactStateMismatch {
        /// The tree size.
        size: u64,
        /// The number of hashes the size requires (its count of one bits).
        expected: u32,
        /// The number of hashes supplied.
        found: usize,
    },
}
