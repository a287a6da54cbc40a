//! `shuin audit pack --data DIR --out X`: maps each survey item of docs/criteria.md and
//! each modernisation condition to the evidence the instance gathers itself, or marks it
//! organisational, and writes `X/index.html`, `X/pack.json` and the ledger export
//! `X/ledger-export/` (docs/audit-pack.md).

mod catalogue;
mod facts;
mod html;

use crate::config::InstanceConfig;
use crate::failure::{msg, Context, Result};
use serde_json::json;
use shuin_core::{Clock, SystemClock};
use std::path::Path;

/// The pack's format name.
pub(crate) const FORMAT: &str = "shuin-audit-pack/1";

/// Writes the audit pack of the instance in `dir` into the new directory `out`.
pub(crate) async fn pack(dir: &Path, out: &Path, json_output: bool) -> Result<()> {
    let config = InstanceConfig::load(dir)?;
    if out.exists()
        && std::fs::read_dir(out)
            .context(out.display())?
            .next()
            .is_some()
    {
        return Err(msg(format!(
            "{} is not empty: the audit pack needs a new directory",
            out.display()
        )));
    }
    std::fs::create_dir_all(out).context(out.display())?;
    let export_dir = out.join("ledger-export");
    let export = match crate::ledger_cmd::export_to(dir, &export_dir).await {
        Ok((summary, report)) => json!({
            "dir": "ledger-export",
            "entries": summary.entries,
            "checkpoints": summary.checkpoints,
            "verified": {
                "ok": true,
                "origin": report.origin,
                "size": report.size,
                "root": report.root_hex,
                "audit_key_id": report.key_id_hex,
                "audit_key_sha256": report.key_sha256_hex,
            },
            "verify_with": "shuin ledger verify --export ledger-export",
        }),
        // A sealed instance cannot sign a fresh checkpoint: say so in the pack.
        Err(e) => json!({"dir": null, "verified": {"ok": false, "error": e.to_string()}}),
    };
    let now = SystemClock.now();
    let facts = facts::gather(dir, config, export, now).await?;
    let (items, conditions) = catalogue::catalogue(&facts);
    let count = |status: &str| {
        items
            .iter()
            .chain(conditions.iter())
            .filter(|i| i.status == status)
            .count()
    };
    let pack = json!({
        "format": FORMAT,
        "generated_at": facts.generated_at,
        "shuin_version": env!("CARGO_PKG_VERSION"),
        "criteria": "docs/criteria.md",
        "instance": {
            "public_url": facts.config.instance.public_url,
            "development": facts.config.instance.development,
        },
        "summary": {
            "items": items.len(),
            "conditions": conditions.len(),
            "evidence": count("evidence"),
            "partial": count("partial"),
            "organisational": count("organisational"),
        },
        "items": items,
        "conditions": conditions,
        "key_backend": {
            "status": facts.status,
            "issuing_key": facts.config.ca.issuing_key,
        },
        "seal": facts.status["seal"],
        "zone_policy": catalogue::zone_policy(),
        "crl": facts.crl,
        "retention": facts.retention,
        "ledger": {
            "books": facts.books,
            "verification": facts.ledger_verification,
            "latest_checkpoint": facts.latest_checkpoint,
            "export": facts.export,
        },
        "counts": facts.counts,
        "files": facts.files,
    });
    let text = serde_json::to_string_pretty(&pack).context("JSON")?;
    std::fs::write(out.join("pack.json"), text + "\n").context("pack.json")?;
    std::fs::write(
        out.join("index.html"),
        html::render(&pack, &items, &conditions),
    )
    .context("index.html")?;
    if json_output {
        println!(
            "{}",
            json!({"ok": true, "out": out.display().to_string(), "summary": pack["summary"], "ledger_export_verified": pack["ledger"]["export"]["verified"]["ok"]})
        );
    } else {
        println!(
            "audit pack written to {}: {} survey items and {} conditions ({} with evidence, {} partial, {} organisational)",
            out.display(),
            items.len(),
            conditions.len(),
            count("evidence"),
            count("partial"),
            count("organisational")
        );
        println!("open {}", out.join("index.html").display());
    }
    Ok(())
}
