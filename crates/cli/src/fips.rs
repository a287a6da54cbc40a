//! FIPS mode of the software crypto (`shuin_keys::fips`): checked at start in a build
//! with `--features fips`.

use crate::failure::{msg, Result};

/// Checks FIPS mode at start when built for it; nothing otherwise.
pub(crate) fn check_at_start() -> Result<()> {
    shuin_keys::fips::check_at_start().map_err(|e| msg(e.to_string()))
}
