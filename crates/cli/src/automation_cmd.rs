//! `shuin automation suspend|resume|review`: the responsible person's controls over
//! automatic approval (theme ❺), as signed requests to the running server, which reads
//! the state on every decision.

use crate::console_client::Ask;
use crate::failure::{msg, Context, Result};
use crate::output::show;
use clap::Subcommand;
use serde_json::json;
use shuin_core::Action;
use shuin_ra::automation::{self, Thresholds};

#[derive(Debug, Subcommand)]
pub(crate) enum AutomationCommand {
    /// Stop automatic approval: every valid application waits for an LRA
    /// (202 pending_review, automation_suspended).
    Suspend(Switch),
    /// Restart automatic approval.
    Resume(Switch),
    /// The periodic review: automatic decisions since DATE with anomaly signals.
    Review {
        #[command(flatten)]
        ask: Ask,
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
    },
}

/// Suspending or resuming, with the reason recorded.
#[derive(Debug, clap::Args)]
pub(crate) struct Switch {
    #[command(flatten)]
    ask: Ask,
    /// Why, for the organisation book.
    #[arg(long)]
    reason: String,
}

/// `YYYY-MM-DD` (UTC midnight) or RFC 3339 (`shuin_ra::automation::parse_since`).
fn parse_since(text: &str) -> Result<std::time::SystemTime> {
    automation::parse_since(text).ok_or_else(|| msg(automation::SINCE_FORMAT))
}

pub(crate) async fn run(command: AutomationCommand) -> Result<()> {
    match command {
        AutomationCommand::Suspend(switch) => switch.send(Action::AutomationSuspend).await,
        AutomationCommand::Resume(switch) => switch.send(Action::AutomationResume).await,
        AutomationCommand::Review {
            ask,
            since,
            sign_off,
            reuse_threshold,
            burst_threshold,
        } => {
            parse_since(&since)?;
            let params = json!({"since": since, "sign_off": sign_off,
                "reuse_threshold": reuse_threshold.max(2), "burst_threshold": burst_threshold.max(1)});
            let value = ask.call(Action::AutomationReview, params).await?;
            if ask.json {
                crate::output::say!("{value}");
                return Ok(());
            }
            let review: automation::AutomationReview =
                serde_json::from_value(value.clone()).context("the server's review")?;
            crate::output::say!("{}", review.text());
            if let Some(seq) = value["signed_off"]["seq"].as_u64() {
                crate::output::say!(
                    "signed off by {} (ledger entry {seq})",
                    value["signed_off"]["by"].as_str().unwrap_or("")
                );
            }
            Ok(())
        }
    }
}

impl Switch {
    async fn send(&self, action: Action) -> Result<()> {
        let value = self
            .ask
            .call(action, json!({"reason": self.reason}))
            .await?;
        let state: automation::AutomationState =
            serde_json::from_value(value.clone()).context("the server's answer")?;
        show(self.ask.json, || &value, || state.text());
        Ok(())
    }
}
