//! Offline verification of a stored ledger (DESIGN.md section 5, "Verification").
//!
//! [`verify_log`] reads the rows of a store or an export in order and checks, without
//! trusting anything the store computed:
//!
//! 1. sequence numbers run 0, 1, 2, ... with no gap, duplicate or reordering;
//! 2. each row's bytes are exactly the RFC 8785 canonical JSON of an [`Entry`] whose
//!    `seq` equals the row's;
//! 3. each stored leaf hash equals `SHA-256(0x00 || bytes)` recomputed
//!    ([RFC 9162 section 2.1.1]);
//! 4. when a tree head is given, the Merkle root recomputed over all rows equals it, and
//!    the log holds exactly as many entries as the head says.
//!
//! Memory stays O(log n) whatever the log size: rows are streamed into a
//! [`CompactTree`].
//!
//! # Signed checkpoints
//!
//! Here the caller supplies `expected_head` from a trusted source (the store's head).
//! An export carries signed checkpoints instead ([`crate::checkpoint`]); its verifier,
//! [`crate::export::verify_export`], checks the root at every checkpoint's size in one
//! streaming pass.
//!
//! [RFC 9162 section 2.1.1]: https://www.rfc-editor.org/rfc/rfc9162#section-2.1.1

use crate::{merkle, Book, CompactTree, Entry, LedgerError};

/// One ledger row as a store or an export holds it.
///
/// An export ([`crate::export`]) writes only `canonical`, one line per row; the seq is
/// in the entry and the leaf hash is recomputed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StoredEntry {
    /// The row's sequence number.
    pub seq: u64,
    /// The entry's canonical JSON exactly as stored.
    pub canonical: Vec<u8>,
    /// The stored leaf hash `SHA-256(0x00 || canonical)`, hex encoded.
    pub leaf_hash_hex: String,
}

/// A tree head: the size and Merkle tree hash `MTH(D[size])` of the log
/// ([RFC 9162 section 2.1.1]). It is the `(size, root)` part of a checkpoint.
///
/// [RFC 9162 section 2.1.1]: https://www.rfc-editor.org/rfc/rfc9162#section-2.1.1
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TreeHead {
    /// Number of entries.
    pub size: u64,
    /// The root hash, hex encoded.
    pub root_hex: String,
}

/// What a successful [`verify_log`] established.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VerifyReport {
    /// Number of entries verified.
    pub size: u64,
    /// The recomputed Merkle root of all entries, lowercase hex.
    pub root_hex: String,
    /// Entries per book.
    pub counts: BookCounts,
}

/// Number of entries in each book.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct BookCounts {
    /// Entries in [`Book::Application`].
    pub application: u64,
    /// Entries in [`Book::Revocation`].
    pub revocation: u64,
    /// Entries in [`Book::Organization`].
    pub organization: u64,
    /// Entries in [`Book::Facility`].
    pub facility: u64,
}

impl BookCounts {
    /// The count for `book`.
    pub fn get(&self, book: Book) -> u64 {
        match book {
            Book::Application => self.application,
            Book::Revocation => self.revocation,
            Book::Organization => self.organization,
            Book::Facility => self.facility,
        }
    }

    pub(crate) fn add(&mut self, book: Book) {
        let count = match book {
            Book::Application => &mut self.application,
            Book::Revocation => &mut self.revocation,
            Book::Organization => &mut self.organization,
            Book::Facility => &mut self.facility,
        };
        *count += 1;
    }
}

/// Why a stored ledger failed verification. Every variant names the entry or tree head
/// at fault. All are permanent: the stored data itself is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A row's seq is larger than the next expected one: entries are missing.
    #[error("entry {found} found where entry {expected} was expected: entries are missing")]
    SequenceGap {
        /// The seq that should have come next.
        expected: u64,
        /// The seq found.
        found: u64,
    },
    /// A row's seq is smaller than the next expected one: a duplicate or reordering.
    #[error(
        "entry {found} found where entry {expected} was expected: entries are duplicated or out of order"
    )]
    SequenceRegression {
        /// The seq that should have come next.
        expected: u64,
        /// The seq found.
        found: u64,
    },
    /// A row's bytes are not the canonical JSON of an entry.
    #[error("entry {seq}: stored bytes are not a canonical ledger entry")]
    MalformedEntry {
        /// The row's seq.
        seq: u64,
        /// What is wrong with the bytes.
        #[source]
        source: LedgerError,
    },
    /// A row's content claims a different seq from the row.
    #[error("entry {seq}: its content claims seq {content_seq}")]
    SeqMismatch {
        /// The row's seq.
        seq: u64,
        /// The `seq` field of the entry's content.
        content_seq: u64,
    },
    /// A row's stored leaf hash is not 32 bytes of hex.
    #[error("entry {seq}: stored leaf hash {stored:?} is not 64 hex digits")]
    InvalidLeafHash {
        /// The row's seq.
        seq: u64,
        /// The stored text.
        stored: String,
    },
    /// A row's stored leaf hash differs from the hash of its bytes.
    #[error(
        "entry {seq}: stored leaf hash does not match its content (stored {stored_hex}, computed {computed_hex})"
    )]
    LeafHashMismatch {
        /// The row's seq.
        seq: u64,
        /// The stored leaf hash.
        stored_hex: String,
        /// The leaf hash of the stored bytes.
        computed_hex: String,
    },
    /// The log holds fewer or more entries than the tree head says.
    #[error("tree head covers {expected} entries but the log holds {found}")]
    SizeMismatch {
        /// The tree head's size.
        expected: u64,
        /// The number of entries read.
        found: u64,
    },
    /// The tree head's root is not 32 bytes of hex.
    #[error("tree head root {root_hex:?} is not 64 hex digits")]
    InvalidHeadRoot {
        /// The tree head's root as given.
        root_hex: String,
    },
    /// The recomputed root differs from the tree head's.
    #[error(
        "tree of size {size}: recomputed root {computed_hex} does not match the tree head's {expected_hex}"
    )]
    RootMismatch {
        /// The tree size.
        size: u64,
        /// The tree head's root.
        expected_hex: String,
        /// The root recomputed from the entries.
        computed_hex: String,
    },
}

impl VerifyError {
    /// The stable reason code (snake_case) of this failure.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::SequenceGap { .. } => "entries_missing",
            VerifyError::SequenceRegression { .. } | VerifyError::SeqMismatch { .. } => {
                "entries_reordered"
            }
            VerifyError::MalformedEntry { .. } => "entry_malformed",
            VerifyError::InvalidLeafHash { .. } | VerifyError::LeafHashMismatch { .. } => {
                "leaf_hash_mismatch"
            }
            VerifyError::SizeMismatch { .. } => "tree_size_mismatch",
            VerifyError::InvalidHeadRoot { .. } | VerifyError::RootMismatch { .. } => {
                "root_mismatch"
            }
        }
    }
}

/// Verifies a stored ledger read in seq order, and optionally its tree head. See the
/// [module documentation](self) for the checks.
///
/// # Errors
///
/// The first [`VerifyError`] found, naming the entry at fault.
pub fn verify_log(
    entries: impl IntoIterator<Item = StoredEntry>,
    expected_head: Option<&TreeHead>,
) -> Result<VerifyReport, VerifyError> {
    let mut tree = CompactTree::new();
    let mut counts = BookCounts::default();
    for stored in entries {
        let expected = tree.size();
        let seq = stored.seq;
        if seq > expected {
            return Err(VerifyError::SequenceGap {
                expected,
                found: seq,
            });
        }
        if seq < expected {
            return Err(VerifyError::SequenceRegression {
                expected,
                found: seq,
            });
        }
        let entry = Entry::from_canonical(&stored.canonical)
            .map_err(|source| VerifyError::MalformedEntry { seq, source })?;
        if entry.seq != seq {
            return Err(VerifyError::SeqMismatch {
                seq,
                content_seq: entry.seq,
            });
        }
        let stored_hash =
            decode_hash(&stored.leaf_hash_hex).ok_or_else(|| VerifyError::InvalidLeafHash {
                seq,
                stored: stored.leaf_hash_hex.clone(),
            })?;
        // The bytes are canonical, so hashing them as stored is hashing the entry.
        let computed = merkle::leaf_hash(&stored.canonical);
        if computed != stored_hash {
            return Err(VerifyError::LeafHashMismatch {
                seq,
                stored_hex: hex::encode(stored_hash),
                computed_hex: hex::encode(computed),
            });
        }
        tree.append(computed);
        counts.add(entry.book);
    }
    let root = tree.root();
    if let Some(head) = expected_head {
        if head.size != tree.size() {
            return Err(VerifyError::SizeMismatch {
                expected: head.size,
                found: tree.size(),
            });
        }
        let expected_root =
            decode_hash(&head.root_hex).ok_or_else(|| VerifyError::InvalidHeadRoot {
                root_hex: head.root_hex.clone(),
            })?;
        if expected_root != root {
            return Err(VerifyError::RootMismatch {
                size: head.size,
                expected_hex: hex::encode(expected_root),
                computed_hex: hex::encode(root),
            });
        }
    }
    Ok(VerifyReport {
        size: tree.size(),
        root_hex: hex::encode(root),
        counts,
    })
}

fn decode_hash(text: &str) -> Option<[u8; 32]> {
    let mut hash = [0; 32];
    hex::decode_to_slice(text, &mut hash).ok()?;
    Some(hash)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{Actor, EntryDraft};

    fn entry(seq: u64, book: Book) -> Entry {
        EntryDraft {
            book,
            kind: format!("{}.noted", book.as_str()),
            actor: Actor {
                name: "ops".to_owned(),
                role: "auditor".to_owned(),
                zone: "facility".to_owned(),
            },
            subjects: vec![format!("serial:{seq:04X}")],
            payload: json!({ "n": seq }),
            evidence: vec![],
        }
        .into_entry(seq, "2025-04-01T09:30:00Z".to_owned())
    }

    fn stored(entry: &Entry) -> StoredEntry {
        StoredEntry {
            seq: entry.seq,
            canonical: entry.canonical_bytes().unwrap(),
            leaf_hash_hex: hex::encode(entry.leaf_hash().unwrap()),
        }
    }

    fn log(size: u64) -> Vec<StoredEntry> {
        (0..size)
            .map(|seq| {
                let book = Book::ALL[usize::try_from(seq % 4).unwrap()];
                stored(&entry(seq, book))
            })
            .collect()
    }

    fn head_of(rows: &[StoredEntry]) -> TreeHead {
        let leaves: Vec<[u8; 32]> = rows
            .iter()
            .map(|row| merkle::leaf_hash(&row.canonical))
            .collect();
        TreeHead {
            size: u64::try_from(rows.len()).unwrap(),
            root_hex: hex::encode(merkle::root(&leaves)),
        }
    }

    #[test]
    fn a_sound_log_verifies_and_is_counted_per_book() {
        let rows = log(10);
        let head = head_of(&rows);
        let report = verify_log(rows, Some(&head)).unwrap();
        assert_eq!(report.size, 10);
        assert_eq!(report.root_hex, head.root_hex);
        assert_eq!(
            report.counts,
            BookCounts {
                application: 3,
                revocation: 3,
                organization: 2,
                facility: 2
            }
        );
        assert_eq!(report.counts.get(Book::Organization), 2);
    }

    #[test]
    fn an_empty_log_has_the_empty_root() {
        let head = TreeHead {
            size: 0,
            root_hex: hex::encode(merkle::empty_root()),
        };
        let report = verify_log(Vec::new(), Some(&head)).unwrap();
        assert_eq!(report.size, 0);
        assert_eq!(report.counts, BookCounts::default());
    }

    #[test]
    fn a_log_verifies_without_a_head() {
        assert_eq!(verify_log(log(5), None).unwrap().size, 5);
    }

    #[test]
    fn gaps_are_reported() {
        let mut rows = log(5);
        rows.remove(2);
        let error = verify_log(rows, None).unwrap_err();
        assert!(matches!(
            error,
            VerifyError::SequenceGap {
                expected: 2,
                found: 3
            }
        ));
        assert_eq!(
            error.to_string(),
            "entry 3 found where entry 2 was expected: entries are missing"
        );
        let error = verify_log(log(5).into_iter().skip(1), None).unwrap_err();
        assert!(matches!(
            error,
            VerifyError::SequenceGap {
                expected: 0,
                found: 1
            }
        ));
    }

    #[test]
    fn duplicates_and_reordering_are_reported() {
        let mut rows = log(5);
        rows.insert(3, rows[2].clone());
        assert!(matches!(
            verify_log(rows, None),
            Err(VerifyError::SequenceRegression {
                expected: 3,
                found: 2
            })
        ));
        let mut rows = log(5);
        rows.swap(1, 2);
        assert!(matches!(
            verify_log(rows, None),
            Err(VerifyError::SequenceGap {
                expected: 1,
                found: 2
            })
        ));
    }

    #[test]
    fn a_tampered_entry_is_reported() {
        let mut rows = log(5);
        let text = String::from_utf8(rows[3].canonical.clone()).unwrap();
        rows[3].canonical = text.replace(r#""n":3"#, r#""n":4"#).into_bytes();
        let error = verify_log(rows, None).unwrap_err();
        assert!(matches!(
            error,
            VerifyError::LeafHashMismatch { seq: 3, .. }
        ));
        assert!(error
            .to_string()
            .starts_with("entry 3: stored leaf hash does not match its content (stored "));
    }

    #[test]
    fn non_canonical_bytes_are_reported_with_their_cause() {
        let mut rows = log(3);
        rows[1].canonical.push(b'\n');
        let error = verify_log(rows, None).unwrap_err();
        assert!(matches!(
            error,
            VerifyError::MalformedEntry {
                seq: 1,
                source: LedgerError::NotCanonical { .. }
            }
        ));
        assert_eq!(
            error.to_string(),
            "entry 1: stored bytes are not a canonical ledger entry"
        );
        assert!(std::error::Error::source(&error).is_some());
    }

    #[test]
    fn content_claiming_another_seq_is_reported() {
        let mut rows = log(3);
        rows[2] = StoredEntry {
            seq: 2,
            ..stored(&entry(7, Book::Facility))
        };
        let error = verify_log(rows, None).unwrap_err();
        assert!(matches!(
            error,
            VerifyError::SeqMismatch {
                seq: 2,
                content_seq: 7
            }
        ));
        assert_eq!(error.to_string(), "entry 2: its content claims seq 7");
    }

    #[test]
    fn unreadable_leaf_hashes_are_reported() {
        let mut rows = log(2);
        rows[1].leaf_hash_hex = "abc".to_owned();
        assert!(matches!(
            verify_log(rows, None),
            Err(VerifyError::InvalidLeafHash { seq: 1, .. })
        ));
    }

    #[test]
    fn a_truncated_or_extended_log_does_not_match_its_head() {
        let rows = log(6);
        let head = head_of(&rows);
        assert!(matches!(
            verify_log(rows[..5].to_vec(), Some(&head)),
            Err(VerifyError::SizeMismatch {
                expected: 6,
                found: 5
            })
        ));
        assert!(matches!(
            verify_log(log(7), Some(&head)),
            Err(VerifyError::SizeMismatch {
                expected: 6,
                found: 7
            })
        ));
    }

    #[test]
    fn a_wrong_root_is_reported() {
        let rows = log(6);
        let mut head = head_of(&rows);
        head.root_hex = hex::encode(merkle::empty_root());
        let error = verify_log(rows.clone(), Some(&head)).unwrap_err();
        assert!(matches!(error, VerifyError::RootMismatch { size: 6, .. }));
        head.root_hex = "zz".to_owned();
        assert!(matches!(
            verify_log(rows, Some(&head)),
            Err(VerifyError::InvalidHeadRoot { .. })
        ));
    }

    #[test]
    fn uppercase_hex_is_accepted() {
        let mut rows = log(3);
        let mut head = head_of(&rows);
        head.root_hex = head.root_hex.to_uppercase();
        rows[0].leaf_hash_hex = rows[0].leaf_hash_hex.to_uppercase();
        assert!(verify_log(rows, Some(&head)).is_ok());
    }
}
