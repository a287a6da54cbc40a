//! `shuin facility import-access|access-token`: entry/exit records of the certificate
//! equipment room (入退室管理) in the facility book (docs/ledger.md, "Entry/exit
//! records"), and the `[facility]` section of shuin.toml.
//!
//! Validation is `shuin_core::access_event` (pure, shared with the HTTP endpoint);
//! recording is `shuin_server::AccessEvents` (one atomic batch with idempotency keys);
//! the door rules and the token's life are `shuin_books::facility`.

use crate::config::InstanceConfig;
use crate::failure::{msg, Context, Result};
use crate::operator_cmd::LOCAL_ZONE;
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use shuin_core::access_event::{self, AccessImportError, AccessPolicy, Invalid, MAX_CSV_BYTES};
use shuin_core::{Clock, OsRandom, SystemClock};
use shuin_ledger::Actor;
use shuin_ra::operators::Role;
use shuin_server::{AccessEvents, TOKEN_SETTING};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How many line numbers the one-line error names (all are listed above it).
const SUMMARY_LINES: usize = 20;

/// `[facility]` in shuin.toml.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FacilitySection {
    /// The doors of the certificate equipment room as the access-control system names
    /// them; when not empty, an event at any other door is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) doors: Vec<String>,
    /// How far an event's time may lie ahead of this host's clock.
    #[serde(default = "default_skew")]
    pub(crate) max_clock_skew_seconds: u64,
}

fn default_skew() -> u64 {
    access_event::DEFAULT_MAX_SKEW.as_secs()
}

impl Default for FacilitySection {
    fn default() -> Self {
        Self {
            doors: Vec::new(),
            max_clock_skew_seconds: default_skew(),
        }
    }
}

impl FacilitySection {
    /// Whether nothing is set (`init` then writes no `[facility]` table, so an operator
    /// can append one).
    pub(crate) fn is_default(&self) -> bool {
        self.doors.is_empty() && self.max_clock_skew_seconds == default_skew()
    }

    /// Checked once at start-up (`shuin_books::facility::check_policy`).
    pub(crate) fn check(&self) -> Result<()> {
        shuin_books::facility::check_policy(&self.policy()).map_err(|e| msg(e.to_string()))
    }

    /// What the importers accept.
    pub(crate) fn policy(&self) -> AccessPolicy {
        AccessPolicy {
            doors: self.doors.clone(),
            max_skew: Duration::from_secs(self.max_clock_skew_seconds),
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum FacilityCommand {
    /// Import entry/exit records of the certificate equipment room from a CSV file with
    /// the header time,person,door,direction. All rows go into the facility book in one
    /// transaction, or none (every bad row is reported by line number); rows recorded
    /// before are skipped.
    ImportAccess {
        /// Instance directory.
        #[arg(long)]
        data: PathBuf,
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
        /// Instance directory.
        #[arg(long)]
        data: PathBuf,
        /// The ca_admin doing this (recorded in the facility book).
        #[arg(long)]
        operator: String,
        /// Remove the token instead: the endpoint answers 404.
        #[arg(long)]
        revoke: bool,
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(command: FacilityCommand) -> Result<()> {
    match command {
        FacilityCommand::ImportAccess { data, csv, json } => import_access(&data, &csv, json).await,
        FacilityCommand::AccessToken {
            data,
            operator,
            revoke,
            json,
        } => access_token(&data, &operator, revoke, json).await,
    }
}

/// Who the entries of a CSV import name as actor: the instance's own terminal.
fn import_actor() -> Actor {
    Actor {
        name: "shuin-facility-import".into(),
        role: "system".into(),
        zone: LOCAL_ZONE.into(),
    }
}

async fn import_access(data: &Path, csv: &Path, json: bool) -> Result<()> {
    let config = InstanceConfig::load(data)?;
    let policy = config.facility.policy();
    let bytes = read_bounded(csv)?;
    let now = SystemClock.now();
    let events = access_event::parse_csv(&bytes, &policy, now)
        .map_err(|error| refused(csv, &error, json))?;
    let store = Arc::new(crate::runtime::open_store(data).await?);
    let access = AccessEvents::new(store.clone(), store.clone(), policy);
    let file_name = csv
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let source = format!("csv:{file_name}");
    let recorded = access.record(&events, &source, &import_actor(), now).await;
    store.close().await;
    let recorded = recorded.context("recording the entry/exit records")?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "ok": true,
                "source": source,
                "imported": recorded.imported,
                "duplicates": recorded.duplicates,
                "first_seq": recorded.seqs.map(|(first, _)| first),
                "last_seq": recorded.seqs.map(|(_, last)| last),
            })
        );
    } else {
        let at = recorded
            .seqs
            .map(|(first, last)| format!(" (seq {first} to {last})"))
            .unwrap_or_default();
        println!(
            "imported {} entry/exit record(s) into the facility book{at}; {} duplicate(s) skipped",
            recorded.imported, recorded.duplicates
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

/// Makes (or, with `revoke`, removes) the access-control system's token. The facility
/// book records it first (`facility.access_token_created` / `_revoked`, with the
/// token's SHA-256), then the setting changes; a running server reads the setting on
/// every request, so no restart is needed.
async fn access_token(data: &Path, operator: &str, revoke: bool, json: bool) -> Result<()> {
    let (store, _config) = crate::operator_cmd::open_registry(data).await?;
    let result = change_token(&store, operator, revoke).await;
    store.close().await;
    let (token, hash) = result?;
    match (token, json) {
        (Some(token), true) => println!(
            "{}",
            serde_json::json!({"ok": true, "token": token, "token_sha256": hash})
        ),
        (Some(token), false) => {
            println!("{token}");
            eprintln!(
                "the access-control system's token is above: it is shown only this once (only its SHA-256 {hash} is kept)."
            );
            eprintln!(
                "configure the system to POST /ledger/v1/access-events with Authorization: Bearer <token>; any earlier token no longer works"
            );
        }
        (None, true) => println!(
            "{}",
            serde_json::json!({"ok": true, "revoked_sha256": hash})
        ),
        (None, false) => println!(
            "the access-control token (SHA-256 {hash}) is revoked; POST /ledger/v1/access-events now answers 404"
        ),
    }
    Ok(())
}

/// The new token (none when revoking) and the SHA-256 concerned.
async fn change_token(
    store: &shuin_store::sqlite::SqliteStore,
    operator: &str,
    revoke: bool,
) -> Result<(Option<String>, String)> {
    let action = if revoke {
        "revoke the access-control system's token"
    } else {
        "make a token for the access-control system"
    };
    let actor = crate::operator_cmd::authorize(store, operator, Role::CaAdmin, action).await?;
    let change = shuin_books::facility::change_access_token(
        store,
        TOKEN_SETTING,
        actor,
        revoke,
        &OsRandom,
        SystemClock.now(),
    )
    .await
    .map_err(|e| msg(e.to_string()))?;
    Ok((change.token, change.sha256))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_is_checked() {
        let ok: FacilitySection =
            toml::from_str("doors = [\"server-room-east\", \"server-room-west\"]").unwrap();
        ok.check().unwrap();
        assert_eq!(ok.max_clock_skew_seconds, 300);
        let twice: FacilitySection = toml::from_str("doors = [\"a\", \"a\"]").unwrap();
        assert!(twice.check().is_err());
        let padded: FacilitySection = toml::from_str("doors = [\" a\"]").unwrap();
        assert!(padded.check().is_err());
        assert!(toml::from_str::<FacilitySection>("door = []").is_err());
    }
}
