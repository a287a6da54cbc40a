//! JPKI (公的個人認証) for shuin: verification of applications signed with a My Number
//! card's signing key (CMS `SignedData`, RFC 5652), checks of the JPKI signing
//! certificate against configured J-LIS trust anchors and a J-LIS CRL, extraction of the
//! basic items, and matching them with what the applicant typed (DESIGN.md sections
//! 3.2 to 3.4 and 3.7).
//!
//! This crate is pure: no I/O, no clock (the caller passes `now`), no async.

mod anchors;
mod basic_info;
mod crl;
mod crl_set;
mod error;
mod installed;
mod matching;
mod raw;
mod signed_data;
mod signing_certificate;
mod verifier;

pub use anchors::{
    check_pinned_production_anchor, shipped_signca03_pem, TrustAnchors, SIGNCA02_SHA256,
    SIGNCA03_SHA256,
};
pub use basic_info::{
    BasicInfo, BirthDate, Era, OID_ADDRESS, OID_ADDRESS_SUBSTITUTES, OID_BIRTH_DATE, OID_GENDER,
    OID_NAME, OID_NAME_SUBSTITUTES,
};
pub use crl::{CrlRefusal, JpkiCrl, MAX_CRL_BYTES};
pub use crl_set::JpkiCrlSet;
pub use error::JpkiError;
pub use installed::{installed_anchors, InstalledAnchor, SHIPPED_ANCHOR_FILE};
pub use matching::{match_applicant, normalize_address, normalize_text, MatchOutcome};
pub use signed_data::{verify_subscriber_signed_data, SelfSignedContent, MAX_CERTIFICATES};
pub use signing_certificate::{SigningCertificate, POLICY_SIGNING, POLICY_SIGNING_TEST};
pub use verifier::{VerifiedApplication, Verifier, VerifierConfig};
