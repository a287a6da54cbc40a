//! Retention of evidence (docs/ledger.md, "Retention"): `[retention]` in shuin.toml,
//! `shuin retention show` and `shuin retention purge`; the rules and the purge are
//! `shuin_books::retention`.
//!
//! Ledger entries are never deleted by any interface. What is purged is raw evidence
//! (the signed application CMS stored by SHA-256) whose retention has ended: the related
//! certificate's notAfter (or a rejected application's arrival) plus the configured
//! number of years. Each batch is ledgered as `application.evidence_purged` durably
//! before anything is deleted; if the ledger cannot be written, nothing is deleted.

use crate::console_client::{call, ConsoleArgs};
use crate::failure::{msg, Context, Result};
use crate::output::show;
use clap::Subcommand;
use shuin_books::retention;
use shuin_core::Action;
use shuin_core::{Clock, SystemClock};
use std::path::PathBuf;

/// `[retention]` in shuin.toml.
pub(crate) use shuin_books::retention::RetentionSection;

/// The console arguments of `purge`, whose key is optional for a dry run.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct PurgeConsole {
    /// The instance directory (its console socket DIR/admin.sock).
    #[arg(long, value_name = "DIR", required_unless_present = "socket")]
    pub(crate) data: Option<PathBuf>,
    /// The server's local console socket (instead of --data).
    #[arg(long, value_name = "PATH", conflicts_with = "data")]
    pub(crate) socket: Option<PathBuf>,
    /// The ca_admin's key (see `shuin revoke --help`); not needed with --dry-run.
    #[arg(long, value_name = "URI")]
    pub(crate) operator_key: Option<String>,
    /// The PKCS#11 library of the operator's token.
    #[arg(long, value_name = "PATH")]
    pub(crate) pkcs11_module: Option<PathBuf>,
    /// The token's PIN file (mode 0600); otherwise asked on the terminal.
    #[arg(long, value_name = "FILE")]
    pub(crate) pin_file: Option<PathBuf>,
}

impl PurgeConsole {
    /// The signed-request arguments, when a key is given.
    fn signed(&self) -> Option<ConsoleArgs> {
        Some(ConsoleArgs {
            data: self.data.clone(),
            socket: self.socket.clone(),
            key: crate::operator_key::OperatorKeyArgs {
                operator_key: self.operator_key.clone()?,
                pkcs11_module: self.pkcs11_module.clone(),
                pin_file: self.pin_file.clone(),
            },
            network: Default::default(),
        })
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
        /// A ca_admin signs the purge (a dry run only reads, with --data).
        #[command(flatten)]
        console: PurgeConsole,
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
            let view = result?;
            let years = config.retention.evidence_years_after_expiry;
            show(json, || &view, || retention::overview_text(&view, years));
            Ok(())
        }
        RetentionCommand::Purge {
            console,
            dry_run,
            json,
        } => {
            let report = match (dry_run, console.signed()) {
                (true, _) => {
                    let data = console
                        .data
                        .as_ref()
                        .ok_or_else(|| msg("a dry run reads the instance: give --data DIR"))?;
                    let config = crate::config::InstanceConfig::load(data)?;
                    let store = crate::runtime::open_store(data).await?;
                    let result = retention::purge(
                        &store,
                        None,
                        &config.retention.policy(),
                        SystemClock.now(),
                    )
                    .await;
                    store.close().await;
                    result?
                }
                (false, Some(signed)) => {
                    let value =
                        call(&signed, Action::RetentionPurge, serde_json::json!({}), None).await?;
                    serde_json::from_value(value).context("the server's answer")?
                }
                (false, None) => {
                    return Err(msg(
                        "purging is a ca_admin's signed request: give --operator-key URI",
                    ))
                }
            };
            let as_json = serde_json::to_string(&report).context("JSON")?;
            show(json, || as_json, || report.text());
            Ok(())
        }
    }
}
