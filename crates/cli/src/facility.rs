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
use crate::console_client::{call, ConsoleArgs};
use crate::failure::{msg, Context, Result};
use clap::Subcommand;
use shuin_core::access_event::{self, AccessImportError, Invalid, MAX_CSV_BYTES};
use shuin_core::{Action, Clock, SystemClock};
use std::io::Read;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// How many line numbers the one-line error names (all are listed above it).
const SUMMARY_LINES: usize = 20;

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
        console: ConsoleArgs,
        /// The CSV file (UTF-8, at most 8 MiB).
        #[arg(long)]
        csv: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Make a new bearer token for the access-control system (POST
    /// /ledger/v1/access-events), replacing any earlier one: printed once, only its
    /// SHA-256 is stored. With --revoke, turn the endpoint off.
    AccessToken {
        /// The ca_admin doing this signs the request (recorded in the facility book).
        #[command(flatten)]
        console: ConsoleArgs,
        /// Remove the token instead: the endpoint answers 404.
        #[arg(long)]
        revoke: bool,
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(command: FacilityCommand) -> Result<()> {
    match command {
        FacilityCommand::ImportAccess { console, csv, json } => {
            import_access(&console, &csv, json).await
        }
        FacilityCommand::AccessToken {
            console,
            revoke,
            json,
        } => access_token(&console, revoke, json).await,
    }
}

/// Checks the CSV here first (every bad line reported by number, nothing sent), then
/// sends it as the attachment of a ca_admin's signed request; the server checks it again
/// and records all rows or none.
async fn import_access(console: &ConsoleArgs, csv: &Path, json: bool) -> Result<()> {
    let bytes = read_bounded(csv)?;
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
    if json {
        println!("{recorded}");
    } else {
        let at = match (
            recorded["first_seq"].as_u64(),
            recorded["last_seq"].as_u64(),
        ) {
            (Some(first), Some(last)) => format!(" (seq {first} to {last})"),
            _ => String::new(),
        };
        println!(
            "imported {} entry/exit record(s) into the facility book{at}; {} duplicate(s) skipped",
            recorded["imported"], recorded["duplicates"]
        );
    }
    Ok(())
}

/// Reads at most `MAX_CSV_BYTES` (one more, to tell a file that is too large).
fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).context(path.display())?;
    let limit = u64::try_from(MAX_CSV_BYTES)
        .map_err(|e| msg(e.to_string()))?
        .saturating_add(1);
    let mut bytes = Vec::new();
    file.take(limit)
        .read_to_end(&mut bytes)
        .context(path.display())?;
    Ok(bytes)
}

/// Reports every invalid line (stderr, or stdout as JSON) and returns the one-line error.
fn refused(csv: &Path, error: &AccessImportError, json: bool) -> crate::failure::Error {
    let invalid: &[Invalid] = match error {
        AccessImportError::Invalid(invalid) => invalid,
        other => {
            let text = format!("{}: {other}; nothing was imported", csv.display());
            if json {
                println!("{}", serde_json::json!({"ok": false, "error": text}));
            }
            return msg(text);
        }
    };
    let mut lines: Vec<u64> = invalid.iter().map(|i| i.position).collect();
    lines.dedup();
    let mut named: Vec<String> = lines
        .iter()
        .take(SUMMARY_LINES)
        .map(u64::to_string)
        .collect();
    if lines.len() > SUMMARY_LINES {
        named.push("…".into());
    }
    let text = format!(
        "{}: {} invalid line(s) (line {}); nothing was imported",
        csv.display(),
        lines.len(),
        named.join(", ")
    );
    if json {
        let errors: Vec<serde_json::Value> = invalid
            .iter()
            .map(|i| {
                serde_json::json!({
                    "line": i.position,
                    "field": i.error.field().map(|f| f.as_str()),
                    "message": i.error.to_string(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"ok": false, "error": text, "errors": errors})
        );
    } else {
        for i in invalid {
            eprintln!("{}:{}: {}", csv.display(), i.position, i.error);
        }
    }
    msg(text)
}

/// Makes (or, with `revoke`, removes) the access-control system's token, as a ca_admin's
/// signed request. The facility book records it first (`facility.access_token_created`
/// / `_revoked`, with the token's SHA-256), then the setting changes; the server reads
/// the setting on every request.
async fn access_token(console: &ConsoleArgs, revoke: bool, json: bool) -> Result<()> {
    let params = serde_json::json!({"revoke": revoke});
    let answer = call(console, Action::FacilityToken, params, None).await?;
    match (answer["token"].as_str(), json) {
        (_, true) => println!("{answer}"),
        (Some(token), false) => {
            println!("{token}");
            eprintln!(
                "the access-control system's token is above: it is shown only this once (only its SHA-256 {} is kept).",
                answer["token_sha256"].as_str().unwrap_or("")
            );
            eprintln!(
                "configure the system to POST /ledger/v1/access-events with Authorization: Bearer <token>; any earlier token no longer works"
            );
        }
        (None, false) => println!(
            "the access-control token (SHA-256 {}) is revoked; POST /ledger/v1/access-events now answers 404",
            answer["revoked_sha256"].as_str().unwrap_or("")
        ),
    }
    Ok(())
}
