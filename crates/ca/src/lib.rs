//! The CA (high-security zone): record, lint, sign, store. The only crate that holds
//! issuer signers (DESIGN.md sections 1 and 4, docs/issuance-cycle.md).

pub mod bootstrap;
pub mod ceremony;
pub mod checkpoint;
pub mod config;
pub mod console;
mod crl_listing;
pub mod crl_upkeep;
pub mod generated_key;
mod issuance;
pub mod key_facts;
pub mod node_books;
mod ocsp;
pub mod ocsp_responder;
pub mod operator_ca;
pub mod orders;
pub mod parts;
mod reconcile;
mod revocation;
pub mod seal;
pub mod termination;
#[cfg(test)]
mod test_ca;
pub mod witnessing;

pub use issuance::{CaService, CaSettings, CaStore, IssuerChain};
pub use ocsp::{OcspService, OcspSettings, Work as OcspWork};
pub use operator_ca::{OperatorCa, OperatorCaError};
pub use reconcile::{Reconciled, RECONCILE_AFTER, RECONCILE_LEASE};
pub use revocation::{
    partition_of, publish_crl, CrlContents, CrlKind, CrlLayout, CrlScope, EntryFilter,
    RevocationError, RevocationOrder, Revoked,
};
