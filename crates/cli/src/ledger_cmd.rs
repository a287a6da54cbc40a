//! `shuin ledger verify|export|show`.

use crate::config::InstanceConfig;
use crate::failure::{msg, Context, Result};
use crate::output::failed;
use shuin_core::SystemClock;
use shuin_ledger::{Book, Entry};
use shuin_store::{LedgerReader, LedgerStore};
use std::path::Path;
use std::sync::Arc;

/// Recomputes every entry hash and the tree head of the database, and checks every
/// stored checkpoint against the tree and the audit key recorded in the facility book.
pub(crate) async fn verify(dir: &Path, json: bool) -> Result<()> {
    let store = crate::runtime::open_store(dir).await?;
    let rows = store.ledger_rows().await.context("reading the ledger")?;
    let head = store.ledger_head().await.context("reading the tree head")?;
    let checkpoints = store
        .checkpoints()
        .await
        .context("reading the checkpoints")?;
    store.close().await;
    let verified = shuin_books::checkpoints::verify_stored(&rows, head.as_ref(), &checkpoints)
        .map_err(|e| failed(json, "ledger verification", e))?;
    let (report, requests) = (verified.log, verified.operator_requests);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "ok": true,
                "size": report.size,
                "root": report.root_hex,
                "checkpoints": checkpoints.len(),
                "latest_checkpoint_size": checkpoints.last().map(|c| c.size),
                "operator_requests_verified": requests,
            })
        );
    } else {
        println!(
            "ledger OK: {} entries, tree head {}, {} signed checkpoints, {requests} signed operator requests re-checked",
            report.size,
            report.root_hex,
            checkpoints.len()
        );
    }
    Ok(())
}

/// Verifies an export offline, optionally against a checkpoint saved earlier.
pub(crate) fn verify_export(
    export: &Path,
    since: Option<&Path>,
    witnesses: Option<&crate::witness_cmd::WitnessPolicy>,
    json: bool,
) -> Result<()> {
    let saved = since
        .map(|path| std::fs::read_to_string(path).context(path.display()))
        .transpose()?;
    let report = shuin_ledger::verify_export(export, saved.as_deref())
        .map_err(|e| failed(json, "ledger export verification", e))?;
    let cosigned = witnesses
        .map(|w| w.check(export))
        .transpose()
        .map_err(|e| failed(json, "witness cosignatures", e))?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "ok": true,
                "origin": report.origin,
                "size": report.size,
                "root": report.root_hex,
                "checkpoints": report.checkpoints,
                "audit_key_id": report.key_id_hex,
                "audit_key_sha256": report.key_sha256_hex,
                "since_checkpoint_size": report.since_size,
                "operator_requests_verified": report.operator_requests,
                "witnesses": cosigned.as_ref().map(crate::witness_cmd::report_json),
                "books": {
                    "application": report.counts.application,
                    "revocation": report.counts.revocation,
                    "organization": report.counts.organization,
                    "facility": report.counts.facility,
                },
            })
        );
    } else {
        println!(
            "ledger export OK: {} entries, {} signed checkpoints, root {}",
            report.size, report.checkpoints, report.root_hex
        );
        println!(
            "  origin {}, audit key ID {} (SHA-256 of the key: {})",
            report.origin, report.key_id_hex, report.key_sha256_hex
        );
        if let Some(size) = report.since_size {
            println!("  extends the saved checkpoint of size {size}");
        }
        println!(
            "  {} signed operator requests re-checked against their operators' certificates",
            report.operator_requests
        );
        if let Some(cosigned) = &cosigned {
            println!("  {}", crate::witness_cmd::report_line(cosigned));
        }
    }
    Ok(())
}

/// Writes an export of the whole ledger, ending with a fresh checkpoint, and verifies
/// what it wrote.
pub(crate) async fn export(dir: &Path, out: &Path, json: bool) -> Result<()> {
    let (summary, report) = export_to(dir, out).await?;
    print_export(out, &summary, &report, json);
    Ok(())
}

/// Writes an export of the whole ledger to `out`, ending with a fresh checkpoint, and
/// verifies it (also used by the audit pack).
pub(crate) async fn export_to(
    dir: &Path,
    out: &Path,
) -> Result<(
    shuin_ledger::export::ExportSummary,
    shuin_ledger::ExportReport,
)> {
    let config = InstanceConfig::load(dir)?;
    let store = Arc::new(crate::runtime::open_store(dir).await?);
    // With its key at hand, the export ends with a fresh checkpoint. An instance sealed
    // by custodians has no PIN outside its running server: the export then ends at the
    // newest checkpoint that server signed.
    let maker = if config.ca.seal.is_some() && config.ca.key_backend.pin_file().is_none() {
        eprintln!("note: the instance is sealed by custodians; exporting up to the newest checkpoint the server signed");
        None
    } else {
        let backend = crate::runtime::open_key_backend(&config, dir)?;
        let parts = crate::runtime::parts_config(&config);
        let fail = |e: &dyn std::fmt::Display| msg(e.to_string());
        let maker =
            shuin_ca::parts::open_checkpoints(&parts, store.clone(), &backend, &SystemClock)
                .await
                .map_err(|e| fail(&e))?;
        maker.checkpoint_now().await.map_err(|e| fail(&e))?;
        Some(maker)
    };
    let rows = store.ledger_rows().await.context("reading the ledger")?;
    let stored = store
        .checkpoints()
        .await
        .context("reading the checkpoints")?;
    store.close().await;
    let key = maker.map(|maker| maker.key().clone());
    shuin_books::checkpoints::export_signed(out, rows, stored, key).map_err(|e| msg(e.to_string()))
}

/// Prints what [`export`] wrote.
fn print_export(
    out: &Path,
    summary: &shuin_ledger::export::ExportSummary,
    report: &shuin_ledger::ExportReport,
    json: bool,
) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "ok": true,
                "out": out.display().to_string(),
                "entries": summary.entries,
                "checkpoints": summary.checkpoints,
                "root": report.root_hex,
                "origin": report.origin,
                "audit_key_id": report.key_id_hex,
            })
        );
    } else {
        println!(
            "exported {} entries and {} signed checkpoints to {} (root {})",
            summary.entries,
            summary.checkpoints,
            out.display(),
            report.root_hex
        );
        println!(
            "verify it offline with: shuin ledger verify --export {}",
            out.display()
        );
    }
}

/// Prints the entries, optionally of one book.
pub(crate) async fn show(dir: &Path, book: Option<&str>, json: bool) -> Result<()> {
    let filter: Option<Book> = match book {
        None => None,
        Some(text) => Some(
            serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
                msg("--book must be application, revocation, organization or facility")
            })?,
        ),
    };
    let store = crate::runtime::open_store(dir).await?;
    let rows = store.ledger_rows().await.context("reading the ledger")?;
    store.close().await;
    let mut entries = Vec::new();
    for row in rows {
        let entry = Entry::from_canonical(&row.canonical)
            .map_err(|e| msg(format!("entry {}: {e}", row.seq)))?;
        if filter.is_none_or(|b| b == entry.book) {
            entries.push(entry);
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&entries).context("JSON")?
        );
    } else {
        for e in entries {
            println!(
                "{:>6}  {}  {:<12}  {:<40}  {} ({})",
                e.seq,
                e.time,
                format!("{:?}", e.book).to_lowercase(),
                e.kind,
                e.actor.name,
                e.actor.role
            );
        }
    }
    Ok(())
}
