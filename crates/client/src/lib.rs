//! The applicant library: builds the new key and its CSR, fetches a challenge and the
//! terms, signs the application with the JPKI signing key (a card, or key files in
//! development), submits it and returns the certificate.

mod apply;
pub mod cms_sign;
mod csr;
mod error;
mod revoke;
mod status;

pub use apply::{apply, ApplyOutcome, ApplyRequest, CardSigner, FileCard};
pub use csr::build_csr;
pub use error::ClientError;
pub use revoke::request_revocation;
pub use status::{crl_lists, ocsp_status, OcspAnswer};
