//! `shuin testkit`: the simulated J-LIS CA and test cards, for development and tests.

use crate::failure::{msg, Result};
use shuin_core::{Clock, SystemClock};
use std::path::Path;

/// `shuin testkit jpki-ca --out DIR`.
pub(crate) fn jpki_ca(out: &Path) -> Result<()> {
    if out.join("ca.pem").exists() {
        return Err(msg(format!(
            "{} already holds a simulated J-LIS CA",
            out.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| msg(format!("{}: {e}", out.display())))?;
    shuin_testkit::make_jpki_ca_dir(out, SystemClock.now()).map_err(|e| msg(format!("{e}")))?;
    println!(
        "simulated J-LIS CA written to {} (ca.pem, ca.key, crl.der) — never trust it in production",
        out.display()
    );
    Ok(())
}

/// `shuin testkit card ...`.
pub(crate) fn card(ca: &Path, options: shuin_testkit::CardDirOptions, out: &Path) -> Result<()> {
    if shuin_core::timefmt::parse_date(&options.birth_date).is_none() {
        return Err(msg("--birth-date must be a valid YYYY-MM-DD date"));
    }
    if !matches!(options.gender.as_deref(), Some("1" | "2" | "3")) {
        return Err(msg("--gender must be 1, 2 or 3"));
    }
    std::fs::create_dir_all(out).map_err(|e| msg(format!("{}: {e}", out.display())))?;
    let revoked = options.revoked;
    shuin_testkit::make_card_dir(ca, options, out, SystemClock.now())
        .map_err(|e| msg(format!("{e}")))?;
    println!(
        "test card written to {} (cert.pem, key.pem){}",
        out.display(),
        if revoked {
            "; it is on the CA's crl.der"
        } else {
            ""
        }
    );
    Ok(())
}
