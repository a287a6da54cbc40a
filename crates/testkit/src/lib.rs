//! A simulated J-LIS signing CA and simulated My Number cards, for tests, demos and
//! benchmarks. **Never trusted outside `--dev`**: the CA has the real J-LIS subject
//! name but its own key, so a production verifier (pinned anchors) refuses it.

mod card;
mod crl_extensions;
pub mod dev;
mod directory;
mod error;
mod jlis_ca;

pub use card::{
    era_of, locality_of, CardKind, CardSpec, TestCard, BASIC_ITEM_OIDS, POLICY_SIGNING,
    POLICY_SIGNING_TEST, POLICY_USER_AUTHENTICATION,
};
pub use crl_extensions::{delta_crl_indicator, issuing_distribution_point, CrlScope};
pub use directory::{
    make_card_dir, make_jpki_ca_dir, refresh_crl, CardDirOptions, CRL_LIFETIME_DAYS,
};
pub use error::TestkitError;
pub use jlis_ca::{jlis_signing_ca_name, SimulatedJlisCa};

/// Reads a PEM file and checks its label.
fn read_pem(path: &std::path::Path, label: &str) -> Result<Vec<u8>, TestkitError> {
    let text = std::fs::read_to_string(path).map_err(error::io(path))?;
    let (found, der) =
        der::pem::decode_vec(text.as_bytes()).map_err(|e| TestkitError::BadFile {
            path: path.to_path_buf(),
            detail: format!("not PEM: {e}"),
        })?;
    if found != label {
        return Err(TestkitError::BadFile {
            path: path.to_path_buf(),
            detail: format!("expected {label:?}, found {found:?}"),
        });
    }
    Ok(der)
}
