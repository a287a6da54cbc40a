//! `shuin ledger verify|show`.

use crate::failure::{msg, Context, Result};
use shuin_ledger::{Book, Entry};
use shuin_store::LedgerStore;
use std::path::Path;

/// Recomputes every entry hash and the tree head; an error for any alteration.
pub(crate) async fn verify(dir: &Path, json: bool) -> Result<()> {
    let store = crate::runtime::open_store(dir).await?;
    let rows = store.ledger_rows().await.context("reading the ledger")?;
    let head = store.ledger_head().await.context("reading the tree head")?;
    store.close().await;
    let result = shuin_ledger::verify_log(rows, head.as_ref());
    match result {
        Ok(report) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"ok": true, "size": report.size, "root": report.root_hex})
                );
            } else {
                println!(
                    "ledger OK: {} entries, tree head {}",
                    report.size, report.root_hex
                );
            }
            Ok(())
        }
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"ok": false, "error": e.to_string()})
                );
            }
            Err(msg(format!("ledger verification FAILED: {e}")))
        }
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
