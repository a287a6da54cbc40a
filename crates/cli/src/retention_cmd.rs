//! Retention of evidence (docs/ledger.md, "Retention"): `[retention]` in shuin.toml,
//! `shuin retention show` and `shuin retention purge`; the rules and the purge are
//! `shuin_books::retention`.
//!
//! Ledger entries are never deleted by any interface. What is purged is raw evidence
//! (the signed application CMS stored by SHA-256) whose retention has ended: the related
//! certificate's notAfter (or a rejected application's arrival) plus the configured
//! number of years. Each batch is ledgered as `application.evidence_purged` durably
//! before anything is deleted; if the ledger cannot be written, nothing is deleted.

use crate::failure::{msg, Context, Result};
use crate::operator_cmd::{authorize, open_registry};
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use shuin_books::retention::{self, RetentionError, RetentionPolicy, MINIMUM_YEARS};
use shuin_core::{Clock, SystemClock};
use shuin_ra::operators::Role;
use std::path::PathBuf;

/// `[retention]` in shuin.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetentionSection {
    /// Years that evidence is kept after the related certificate expires (or after a
    /// rejected application arrived). At least 10.
    #[serde(default = "default_years")]
    pub(crate) evidence_years_after_expiry: u32,
}

fn default_years() -> u32 {
    MINIMUM_YEARS
}

impl Default for RetentionSection {
    fn default() -> Self {
        Self {
            evidence_years_after_expiry: default_years(),
        }
    }
}

/// One line for stderr from a retention error.
pub(crate) fn failed(e: RetentionError) -> crate::failure::Error {
    msg(e.to_string())
}

impl RetentionSection {
    /// The policy these settings give (`shuin_books::retention`).
    pub(crate) fn policy(&self) -> RetentionPolicy {
        RetentionPolicy {
            evidence_years_after_expiry: self.evidence_years_after_expiry,
        }
    }

    /// Checked once at start-up.
    pub(crate) fn check(&self) -> Result<()> {
        self.policy().check().map_err(failed)
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum RetentionCommand {
    /// Show the retention settings and how the stored evidence stands.
    Show {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Purge evidence whose retention has ended (each batch is ledgered first).
    Purge {
        #[arg(long)]
        data: PathBuf,
        /// The operator purging: a `ca_admin` (not needed with --dry-run).
        #[arg(long, required_unless_present = "dry_run")]
        operator: Option<String>,
        /// Only list what would be purged.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(command: RetentionCommand) -> Result<()> {
    match command {
        RetentionCommand::Show { data, json } => {
            let config = crate::config::InstanceConfig::load(&data)?;
            let store = crate::runtime::open_store(&data).await?;
            let result =
                retention::overview(&store, &config.retention.policy(), SystemClock.now()).await;
            store.close().await;
            let view = result.map_err(failed)?;
            if json {
                println!("{view}");
            } else {
                let e = &view["evidence"];
                println!(
                    "evidence is kept {} years after the related certificate expires (ledger entries are never deleted)",
                    config.retention.evidence_years_after_expiry
                );
                println!("cutoff now: {}", view["cutoff"].as_str().unwrap_or(""));
                println!(
                    "evidence stored {}, expired {}, held (undecided) {}, held (no application) {}",
                    e["stored"], e["expired"], e["held_undecided"], e["held_unlinked"]
                );
                if let Some(next) = e["next_expiry"].as_str() {
                    println!("next expiry: {next}");
                }
            }
            Ok(())
        }
        RetentionCommand::Purge {
            data,
            operator,
            dry_run,
            json,
        } => {
            let (store, config) = open_registry(&data).await?;
            let result = async {
                let actor = match (dry_run, operator.as_deref()) {
                    (true, _) => None,
                    (false, Some(name)) => {
                        Some(authorize(&store, name, Role::CaAdmin, "retention.purge").await?)
                    }
                    (false, None) => return Err(msg("--operator is needed to purge")),
                };
                retention::purge(&store, actor, &config.retention.policy(), SystemClock.now())
                    .await
                    .map_err(failed)
            }
            .await;
            store.close().await;
            let report = result?;
            if json {
                println!("{}", serde_json::to_string(&report).context("JSON")?);
            } else if report.dry_run {
                println!(
                    "{} pieces of evidence are past retention (cutoff {}); nothing was changed",
                    report.purged.len(),
                    report.cutoff
                );
                for hash in &report.purged {
                    println!("  sha256:{hash}");
                }
            } else {
                println!(
                    "purged {} pieces of evidence past retention (cutoff {}); ledger entries {:?}",
                    report.deleted, report.cutoff, report.ledger_seqs
                );
            }
            Ok(())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn retention_below_ten_years_is_refused_and_ten_is_the_default() {
        assert_eq!(RetentionSection::default().evidence_years_after_expiry, 10);
        let short = RetentionSection {
            evidence_years_after_expiry: 9,
        };
        assert!(short.check().is_err());
        let parsed: RetentionSection = toml::from_str("").unwrap();
        parsed.check().unwrap();
    }
}
