//! `shuin revoke`, `shuin crl` and `shuin unseal`: signed requests to the running
//! server (the revocation book, the CRLs, the seal). The root's CRL is signed by the
//! server's console with the root key it holds once unsealed.

use crate::console_client::{call, Ask};
use crate::failure::{msg, Context, Result};
use crate::output::print_answer;
use serde_json::{json, Value};
use shuin_core::revocation::RevocationReason;
use shuin_core::{Action, Serial};
use std::path::Path;
use zeroize::Zeroizing;

/// `shuin revoke`.
#[derive(Debug, clap::Args)]
pub(crate) struct RevokeArgs {
    #[command(flatten)]
    pub(crate) ask: Ask,
    /// Serial in hex.
    #[arg(long)]
    pub(crate) serial: String,
    /// RFC 5280 reason name: unspecified, keyCompromise, cACompromise,
    /// affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn.
    #[arg(long, value_parser = reason)]
    pub(crate) reason: RevocationReason,
    /// When the key was compromised (RFC 3339).
    #[arg(long)]
    pub(crate) invalidity_date: Option<String>,
}

/// `--reason NAME`.
fn reason(text: &str) -> std::result::Result<RevocationReason, String> {
    let names = || RevocationReason::ALL.map(|r| r.name()).join(", ");
    RevocationReason::parse(text).ok_or_else(|| format!("must be one of {}", names()))
}

pub(crate) async fn revoke(args: RevokeArgs) -> Result<()> {
    let serial = Serial::from_hex(&args.serial)
        .ok_or_else(|| msg(format!("--serial {:?} is not a hex serial", args.serial)))?;
    let mut params = json!({"serial": serial.to_hex(), "reason": args.reason.name()});
    if let Some(text) = &args.invalidity_date {
        shuin_core::timefmt::parse_rfc3339(text)
            .ok_or_else(|| msg("--invalidity-date must be RFC 3339, e.g. 2026-01-02T03:04:05Z"))?;
        params["invalidity_date"] = json!(text);
    }
    args.ask.answer(Action::Revoke, params).await
}

/// `shuin crl [--root]`.
pub(crate) async fn crl(ask: &Ask, root: bool) -> Result<()> {
    let mut out = ask.call(Action::CrlNow, json!({})).await?;
    if root {
        let root = ask.call(Action::RootCrl, json!({})).await?;
        if let (Value::Array(list), Value::Array(more)) = (&mut out, root) {
            list.extend(more);
        }
    }
    print_answer(Action::CrlNow, &out, ask.json);
    Ok(())
}

/// `shuin unseal --share-file FILE`: the custodian signs a request carrying the share's
/// SHA-256; the share travels beside it as the attachment and never enters the books.
pub(crate) async fn unseal(ask: &Ask, share_file: &Path) -> Result<()> {
    let text = Zeroizing::new(
        std::fs::read_to_string(share_file)
            .context(format!("share file {}", share_file.display()))?,
    );
    let result = call(&ask.console, Action::Unseal, json!({}), Some(text)).await?;
    print_answer(Action::Unseal, &result, ask.json);
    Ok(())
}
