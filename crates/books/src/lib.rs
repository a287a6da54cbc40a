//! The books (帳簿書類) that are not the issuance cycle's: the organisation book
//! (operators, their certificates and roles, replayed from the ledger), and, as they move
//! out of the binary crate, facility records, retention and the audit pack
//! (DESIGN.md section 2, target layout).
//!
//! This crate never depends on `shuin-keys`: it reads and writes the books, and checks
//! signatures with public keys only.

pub mod access_import;
pub mod audit_key_watch;
pub mod audit_pack;
pub mod checkpoints;
pub mod console;
pub mod facility;
pub mod gate;
pub mod handover;
pub mod health;
pub mod init_records;
pub mod ledger_trust;
pub mod node_book;
pub use shuin_ledger::operator_certificate;
pub mod organisation;
pub mod passkeys;
pub mod personal_data;
pub mod retention;
pub mod sessions;
/// Signed operator requests (the format lives in `shuin-ledger`, whose offline verifier
/// re-checks them).
pub use shuin_ledger::operator_request as request;

pub use gate::{Admitted, Gate, GateError, Refusal};
pub use organisation::{BookError, Organisation, Roster};
pub use request::{OperatorRequest, SignedRequest};
