//! `shuin disclose`: a holder obtains the records kept about them (名義人への情報開示),
//! signing the request with their card (docs/disclosure.md).

use crate::apply_cmd::CardArgs;
use crate::failure::{msg, Result};
use serde_json::Value;
use std::path::PathBuf;

/// What `shuin disclose` takes.
#[derive(Debug, clap::Args)]
pub(crate) struct DiscloseArgs {
    /// Server base URL.
    #[arg(long)]
    server: String,
    #[command(flatten)]
    card: CardArgs,
    /// Only this application (it must be yours); all of them when absent.
    #[arg(long)]
    application: Option<String>,
    /// Where to write the records (JSON, mode 0600; never overwritten).
    #[arg(long, default_value = "disclosure.json")]
    out: PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: DiscloseArgs) -> Result<()> {
    if args.out.exists() {
        return Err(msg(format!(
            "--out {} already exists; choose another file / 出力先のファイルが既にあります",
            args.out.display()
        )));
    }
    let card = args.card.source()?.open()?;
    let answer = shuin_client::disclose(&args.server, card.as_ref(), args.application.as_deref())?;
    save(&args.out, &answer)?;
    let applications = answer["applications"].as_array().map_or(0, Vec::len);
    let certificates: usize = answer["applications"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| a["certificates"].as_array().map_or(0, Vec::len))
        .sum();
    let summary = serde_json::json!({
        "out": args.out.display().to_string(),
        "applications": applications,
        "certificates": certificates,
        "truncated": answer["truncated"],
        "entry_seq": answer["entry_seq"],
    });
    let text = || {
        format!(
            "{applications} applications and {certificates} certificates disclosed (ledger entry {}); written to {}\n{applications} 件の申請と {certificates} 件の証明書の記録を {} に保存しました",
            answer["entry_seq"],
            args.out.display(),
            args.out.display()
        )
    };
    crate::output::show(args.json, || summary, text);
    Ok(())
}

/// Writes the records (personal data) readable by the owner only, never over a file.
fn save(path: &std::path::Path, answer: &Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(answer).unwrap_or_default();
    text.push('\n');
    shuin_keys::write_private_file(path, text.as_bytes())
        .map_err(|e| msg(format!("--out {}: {e}", path.display())))
}
