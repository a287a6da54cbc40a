//! The CA (high-security zone): record, lint, sign, store. The only crate that holds
//! issuer signers (DESIGN.md sections 1 and 4, docs/issuance-cycle.md).

mod issuance;
mod reconcile;

pub use issuance::{CaService, CaStore, IssuerChain};
pub use reconcile::Reconciled;
