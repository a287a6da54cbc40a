//! The applicant library: builds the new key and its CSR, fetches a challenge and the
//! terms, signs the application with the JPKI signing key (a card, or key files in
//! development), submits it and returns the certificate.

mod apply;
mod card_source;
pub mod cms_sign;
mod csr;
mod disclose;
mod enroll;
mod error;
mod fetch;
#[cfg(feature = "pkcs11")]
mod pkcs11_card;
mod revoke;
mod saved;
mod status;

pub use apply::{apply, ApplyOutcome, ApplyRequest, CardSigner, FileCard};
pub use card_source::CardSource;
pub use csr::{build_csr, build_named_csr};
pub use disclose::disclose;
pub use enroll::{enroll, EnrollRequest};
pub use error::ClientError;
pub use fetch::{application_state, save_issued, ApplicationState};
#[cfg(feature = "pkcs11")]
pub use pkcs11_card::{Pkcs11Card, JPKI_SIGNING_ID, JPKI_TOKEN_LABEL};
pub use revoke::{
    request_revocation, request_revocation_with_card, revoke_and_watch, RevocationSeen,
};
pub use saved::OutcomeFiles;
pub use status::{crl_lists, ocsp_status, OcspAnswer};
