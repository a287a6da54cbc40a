//! The registration authority (secure zone): challenges, JPKI-signed applications,
//! the automatic-approval rule, and hand-off to the CA through the `Issuer` port.
//!
//! This crate cannot sign: it does not depend on `shuin-keys` or `shuin-ca` (CI checks).

mod application;
pub mod automation;
mod code_key;
pub mod config;
pub mod console;
mod crl_source;
mod detached;
mod disclosure;
mod error;
mod jpki_evidence;
pub mod jpki_followup;
mod jpki_registration;
mod notice_mail;
mod notices;
#[cfg(test)]
mod notices_tests;
pub mod operators;
pub mod orders;
mod personal_data;
pub mod recheck;
mod registration;
mod registration_list;
mod reissue;
mod resume;
pub mod review;
mod revocation;
pub mod revoked_at_the_ca;
mod signed_document;
mod termination;
#[cfg(test)]
mod test_world;
pub mod trust_setup;

pub use application::{
    ApplicationOutcome, CaPorts, Challenge, RaConfig, RaService, RaStore, AUTOMATIC_CHECKS,
    MAX_APPLICATION_BYTES, RULE_VERSION,
};
pub use code_key::CodeKeyError;
pub use crl_source::{CrlSource, FileCrlSource, StaticCrlSource};
pub use detached::detached;
pub use disclosure::{
    DisclosedApplication, DisclosedCertificate, DisclosedRevocation, Disclosure, DISCLOSURE_FORMAT,
    MAX_DISCLOSED,
};
pub use error::RaError;
pub use jpki_evidence::JpkiEvidence;
pub use jpki_followup::{FollowupReport, JPKI_REVOKED};
pub use notice_mail::{NoticeMailError, NoticesSection};
pub use notices::{
    Delivery as NoticeDelivery, FileNoticeSender, NoticeSender, CERTIFICATE_ISSUED,
    CERTIFICATE_REVOKED,
};
pub use registration::{
    normalize_code, CodeKey, CreatedRegistration, Delivery, IdentificationCode,
    JpkiRevocationPolicy, Lifecycle, LifecycleStore, Registrar, RegistrationRequest,
    VerifiedIdentity, CODE_BITS, DEFAULT_CODE_LIFETIME, MAX_WRONG_CODES,
};
pub use registration_list::{RegistrationRow, REGISTRATIONS_SHOWN};
pub use reissue::{
    supersede, supersede_replaced, SupersedeError, Superseded, OLD_CERTIFICATE_REVOKED,
    SUBSCRIBER_BY_REISSUE,
};
pub use resume::{resume_approved, ApplicationBooks, ResumeStore, Resumed, RESUME_AFTER};
pub use revocation::{JpkiCrlFacts, RevocationAnswer, REVOCATION_FORMAT, SUBSCRIBER_BY_JPKI};
