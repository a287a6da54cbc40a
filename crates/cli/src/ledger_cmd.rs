//! `shuin ledger verify|export|show`.

use crate::config::InstanceConfig;
use crate::failure::{Context, Result};
use crate::output::failed;
use shuin_books::ledger_trust::LedgerTrust;
use shuin_core::{Clock, SystemClock};
use shuin_ledger::{AuditKeyPin, Book};
use shuin_store::LedgerStore;
use std::path::Path;
use std::sync::Arc;

/// Recomputes every entry hash and the tree head of the database, checks every stored
/// checkpoint against the tree and the audit key recorded in the facility book, and the
/// key, the last signed head and the interval (`shuin_books::ledger_trust`).
pub(crate) async fn verify(dir: &Path, pin: Option<&str>, json: bool) -> Result<()> {
    let config = InstanceConfig::load(dir)?;
    let pin = pin
        .map(AuditKeyPin::parse)
        .transpose()?
        .or(config.ledger.pin());
    let (freshness, required) = (config.ledger.freshness(), !config.instance.development);
    let trust = LedgerTrust::read(dir, pin, required, freshness, SystemClock.now())?;
    let store = crate::runtime::open_store(dir).await?;
    // A spinner with the time taken (the books are read and checked in one step).
    let progress = crate::progress::TerminalProgress::stderr();
    progress.step("reading and verifying the books");
    let verified = shuin_books::checkpoints::verify_store(&store, &trust).await;
    shuin_ledger::export::Progress::end(&progress);
    store.close().await;
    let verified = verified
        .map_err(|e| crate::output::failed_with_code(json, "ledger verification", e.code(), &e))?;
    crate::output::show(json, || verified.to_json(), || verified.text());
    Ok(())
}

/// Verifies an export offline, optionally against a checkpoint saved earlier and the
/// audit key's pin.
pub(crate) fn verify_export(
    export: &Path,
    (since, pin): (Option<&Path>, Option<&str>),
    witnesses: Option<&shuin_ledger::export::WitnessPolicy>,
    json: bool,
) -> Result<()> {
    let progress = crate::progress::TerminalProgress::stderr();
    let report = shuin_ledger::export::verify_export_pinned(export, since, pin, &progress)
        .map_err(|e| {
            crate::output::failed_with_code(json, "ledger export verification", e.code(), &e)
        })?;
    let cosigned = witnesses
        .map(|w| w.check(export))
        .transpose()
        .map_err(|e| failed(json, "witness cosignatures", e))?;
    crate::output::say!("{}", report.show_with(cosigned.as_ref(), json));
    Ok(())
}

/// Writes an export of the whole ledger, ending with a fresh checkpoint, and verifies
/// what it wrote.
pub(crate) async fn export(dir: &Path, out: &Path, json: bool) -> Result<()> {
    let (summary, report) = export_to(dir, out, json).await?;
    let out = out.display().to_string();
    crate::output::show(
        json,
        || summary.to_json(&out, &report),
        || summary.text(&out, &report),
    );
    Ok(())
}

/// Writes an export of the whole ledger to `out`, ending with a fresh checkpoint, and
/// verifies it (also used by the audit pack).
pub(crate) async fn export_to(
    dir: &Path,
    out: &Path,
    json: bool,
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
        let parts = crate::runtime::parts_config(&config, dir);
        let (store, clock) = (store.clone(), Arc::new(SystemClock));
        let failed = |code, e: &dyn std::fmt::Display| {
            crate::output::failed_with_code(json, "ledger export", code, e)
        };
        let maker = shuin_ca::parts::open_checkpoints(&parts, store, &backend, clock)
            .await
            .map_err(|e| failed(e.code(), &e))?;
        maker
            .checkpoint_now()
            .await
            .map_err(|e| failed(e.code(), &e))?;
        Some(maker)
    };
    let progress = crate::progress::TerminalProgress::stderr();
    let key = maker.map(|maker| maker.key().clone());
    let pin = config.ledger.pin();
    let exported =
        shuin_books::checkpoints::export_signed(out, store.as_ref(), key, pin.as_ref(), &progress)
            .await;
    shuin_ledger::export::Progress::end(&progress);
    store.close().await;
    exported.map_err(|e| crate::output::failed_with_code(json, "ledger export", e.code(), &e))
}

/// Prints the entries, optionally of one book, reading the books a page at a time: the
/// whole ledger is never held at once. A row that cannot be read ends the listing with
/// an error (and, with `--json`, an unterminated array) where it stands.
pub(crate) async fn show(dir: &Path, book: Option<Book>, json: bool) -> Result<()> {
    let store = crate::runtime::open_store(dir).await?;
    let shown = show_pages(&store, book, json).await;
    store.close().await;
    shown
}

/// Ledger rows read per query by `ledger show`.
const SHOW_PAGE: u64 = 1_000;

async fn show_pages(store: &crate::runtime::Store, book: Option<Book>, json: bool) -> Result<()> {
    let mut next = 0;
    let mut shown = 0u64;
    loop {
        let page = store
            .ledger_rows_page(next, SHOW_PAGE)
            .await
            .context("reading the ledger")?;
        for entry in shuin_ledger::listing(&page, book)? {
            if json {
                // The same text as one pretty-printed array of every entry.
                let text = serde_json::to_string_pretty(&entry).context("JSON")?;
                let indented = text.lines().map(|l| format!("  {l}")).collect::<Vec<_>>();
                let open = if shown == 0 { "[\n" } else { ",\n" };
                crate::output::write_stdout(format_args!("{open}{}", indented.join("\n")));
            } else {
                crate::output::say!("{}", entry.line());
            }
            shown += 1;
        }
        let full = u64::try_from(page.len()).is_ok_and(|n| n >= SHOW_PAGE);
        match page.last() {
            Some(last) if full => next = last.seq.saturating_add(1),
            _ => break,
        }
    }
    if json {
        let close = if shown == 0 { "[]" } else { "\n]" };
        crate::output::say!("{close}");
    }
    Ok(())
}

/// `--book NAME`: application, revocation, organisation (organization) or facility.
pub(crate) fn book(name: &str) -> std::result::Result<Book, String> {
    Book::from_name(name)
        .ok_or_else(|| "must be application, revocation, organisation or facility".into())
}
