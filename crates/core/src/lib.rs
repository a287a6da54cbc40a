//! Pure domain of shuin: newtypes, the clock and randomness seams, reason codes, the
//! application document model, certificate and CRL construction, key policy, and the
//! issuance port between the RA and the CA.
//!
//! This crate performs no I/O and must never depend on tokio, sqlx, axum or cryptoki
//! (DESIGN.md section 2; CI checks it).

pub mod access_event;
pub mod application;
pub mod clock;
pub mod csr;
pub mod issuance;
pub mod key_policy;
pub mod lint;
pub mod node_book;
pub mod ocsp;
pub mod ocsp_check;
pub mod operator;
pub mod orders;
pub mod random;
pub mod reason;
pub mod repository_feed;
pub mod revocation;
pub mod serial;
pub mod signature;
pub mod signing_pool;
pub mod termination;
pub mod timefmt;
pub mod x509;

pub use clock::{Clock, FixedClock, SystemClock};
pub use operator::{Action, Role, Zone};
pub use random::{OsRandom, RandomSource};
pub use reason::{ReasonCode, ReviewReason};
pub use serial::Serial;
pub use signature::SignatureAlgorithm;
