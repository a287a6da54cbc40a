//! The registration authority (secure zone): challenges, JPKI-signed applications,
//! the automatic-approval rule, and hand-off to the CA through the `Issuer` port.
//!
//! This crate cannot sign: it does not depend on `shuin-keys` or `shuin-ca` (CI checks).

mod application;
mod crl_source;
mod error;
mod revocation;

pub use application::{
    ApplicationOutcome, CaPorts, Challenge, RaConfig, RaService, RaStore, MAX_APPLICATION_BYTES,
    RULE_VERSION,
};
pub use crl_source::{CrlSource, FileCrlSource, StaticCrlSource};
pub use error::RaError;
pub use revocation::{RevocationAnswer, REVOCATION_FORMAT};
