//! The shuin ledger (帳簿書類): one append-only log of entries, each tagged with a book,
//! encoded as RFC 8785 canonical JSON and committed to by an RFC 9162 Merkle tree
//! (DESIGN.md section 5).
//!
//! This crate is pure: it performs no I/O. Stores persist [`StoredEntry`] rows and a
//! [`CompactTree`] state; auditors run [`verify_log`] over an export.
//!
//! - [`canonical`]: RFC 8785 JSON Canonicalization Scheme (JCS).
//! - [`entry`]: the entry model and its canonical encoding.
//! - [`merkle`]: RFC 9162 section 2.1 tree hashes, proofs and the incremental tree.
//! - [`verify`]: offline verification of a stored sequence against a tree head.

pub mod canonical;
pub mod entry;
pub mod error;
pub mod merkle;
pub mod verify;

pub use entry::{Actor, Book, Entry, EntryDraft};
pub use error::LedgerError;
pub use merkle::CompactTree;
pub use verify::{verify_log, BookCounts, StoredEntry, TreeHead, VerifyError, VerifyReport};
