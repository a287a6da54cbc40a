//! Key ceremonies approved by M named custodians (docs/keys.md "Key ceremonies"): the
//! ceremony file, the canonical statement custodians approve, their approvals, custodian
//! enrolment, the run (record before every key generation and signature), the record
//! and its offline verification, and anchoring a record in a ledger export.
//!
//! Nothing here opens a key backend or reads the instance's configuration: the caller
//! passes the instance facts, the role lookups and a function that opens the backend.

mod anchor;
mod approval;
pub mod console;
mod custodians;
mod error;
mod file;
mod first;
pub mod first_instance;
pub mod offline;
mod record;
mod run;
mod statement;

pub use anchor::{anchor, Anchor};
pub use approval::{approve, check, read as read_approval, Approval, APPROVAL_FORMAT};
pub use custodians::{enroll, enrolled, read_public_key, CustodianRoles, EnrolledKey};
pub use error::{BoxError, CeremonyError, Result};
pub use file::{CaCertificateProfile, CeremonyFile, Step, INSTANCE_ISSUING, INSTANCE_ROOT};
pub use first::{adopt, first_keys, run_first, Adopted, FirstKeys, FirstPlan, FirstRun};
pub use record::{
    canonical_bytes, verify, CustodianKey, Record, StepResult, Verified, RECORD_FORMAT,
};
pub use run::{run, statement_for, CeremonyBackend, RunOptions, RunOutcome};
pub use statement::{
    algorithm_by_name, build as build_statement, canonical as canonical_statement,
    identity_of_certificate, parse as parse_statement, serial, sha256_hex, spec_algorithm,
    spki_algorithm, summary, tbs_for, InstanceBinding, InstanceCa, InstanceFacts, SignStep,
    Statement, StatementCustodian, StatementStep, TerminateStep, STATEMENT_FORMAT,
};
