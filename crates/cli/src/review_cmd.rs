//! `shuin review list|show|approve|reject`: the LRA review queue, as signed requests to
//! the running server. Approval issues through the server's CA, with the LRA (the
//! operator who signed) as approver.

use crate::console_client::Ask;
use crate::failure::{msg, Result};
use crate::output::print;
use clap::Subcommand;
use serde_json::json;
use shuin_core::Action;

#[derive(Debug, Subcommand)]
pub(crate) enum ReviewCommand {
    /// The applications waiting for an LRA.
    List(Ask),
    /// The evidence of one application: JPKI certificate, basic items with substitute
    /// characters marked, what the applicant entered, why it waits.
    Show {
        #[command(flatten)]
        ask: Ask,
        /// The application id.
        #[arg(long)]
        id: String,
    },
    /// Approve and issue, with the LRA as approver.
    Approve(Decision),
    /// Reject, with a reason the applicant sees.
    Reject(Decision),
}

/// An LRA's decision on one application.
#[derive(Debug, clap::Args)]
pub(crate) struct Decision {
    #[command(flatten)]
    ask: Ask,
    /// The application id.
    #[arg(long)]
    id: String,
    /// A note recorded with an approval (optional), or the reason of a rejection, which
    /// the applicant sees.
    #[arg(long)]
    reason: Option<String>,
}

pub(crate) async fn run(command: ReviewCommand) -> Result<()> {
    match command {
        ReviewCommand::List(ask) => {
            let pending = ask.call(Action::ReviewList, json!({})).await?;
            print(&pending, ask.json, shuin_ra::review::queue_text);
        }
        ReviewCommand::Show { ask, id } => {
            let view = ask.call(Action::ReviewShow, json!({"id": id})).await?;
            print(&view, ask.json, shuin_ra::review::evidence_text);
        }
        ReviewCommand::Approve(Decision { ask, id, reason }) => {
            let mut params = json!({"id": id});
            if let Some(note) = reason {
                params["note"] = json!(note);
            }
            ask.answer(Action::ReviewApprove, params).await?;
        }
        ReviewCommand::Reject(Decision { ask, id, reason }) => {
            let reason = reason
                .filter(|r| !r.trim().is_empty())
                .ok_or_else(|| msg("a rejection needs --reason TEXT"))?;
            let params = json!({"id": id, "reason": reason});
            ask.answer(Action::ReviewReject, params).await?;
        }
    }
    Ok(())
}
