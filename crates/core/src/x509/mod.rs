//! Construction of X.509 structures by hand on `x509-cert` types (RFC 5280), so that the
//! to-be-signed bytes exist, and can be ledgered and linted, before anything is signed.

pub mod crl;
pub mod crl_stream;
pub mod extensions;
pub mod issued;
pub mod name;
pub mod node;
pub mod pem;
pub mod template;
pub mod time;

pub use template::{assemble_certificate, CertificateTemplate};
