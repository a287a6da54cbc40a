//! The books (帳簿書類) that are not the issuance cycle's: the organisation book
//! (operators, their certificates and roles, replayed from the ledger), and, as they move
//! out of the binary crate, facility records, retention and the audit pack
//! (DESIGN.md section 2, target layout).
//!
//! This crate never depends on `shuin-keys`: it reads and writes the books, and checks
//! signatures with public keys only.

pub mod audit_pack;
pub mod facility;
pub mod retention;
