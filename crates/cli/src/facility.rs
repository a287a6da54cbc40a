//! `shuin facility import-access|access-token`: entry/exit records of the certificate
//! equipment room (入退室管理) in the facility book (docs/ledger.md, "Entry/exit
//! records"); the `[facility]` section of shuin.toml is `shuin_books::facility`.
//!
//! Both are a ca_admin's signed requests to the running server (the CSV travels as the
//! attachment). Validation is `shuin_core::access_event` (pure, shared with the HTTP
//! endpoint, run here first and again on the server); recording is
//! `shuin_server::AccessEvents` (one atomic batch with idempotency keys); the door rules
//! and the token's life are `shuin_books::facility`.

use crate::config::InstanceConfig;
use crate::console_client::{call, Ask};
use crate::failure::{msg, Context, Result};
use crate::output::{print, print_answer};
use clap::Subcommand;
use shuin_books::access_import::{self, ImportRefusal};
use shuin_books::console::answers::token_notice;
use shuin_core::access_event::{self, AccessImportError};
use shuin_core::{Action, Clock, SystemClock};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// `[facility]` in shuin.toml.
pub(crate) use shuin_books::facility::FacilitySection;

#[derive(Debug, Subcommand)]
pub(crate) enum FacilityCommand {
    /// Import entry/exit records of the certificate equipment room from a CSV file with
    /// the header time,person,door,direction. All rows go into the facility book in one
    /// transaction, or none (every bad row is reported by line number); rows recorded
    /// before are skipped.
    ImportAccess {
        /// A ca_admin signs the request; the CSV travels beside it.
        #[command(flatten)]
        ask: Ask,
        /// The CSV file (UTF-8, at most 8 MiB).
        #[arg(long)]
        csv: PathBuf,
    },
    /// Make a new bearer token for the access-control system (POST
    /// /ledger/v1/access-events), replacing any earlier one: printed once, only its
    /// SHA-256 is stored. With --revoke, turn the endpoint off.
    AccessToken {
        /// The ca_admin doing this signs the request (recorded in the facility book).
        #[command(flatten)]
        ask: Ask,
        /// Remove the token instead: the endpoint answers 404.
        #[arg(long)]
        revoke: bool,
    },
}

pub(crate) async fn run(command: FacilityCommand) -> Result<()> {
    match command {
        FacilityCommand::ImportAccess { ask, csv } => import_access(&ask, &csv).await,
        FacilityCommand::AccessToken { ask, revoke } => access_token(&ask, revoke).await,
    }
}

/// Checks the CSV here first (every bad line reported by number, nothing sent), then
/// sends it as the attachment of a ca_admin's signed request; the server checks it again
/// and records all rows or none.
async fn import_access(ask: &Ask, csv: &Path) -> Result<()> {
    let (console, json) = (&ask.console, ask.json);
    let bytes = access_import::read_bounded(csv).context(csv.display())?;
    if let Some(data) = &console.data {
        let policy = InstanceConfig::load(data)?.facility.policy();
        access_event::parse_csv(&bytes, &policy, SystemClock.now())
            .map_err(|error| refused(csv, &error, json))?;
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        msg(format!(
            "{}: not UTF-8; nothing was imported",
            csv.display()
        ))
    })?;
    let file_name = csv
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let params = serde_json::json!({"file_name": file_name});
    let recorded = call(
        console,
        Action::FacilityImport,
        params,
        Some(Zeroizing::new(text)),
    )
    .await?;
    print(&recorded, json, access_import::imported_text);
    Ok(())
}

/// Reports every invalid line (stderr, or stdout as JSON) and returns the one-line error.
fn refused(csv: &Path, error: &AccessImportError, json: bool) -> crate::failure::Error {
    let refusal = ImportRefusal::new(&csv.display().to_string(), error);
    if json {
        crate::output::say!("{}", refusal.json);
    } else {
        for line in &refusal.lines {
            eprintln!("{line}");
        }
    }
    msg(refusal.summary)
}

/// Makes (or, with `revoke`, removes) the access-control system's token, as a ca_admin's
/// signed request. The facility book records it first (`facility.access_token_created`
/// / `_revoked`, with the token's SHA-256), then the setting changes; the server reads
/// the setting on every request.
async fn access_token(ask: &Ask, revoke: bool) -> Result<()> {
    let params = serde_json::json!({"revoke": revoke});
    let answer = ask.call(Action::FacilityToken, params).await?;
    print_answer(Action::FacilityToken, &answer, ask.json);
    if let Some(notice) = token_notice(&answer).filter(|_| !ask.json) {
        eprintln!("{notice}");
    }
    Ok(())
}
