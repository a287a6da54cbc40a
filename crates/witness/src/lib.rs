//! `shuin-witness`: a transparency-log witness speaking C2SP `tlog-witness`
//! (<https://c2sp.org/tlog-witness>), cosigning with C2SP `tlog-cosignature` v1 (Ed25519).
//!
//! A witness is run by a third party (the investigation body, 指定調査機関, or anyone):
//! it holds its own key and state, and it cosigns a log's checkpoint only when the log's
//! key signed it and a consistency proof shows that it extends the latest checkpoint the
//! witness cosigned for that log. A log that rewrote its history, or shows different
//! histories to different people, cannot get such a checkpoint cosigned.
//!
//! This crate depends on `shuin-ledger` (checkpoints, notes, Merkle proofs) and on no
//! part of a CA: not `shuin-keys`, `shuin-ca`, `shuin-store` or `shuin-server`
//! (`scripts/test` checks it).
//!
//! A witness's data directory holds:
//!
//! ```text
//! DIR/witness.toml     name and witnessed logs (config)
//! DIR/witness.key      the Ed25519 cosigning key, PKCS#8, mode 0600 (key)
//! DIR/state/<SHA-256 of the origin>.checkpoint
//!                      the latest checkpoint cosigned for each log (state)
//! ```
//!
//! - [`request`]: parsing the add-checkpoint body.
//! - [`witness`]: the checks, the cosignature and the durable update.
//! - [`state`]: the durable state files.
//! - [`http`]: the HTTP routes and the server.

pub mod config;
pub mod http;
pub mod key;
pub mod request;
pub mod state;
pub mod witness;

pub use config::{ConfigError, LogConfig, WitnessConfig};
pub use key::{KeyError, WitnessSigner};
pub use state::StateError;
pub use witness::{Refusal, Witness};

use shuin_core::Clock;
use shuin_ledger::WitnessKey;
use std::path::Path;
use std::sync::Arc;

/// Why a witness could not be made or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The state.
    #[error(transparent)]
    State(#[from] StateError),
    /// `init` on a directory that already holds a witness.
    #[error("{0} already holds a witness configuration")]
    Exists(String),
}

/// Makes a witness in `dir`: checks `config`, writes the key (0600) and `witness.toml`;
/// returns the witness's public key (whose verifier key its logs are given).
///
/// # Errors
///
/// [`SetupError`]; an existing witness is never overwritten.
pub fn init(dir: &Path, config: &WitnessConfig) -> Result<WitnessKey, SetupError> {
    config.log_keys()?;
    let config_path = dir.join(config::CONFIG_FILE);
    if config_path.exists() {
        return Err(SetupError::Exists(dir.display().to_string()));
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ConfigError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let signer = WitnessSigner::generate(&dir.join(config::KEY_FILE), &config.name)?;
    state::StateDir::open(&dir.join(config::STATE_DIR))?;
    std::fs::write(&config_path, config.to_toml()).map_err(io(&config_path))?;
    Ok(signer.key().clone())
}

/// Makes a witness of the one log whose checkpoints verify with `log_verifier_key`, in
/// `dir`, named `name` (as [`init`]): how an RA node of a split deployment witnesses its
/// CA's checkpoints.
///
/// # Errors
///
/// As [`init`], or [`SetupError::Config`] for a verifier key that cannot be read.
pub fn init_for_log(
    dir: &Path,
    name: &str,
    log_verifier_key: &str,
) -> Result<WitnessKey, SetupError> {
    let log = config::LogConfig::for_verifier_key(log_verifier_key)?;
    let config = WitnessConfig {
        name: name.to_owned(),
        logs: vec![log],
    };
    init(dir, &config)
}

/// Opens the witness in `dir`, reading its configuration, key and state.
///
/// # Errors
///
/// [`SetupError`].
pub fn open(dir: &Path, clock: Arc<dyn Clock>) -> Result<Witness, SetupError> {
    let config = WitnessConfig::read(dir)?;
    let logs = config.log_keys()?;
    let signer = WitnessSigner::open(&dir.join(config::KEY_FILE), &config.name)?;
    let state = state::StateDir::open(&dir.join(config::STATE_DIR))?;
    Ok(Witness::new(signer, logs, state, clock)?)
}
