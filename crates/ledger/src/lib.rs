//! The shuin ledger (帳簿書類): one append-only log of entries, each tagged with a book,
//! encoded as RFC 8785 canonical JSON and committed to by an RFC 9162 Merkle tree
//! (DESIGN.md section 5).
//!
//! This crate is pure: apart from reading and writing an export directory
//! ([`export::write_export`], [`export::verify_export`]) and the last signed head
//! ([`head_file`]) it performs no I/O, and signing
//! is a closure the caller passes (the audit key lives in the key backend). Stores
//! persist [`StoredEntry`] rows and a [`CompactTree`] state; `shuin ledger verify` runs
//! [`verify_log`] over a store and [`verify_export`] over an export.
//!
//! - [`canonical`]: RFC 8785 JSON Canonicalization Scheme (JCS).
//! - [`entry`]: the entry model and its canonical encoding.
//! - [`merkle`]: RFC 9162 section 2.1 tree hashes, proofs and the incremental tree.
//! - [`verify`]: offline verification of a stored sequence against a tree head.
//! - [`note`]: C2SP signed notes signed by the audit key (ECDSA or RSA from the key
//!   backend; the key-ID and signature-type choice is documented there).
//! - [`checkpoint`]: C2SP `tlog-checkpoint` bodies, signing and verification.
//! - [`cosignature`]: witnesses' C2SP `tlog-cosignature` v1 (Ed25519) lines on
//!   checkpoints, and their verifier keys.
//! - [`operator_request`]: signed operator requests, as ledgered and re-checked offline.
//! - [`personal_data`]: salted commitments to personal data kept outside the books.
//! - [`export`]: the offline export (JSON Lines, checkpoints, audit key) and its verifier.
//! - [`tiles`]: the tree as C2SP `tlog-tiles`, built incrementally, and proofs from tiles.
//! - [`trust`]: the audit key's pin, forward heads and freshness (DESIGN.md section 11);
//!   [`head_file`]: the last signed head kept in the instance directory.

pub mod canonical;
pub mod checkpoint;
pub mod cosignature;
pub mod entry;
pub mod error;
pub mod export;
pub mod head_file;
pub mod merkle;
pub mod note;
pub mod operator_audit;
pub mod operator_certificate;
pub mod operator_request;
pub mod passkey;
pub mod passkey_registration;
pub mod personal_data;
mod report;
pub mod tiles;
pub mod trust;
pub mod verify;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use cosignature::{Cosignature, CosignatureError, WitnessKey};
pub use entry::{Actor, Book, Entry, EntryDraft};
pub use error::LedgerError;
pub use export::{verify_export, ExportError, ExportReport};
pub use merkle::CompactTree;
pub use note::{NoteError, NoteKey, SignedNote};
pub use report::{counted, listing, ListingError};
pub use trust::{AuditKeyPin, TrustError};
pub use verify::{verify_log, BookCounts, StoredEntry, TreeHead, VerifyError, VerifyReport};
