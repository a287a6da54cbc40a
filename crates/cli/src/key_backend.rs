//! Choosing and opening the key backend named by `ca.key_backend`
//! (`shuin_keys::config`), and checking an issuer key against the attribute policy
//! (DESIGN.md section 7).

use crate::config::KeyBackendConfig;
use crate::failure::{msg, Context, Result};
use shuin_keys::KeyRef;
use std::path::Path;
use zeroize::Zeroizing;

/// An open backend and, when it has that power, its attribute reader.
pub(crate) use shuin_keys::config::OpenedBackend;

/// Opens the backend of an instance in `dir`.
pub(crate) fn open(config: &KeyBackendConfig, dir: &Path) -> Result<OpenedBackend> {
    open_with_pin(config, dir, None)
}

/// Opens the backend with `pin` (reconstructed from custodians' shares) instead of the
/// PIN file; `None` reads the PIN file (`shuin_keys::config`).
pub(crate) fn open_with_pin(
    config: &KeyBackendConfig,
    dir: &Path,
    pin: Option<Zeroizing<String>>,
) -> Result<OpenedBackend> {
    if let KeyBackendConfig::Software { .. } = config {
        tracing::warn!("the issuer keys are software keys: development and tests only");
    }
    config.open(dir, pin).map_err(Into::into)
}

/// Opens the backend for serving with `issuing_key`: its attributes are read and must
/// pass the policy, and the evidence is logged. Refuses with one clear line otherwise.
pub(crate) fn open_for_issuing(
    config: &KeyBackendConfig,
    dir: &Path,
    issuing_key: &str,
) -> Result<OpenedBackend> {
    let opened = open(config, dir)?;
    let key = KeyRef::parse(issuing_key).context("ca.issuing_key")?;
    if let Some((evidence, verdict)) = opened.check_issuer_key(&key, "issuing").map_err(msg)? {
        let json = serde_json::to_string(&evidence).context("key attribute evidence")?;
        match &verdict {
            Ok(()) => tracing::info!(evidence = %json, "issuing key attributes pass the policy"),
            Err(e) => tracing::error!(evidence = %json, "{e}"),
        }
        verdict.map_err(msg)?;
    }
    Ok(opened)
}
