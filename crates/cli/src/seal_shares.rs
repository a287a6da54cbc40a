//! `[ca.seal]` in shuin.toml, and the binary's entry to `shuin_keys::activation` (M-of-N
//! custodian shares of the key that wraps the token PIN): the same functions, with the
//! binary's one-line errors.

use crate::failure::{msg, Result};
use serde::{Deserialize, Serialize};
use shuin_core::RandomSource;
use shuin_keys::activation::{self, ActivationError};
use zeroize::Zeroizing;

/// `[ca.seal]` in shuin.toml ([`activation::SealConfig`]), checked with the binary's
/// error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct SealConfig(activation::SealConfig);

impl std::ops::Deref for SealConfig {
    type Target = activation::SealConfig;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

fn failed(e: ActivationError) -> crate::failure::Error {
    msg(e.to_string())
}

impl SealConfig {
    /// Checks `[ca.seal]` once at start-up.
    pub(crate) fn check(&self) -> Result<()> {
        self.0.check().map_err(failed)
    }
}

/// Splits a fresh wrapping key, seals `pin` under it, and returns the configuration and
/// the N share files' texts (index 1 first).
pub(crate) fn split(
    pin: &str,
    custodians: u8,
    threshold: u8,
    rng: &dyn RandomSource,
) -> Result<(SealConfig, Vec<Zeroizing<String>>)> {
    let (config, files) = activation::split(pin, custodians, threshold, rng).map_err(failed)?;
    Ok((SealConfig(config), files))
}
