//! FIPS mode of the software crypto (aws-lc-rs). Built with the `fips` feature (which
//! the binary's `fips` feature turns on), aws-lc-rs runs on the AWS-LC FIPS module and
//! `shuin` refuses to start unless FIPS mode is on. Keys in an HSM are outside this:
//! their validation is the HSM's.

use serde::Serialize;

/// Whether this build is for FIPS mode (the `fips` feature).
pub const BUILT_FOR_FIPS: bool = cfg!(feature = "fips");

/// A build for FIPS mode that does not run in it.
#[derive(Debug, thiserror::Error)]
#[error("built with the fips feature, but FIPS mode is off: {0}")]
pub struct FipsModeOff(String);

/// Checks FIPS mode at start when built for it; nothing otherwise.
pub fn check_at_start() -> Result<(), FipsModeOff> {
    if BUILT_FOR_FIPS {
        aws_lc_rs::try_fips_mode().map_err(|e| FipsModeOff(e.to_string()))?;
    }
    Ok(())
}

/// The FIPS facts `shuin status` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FipsReport {
    /// Whether this build is for FIPS mode.
    pub built_for_fips: bool,
    /// Whether aws-lc-rs runs in FIPS mode.
    pub fips_mode: bool,
    /// The module in use, or why it is not in FIPS mode.
    pub detail: String,
}

/// The FIPS facts of this process.
pub fn report() -> FipsReport {
    let mode = aws_lc_rs::try_fips_mode();
    FipsReport {
        built_for_fips: BUILT_FOR_FIPS,
        fips_mode: mode.is_ok(),
        detail: match mode {
            Ok(()) => "aws-lc-rs runs on the AWS-LC FIPS module".to_owned(),
            Err(e) => format!("not in FIPS mode: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fips_mode_matches_the_build() {
        assert_eq!(aws_lc_rs::try_fips_mode().is_ok(), BUILT_FOR_FIPS);
        assert!(check_at_start().is_ok());
        let report = report();
        assert_eq!(report.fips_mode, BUILT_FOR_FIPS);
        assert_eq!(report.built_for_fips, BUILT_FOR_FIPS);
    }
}
