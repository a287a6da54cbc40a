//! Retention of evidence (docs/ledger.md, "Retention"): `[retention]` in shuin.toml,
//! `shuin retention show` and `shuin retention purge`; the rules and the purge are
//! `shuin_books::retention`.
//!
//! Ledger entries are never deleted by any interface. What is purged is raw evidence
//! (the signed application CMS stored by SHA-256) whose retention has ended: the related
//! certificate's notAfter (or a rejected application's arrival) plus the configured
//! number of years. Each batch is ledgered as `application.evidence_purged` durably
//! before anything is deleted; if the ledger cannot be written, nothing is deleted.

use crate::console_client::Ask;
use crate::failure::{Context, Result};
use crate::output::show;
use clap::Subcommand;
use shuin_books::retention;
use shuin_core::Action;
use shuin_core::{Clock, SystemClock};

/// `[retention]` in shuin.toml.
pub(crate) use shuin_books::retention::RetentionSection;

#[derive(Debug, Subcommand)]
pub(crate) enum RetentionCommand {
    /// Show the retention settings and how the stored evidence stands.
    Show {
        #[command(flatten)]
        read: crate::output::Reading,
        /// List the evidence past retention, which `purge` would delete (nothing is
        /// changed).
        #[arg(long)]
        due: bool,
    },
    /// Purge evidence whose retention has ended (a ca_admin's signed request; each batch
    /// is ledgered first).
    Purge(Ask),
}

pub(crate) async fn run(command: RetentionCommand) -> Result<()> {
    match command {
        RetentionCommand::Show { read, due } => {
            let config = crate::config::InstanceConfig::load(&read.data)?;
            let store = crate::runtime::open_store(&read.data).await?;
            let (policy, now) = (config.retention.policy(), SystemClock.now());
            if due {
                let report = retention::purge(&store, None, &policy, now).await;
                store.close().await;
                return print_report(&report?, read.json);
            }
            let view = retention::overview(&store, &policy, now).await;
            store.close().await;
            let (view, years) = (view?, config.retention.evidence_years_after_expiry);
            show(
                read.json,
                || &view,
                || retention::overview_text(&view, years),
            );
            Ok(())
        }
        RetentionCommand::Purge(ask) => {
            let value = ask
                .call(Action::RetentionPurge, serde_json::json!({}))
                .await?;
            let report = serde_json::from_value(value).context("the server's answer")?;
            print_report(&report, ask.json)
        }
    }
}

fn print_report(report: &retention::PurgeReport, json: bool) -> Result<()> {
    let as_json = serde_json::to_string(report).context("JSON")?;
    show(json, || as_json, || report.text());
    Ok(())
}
