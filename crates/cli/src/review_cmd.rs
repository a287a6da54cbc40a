//! `shuin review list|show|approve|reject`: the LRA review queue, as signed requests to
//! the running server. Approval issues through the server's CA, with the LRA (the
//! operator who signed) as approver.

use crate::console_client::{call, ConsoleArgs};
use crate::failure::{msg, Result};
use crate::output::{print, print_answer};
use clap::Subcommand;
use serde_json::json;
use shuin_core::Action;

#[derive(Debug, Subcommand)]
pub(crate) enum ReviewCommand {
    /// The applications waiting for an LRA.
    List {
        #[command(flatten)]
        console: ConsoleArgs,
        #[arg(long)]
        json: bool,
    },
    /// The evidence of one application: JPKI certificate, basic items with substitute
    /// characters marked, what the applicant entered, why it waits.
    Show {
        #[command(flatten)]
        console: ConsoleArgs,
        #[arg(long)]
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Approve and issue, with the LRA as approver.
    Approve {
        #[command(flatten)]
        console: ConsoleArgs,
        #[arg(long)]
        id: String,
        /// An optional note, recorded with the approval.
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Reject, with a reason the applicant sees.
    Reject {
        #[command(flatten)]
        console: ConsoleArgs,
        #[arg(long)]
        id: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(command: ReviewCommand) -> Result<()> {
    match command {
        ReviewCommand::List { console, json } => {
            let pending = call(&console, Action::ReviewList, json!({}), None).await?;
            print(&pending, json, shuin_ra::review::queue_text);
            Ok(())
        }
        ReviewCommand::Show { console, id, json } => {
            let view = call(&console, Action::ReviewShow, json!({"id": id}), None).await?;
            print(&view, json, shuin_ra::review::evidence_text);
            Ok(())
        }
        ReviewCommand::Approve {
            console,
            id,
            reason,
            json,
        } => {
            let mut params = json!({"id": id});
            if let Some(note) = reason {
                params["note"] = json!(note);
            }
            let result = call(&console, Action::ReviewApprove, params, None).await?;
            print_answer(Action::ReviewApprove, &result, json);
            Ok(())
        }
        ReviewCommand::Reject {
            console,
            id,
            reason,
            json,
        } => {
            let reason = reason
                .filter(|r| !r.trim().is_empty())
                .ok_or_else(|| msg("a rejection needs --reason TEXT"))?;
            let params = json!({"id": id, "reason": reason});
            let result = call(&console, Action::ReviewReject, params, None).await?;
            print_answer(Action::ReviewReject, &result, json);
            Ok(())
        }
    }
}
