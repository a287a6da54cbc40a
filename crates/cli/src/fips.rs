//! FIPS mode of the software crypto (aws-lc-rs). Built with `--features fips`, aws-lc-rs
//! runs on the AWS-LC FIPS module and `shuin` refuses to start unless FIPS mode is on.
//! Keys in an HSM are outside this: their validation is the HSM's.

use crate::failure::{msg, Result};

/// Whether this binary was built with the `fips` feature.
pub(crate) const BUILT_FOR_FIPS: bool = cfg!(feature = "fips");

/// Checks FIPS mode at start when built for it; nothing otherwise.
pub(crate) fn check_at_start() -> Result<()> {
    if BUILT_FOR_FIPS {
        aws_lc_rs::try_fips_mode().map_err(|e| {
            msg(format!(
                "built with the fips feature, but FIPS mode is off: {e}"
            ))
        })?;
    }
    Ok(())
}

/// The FIPS facts for `shuin status`.
pub(crate) fn report() -> serde_json::Value {
    let mode = aws_lc_rs::try_fips_mode();
    serde_json::json!({
        "built_for_fips": BUILT_FOR_FIPS,
        "fips_mode": mode.is_ok(),
        "detail": match mode {
            Ok(()) => "aws-lc-rs runs on the AWS-LC FIPS module".to_owned(),
            Err(e) => format!("not in FIPS mode: {e}"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fips_mode_matches_the_build() {
        assert_eq!(aws_lc_rs::try_fips_mode().is_ok(), BUILT_FOR_FIPS);
        assert!(check_at_start().is_ok());
    }
}
