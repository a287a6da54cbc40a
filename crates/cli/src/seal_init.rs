//! `shuin init --custodians N --threshold M --shares-out DIR`: the token PIN is sealed
//! under a random wrapping key, the key is split into N shares
//! (`shuin_keys::activation`), and each share is written to `DIR/share-<i>.txt` (0600)
//! for its custodian. The instance keeps no PIN file.

use crate::config::KeyBackendConfig;
use crate::failure::{msg, Result};
use crate::init::InitOptions;
use shuin_core::RandomSource;
use shuin_keys::activation::SealConfig;
use shuin_ledger::{Actor, EntryDraft};
use std::path::PathBuf;
use zeroize::Zeroizing;

/// The custodian options of `init`.
#[derive(Debug, Clone)]
pub(crate) struct CustodianOptions {
    pub(crate) custodians: u8,
    pub(crate) threshold: u8,
    pub(crate) shares_out: PathBuf,
}

/// Checks the options before `init` makes anything, and reads the PIN to be sealed.
pub(crate) fn check(options: &CustodianOptions, init: &InitOptions) -> Result<Zeroizing<String>> {
    let KeyBackendConfig::Pkcs11 {
        pin_file: Some(pin_file),
        ..
    } = &init.key_backend
    else {
        return Err(msg(
            "--custodians needs --key-backend pkcs11: the shares seal the token PIN (the software backend has no secret to seal)",
        ));
    };
    shuin_keys::activation::check_counts(options.custodians, options.threshold)
        .map_err(|e| msg(e.to_string()))?;
    shuin_keys::share_files::check_share_dir(&options.shares_out, &init.data, options.custodians)
        .map_err(|e| msg(e.to_string()))?;
    crate::key_backend::read_pin_file(pin_file)
}

/// Seals `pin`, writes the share files and records the split in the facility book.
pub(crate) async fn make_shares<F, Fut>(
    options: &CustodianOptions,
    pin: &str,
    rng: &dyn RandomSource,
    append: &F,
    admin: &Actor,
) -> Result<SealConfig>
where
    F: Fn(EntryDraft) -> Fut,
    Fut: std::future::Future<Output = Result<shuin_ledger::Entry>>,
{
    let (config, files) =
        shuin_keys::activation::split(pin, options.custodians, options.threshold, rng)
            .map_err(|e| msg(e.to_string()))?;
    shuin_keys::share_files::write_shares(&options.shares_out, &files)
        .map_err(|e| msg(e.to_string()))?;
    let (custodians, threshold) = (options.custodians, options.threshold);
    append(shuin_books::init_records::seal_shares_made(
        custodians,
        threshold,
        &config.instance_id,
        admin,
    ))
    .await?;
    Ok(config)
}
