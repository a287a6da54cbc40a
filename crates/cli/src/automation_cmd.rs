//! `shuin automation suspend|resume|review`: the responsible person's controls over
//! automatic approval (theme ❺), as signed requests to the running server, which reads
//! the state on every decision.

use crate::console_client::{call, ConsoleArgs};
use crate::failure::{msg, Context, Result};
use clap::Subcommand;
use serde_json::json;
use shuin_core::Action;
use shuin_ra::automation::{self, Thresholds};

#[derive(Debug, Subcommand)]
pub(crate) enum AutomationCommand {
    /// Stop automatic approval: every valid application waits for an LRA
    /// (202 pending_review, automation_suspended).
    Suspend {
        #[command(flatten)]
        console: ConsoleArgs,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// Restart automatic approval.
    Resume {
        #[command(flatten)]
        console: ConsoleArgs,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// The periodic review: automatic decisions since DATE with anomaly signals.
    Review {
        #[command(flatten)]
        console: ConsoleArgs,
        /// YYYY-MM-DD (UTC midnight) or RFC 3339.
        #[arg(long)]
        since: String,
        /// Record the responsible person's confirmation in the ledger.
        #[arg(long)]
        sign_off: bool,
        /// Flag a JPKI certificate used for at least this many applications.
        #[arg(long, default_value_t = Thresholds::default().applications_per_jpki_certificate)]
        reuse_threshold: usize,
        /// Flag a clock hour with at least this many applications.
        #[arg(long, default_value_t = Thresholds::default().decisions_per_hour)]
        burst_threshold: usize,
        #[arg(long)]
        json: bool,
    },
}

/// `YYYY-MM-DD` (UTC midnight) or RFC 3339 (`shuin_ra::automation::parse_since`).
fn parse_since(text: &str) -> Result<std::time::SystemTime> {
    automation::parse_since(text).ok_or_else(|| msg(automation::SINCE_FORMAT))
}

pub(crate) async fn run(command: AutomationCommand) -> Result<()> {
    match command {
        AutomationCommand::Suspend {
            console,
            reason,
            json,
        } => switch(&console, Action::AutomationSuspend, &reason, json).await,
        AutomationCommand::Resume {
            console,
            reason,
            json,
        } => switch(&console, Action::AutomationResume, &reason, json).await,
        AutomationCommand::Review {
            console,
            since,
            sign_off,
            reuse_threshold,
            burst_threshold,
            json,
        } => {
            parse_since(&since)?;
            let params = json!({"since": since, "sign_off": sign_off,
                "reuse_threshold": reuse_threshold.max(2), "burst_threshold": burst_threshold.max(1)});
            let value = call(&console, Action::AutomationReview, params, None).await?;
            if json {
                println!("{value}");
            } else {
                let review: automation::AutomationReview =
                    serde_json::from_value(value.clone()).context("the server's review")?;
                println!("{}", review.text());
                if let Some(seq) = value["signed_off"]["seq"].as_u64() {
                    println!(
                        "signed off by {} (ledger entry {seq})",
                        value["signed_off"]["by"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(())
        }
    }
}

async fn switch(console: &ConsoleArgs, action: Action, reason: &str, json: bool) -> Result<()> {
    let value = call(console, action, json!({"reason": reason}), None).await?;
    let state: automation::AutomationState =
        serde_json::from_value(value.clone()).context("the server's answer")?;
    if json {
        println!("{value}");
    } else {
        println!("{}", state.text());
    }
    Ok(())
}
