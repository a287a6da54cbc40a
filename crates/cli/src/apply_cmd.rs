//! `shuin apply`: the applicant client.

use crate::failure::{msg, Result};
use shuin_client::{ApplyRequest, CardSource, OutcomeFiles};
use shuin_keys::KeySpec;
use std::path::Path;

/// Runs the flow and writes the key and certificate.
pub(crate) fn run(
    request: ApplyRequest,
    card: CardSource,
    out: &Path,
    key_out: Option<&Path>,
    json: bool,
) -> Result<()> {
    let card = card.open().map_err(|e| msg(e.to_string()))?;
    let files = OutcomeFiles::new(out, key_out);
    files.check_key_is_new().map_err(|e| msg(e.to_string()))?;
    let outcome = shuin_client::apply(&request, card.as_ref()).map_err(|e| msg(e.to_string()))?;
    files.save(&outcome).map_err(|e| msg(e.to_string()))?;
    crate::output::print(&files.to_json(&outcome), json, |_| files.text(&outcome));
    Ok(())
}

pub(crate) fn key_spec(text: &str) -> Result<KeySpec> {
    KeySpec::parse(text)
        .ok_or_else(|| msg("--key-type must be p256, p384, rsa2048, rsa3072 or rsa4096"))
}
