//! `shuin audit pack --data DIR --out X`: gathers what `shuin_books::audit_pack` needs
//! from the instance (configuration, status, operator registry), and writes
//! `X/index.html`, `X/pack.json` and the ledger export `X/ledger-export/`
//! (docs/audit-pack.md).

use crate::config::InstanceConfig;
use crate::failure::{msg, Context, Result};
use crate::runtime::Store;
use serde_json::json;
use shuin_books::audit_pack::{
    export_failed, export_verified, file_digest, Gathered, InstanceSettings, Pack,
};
use shuin_books::checkpoints::check_with_recorded_key;
use shuin_core::{Clock, SystemClock};
use std::path::Path;

/// What the pack needs from outside shuin-books: the configuration, `shuin status`, the
/// files, and the operator registry (shuin-ra).
async fn gathered(
    dir: &Path,
    config: &InstanceConfig,
    store: &Store,
    status: serde_json::Value,
    export: serde_json::Value,
) -> Result<Gathered> {
    let files = json!({
        "terms": file_digest(dir, &config.ra.terms),
        "cps": file_digest(dir, &config.instance.cps),
        "root_certificate": file_digest(dir, &config.ca.root_certificate),
        "issuing_certificate": file_digest(dir, &config.ca.issuing_certificate),
        "jpki_crl": match &config.jpki.crl {
            shuin_ra::config::CrlFiles::One(path) => file_digest(dir, path),
            shuin_ra::config::CrlFiles::Several(paths) => paths.iter().map(|p| file_digest(dir, p)).collect(),
        },
    });
    let (operators, responsible_person, automation_state) =
        shuin_ra::operators::audit_registry(store).await?;
    Ok(Gathered {
        instance: InstanceSettings {
            public_url: config.instance.public_url.clone(),
            development: config.instance.development,
            issuing_key: config.ca.issuing_key.clone(),
            policy_oid: config.ca.policy_oid.clone(),
            subscriber_validity_days: config.ca.subscriber_validity_days,
            responsible_person: config.ra.responsible_person.clone(),
            automatic_approval: config.ra.automatic_approval,
            nonce_ttl_seconds: config.ra.nonce_ttl_seconds,
            publishers: config.publishers.len(),
            rule_version: shuin_ra::RULE_VERSION.to_owned(),
            retention: config.retention.policy(),
            audit_key_sha256: config.ledger.audit_key_sha256.clone(),
        },
        status,
        export,
        files,
        operators,
        responsible_person,
        automation_state,
    })
}

/// Writes the audit pack of the instance in `dir` into the new directory `out`.
/// `shuin audit pack`: the signed request first (role and zone checked, recorded), then
/// the pack from the instance's books.
pub(crate) async fn pack_signed(ask: &crate::console_client::Ask, out: &Path) -> Result<()> {
    let dir = ask
        .console
        .data
        .as_ref()
        .ok_or_else(|| msg("the pack is read from the instance: give --data DIR"))?;
    let params = serde_json::json!({"out": out.display().to_string()});
    ask.call(shuin_core::Action::AuditPack, params).await?;
    pack(dir, out, ask.json).await
}

async fn pack(dir: &Path, out: &Path, json_output: bool) -> Result<()> {
    let config = InstanceConfig::load(dir)?;
    new_directory(out)?;
    let export = match crate::ledger_cmd::export_to(dir, &out.join(EXPORT_DIR), false).await {
        Ok((summary, report)) => export_verified(&summary, &report),
        // A sealed instance cannot sign a fresh checkpoint: say so in the pack.
        Err(e) => export_failed(&e),
    };
    let status = crate::status_cmd::report(dir, &config, SystemClock.now()).await?;
    let store = crate::runtime::open_store(dir).await?;
    let written = write(dir, &config, &store, out, (status, export)).await;
    store.close().await;
    let pack = written?;
    let shown = out.display().to_string();
    if json_output {
        crate::output::say!("{}", pack.summary_json(&shown));
    } else {
        let index = out.join("index.html").display().to_string();
        crate::output::say!("{}", pack.summary_text(&shown, &index));
    }
    Ok(())
}

/// Where the pack keeps its ledger export.
const EXPORT_DIR: &str = "ledger-export";

/// Makes `out`, which must not exist or be empty.
fn new_directory(out: &Path) -> Result<()> {
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
    std::fs::create_dir_all(out).context(out.display())
}

/// Writes `pack.json` and `index.html` into `out`, beside the ledger export already
/// there, from the books in `store`, the status report and the export's facts.
async fn write(
    dir: &Path,
    config: &InstanceConfig,
    store: &Store,
    out: &Path,
    (status, export): (serde_json::Value, serde_json::Value),
) -> Result<Pack> {
    let now = SystemClock.now();
    let gathered = gathered(dir, config, store, status, export).await?;
    let check = &check_with_recorded_key;
    let facts = shuin_books::audit_pack::gather(store, gathered, check, now).await?;
    let pack = Pack::new(&facts, env!("CARGO_PKG_VERSION"));
    let text = serde_json::to_string_pretty(&pack.document).context("JSON")?;
    std::fs::write(out.join("pack.json"), text + "\n").context("pack.json")?;
    std::fs::write(out.join("index.html"), pack.html()).context("index.html")?;
    Ok(pack)
}

/// The audit pack of a running server (the web console's auditor's view): its ledger
/// export ends at the newest checkpoint the server signed, and the status report holds
/// the server's own seal state.
pub(crate) async fn write_served(
    console: &crate::console::Console,
    seal: shuin_ca::seal::SealStatus,
    out: &Path,
) -> Result<()> {
    new_directory(out)?;
    let export = match export_served(console, &out.join(EXPORT_DIR)).await {
        Ok((summary, report)) => export_verified(&summary, &report),
        Err(e) => export_failed(&e),
    };
    let (dir, config) = (&console.dir, &console.config);
    let live = crate::admin_socket::Liveness::Running(seal);
    let status = crate::status_cmd::report_with(dir, config, SystemClock.now(), live).await?;
    write(dir, config, &console.store, out, (status, export)).await?;
    Ok(())
}

/// An export of a running server's books into `out`, up to the newest checkpoint it
/// signed, checked against the audit key's pin.
pub(crate) async fn export_served(
    console: &crate::console::Console,
    out: &Path,
) -> std::result::Result<
    (
        shuin_ledger::export::ExportSummary,
        shuin_ledger::ExportReport,
    ),
    shuin_books::checkpoints::SignedExportError,
> {
    let pin = console.config.ledger.pin();
    let quiet = shuin_ledger::export::Quiet;
    let store = console.store.as_ref();
    shuin_books::checkpoints::export_signed(out, store, None, pin.as_ref(), &quiet).await
}
