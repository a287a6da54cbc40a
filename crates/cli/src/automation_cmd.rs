//! `shuin automation suspend|resume|review`: the responsible person's controls over
//! automatic approval (theme ❺). A running server reads the state on every decision.

use crate::failure::{msg, Context, Result};
use crate::operator_cmd::{authorize, failed, now, open_registry};
use clap::Subcommand;
use shuin_ledger::Entry;
use shuin_ra::automation::{self, Thresholds};
use shuin_ra::operators::Role;
use shuin_store::LedgerStore;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(crate) enum AutomationCommand {
    /// Stop automatic approval: every valid application waits for an LRA
    /// (202 pending_review, automation_suspended).
    Suspend {
        #[arg(long)]
        data: PathBuf,
        /// The responsible person (role responsible_person).
        #[arg(long)]
        operator: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// Restart automatic approval.
    Resume {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        operator: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// The periodic review: automatic decisions since DATE with anomaly signals.
    Review {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        operator: String,
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

fn parse_since(text: &str) -> Result<std::time::SystemTime> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    shuin_core::timefmt::parse_rfc3339(&full)
        .ok_or_else(|| msg("--since must be YYYY-MM-DD or RFC 3339"))
}

pub(crate) async fn run(command: AutomationCommand) -> Result<()> {
    match command {
        AutomationCommand::Suspend {
            data,
            operator,
            reason,
            json,
        } => switch(data, &operator, &reason, true, json).await,
        AutomationCommand::Resume {
            data,
            operator,
            reason,
            json,
        } => switch(data, &operator, &reason, false, json).await,
        AutomationCommand::Review {
            data,
            operator,
            since,
            sign_off,
            reuse_threshold,
            burst_threshold,
            json,
        } => {
            let since = parse_since(&since)?;
            let thresholds = Thresholds {
                applications_per_jpki_certificate: reuse_threshold.max(2),
                decisions_per_hour: burst_threshold.max(1),
                ..Thresholds::default()
            };
            let (store, _) = open_registry(&data).await?;
            let result = async {
                let action = if sign_off {
                    "sign off the review of automatic decisions"
                } else {
                    "review automatic decisions"
                };
                let by = authorize(&store, &operator, Role::ResponsiblePerson, action).await?;
                let rows = store.ledger_rows().await.context("reading the ledger")?;
                let mut entries = Vec::with_capacity(rows.len());
                for row in rows {
                    entries.push(
                        Entry::from_canonical(&row.canonical)
                            .map_err(|e| msg(format!("entry {}: {e}", row.seq)))?,
                    );
                }
                let review = automation::review(&entries, since, thresholds);
                let signed = if sign_off {
                    Some(
                        automation::sign_off(&store, &review, &by, now())
                            .await
                            .map_err(failed)?,
                    )
                } else {
                    None
                };
                Ok((review, signed))
            }
            .await;
            store.close().await;
            let (review, signed) = result?;
            if json {
                let mut value = serde_json::to_value(&review).context("JSON")?;
                value["signed_off"] = match &signed {
                    Some(entry) => {
                        serde_json::json!({"seq": entry.seq, "time": entry.time, "by": entry.actor.name})
                    }
                    None => serde_json::Value::Null,
                };
                println!("{value}");
            } else {
                print_review(&review);
                if let Some(entry) = signed {
                    println!(
                        "signed off by {} (ledger entry {})",
                        entry.actor.name, entry.seq
                    );
                }
            }
            Ok(())
        }
    }
}

async fn switch(
    data: PathBuf,
    operator: &str,
    reason: &str,
    suspend: bool,
    json: bool,
) -> Result<()> {
    let (store, _) = open_registry(&data).await?;
    let result = async {
        let action = if suspend {
            "suspend automatic approval"
        } else {
            "resume automatic approval"
        };
        let by = authorize(&store, operator, Role::ResponsiblePerson, action).await?;
        automation::set_suspended(&store, suspend, &by, reason, now())
            .await
            .map_err(failed)
    }
    .await;
    store.close().await;
    let state = result?;
    if json {
        println!("{}", serde_json::to_value(&state).context("JSON")?);
    } else if state.suspended {
        println!(
            "automatic approval suspended by {} at {}: valid applications now wait for an LRA",
            state.by, state.at
        );
    } else {
        println!("automatic approval resumed by {} at {}", state.by, state.at);
    }
    Ok(())
}

fn print_review(review: &automation::AutomationReview) {
    println!(
        "automatic decisions from {} to {}: {} (of {} applications)",
        review.since,
        review.until,
        review.automatic_decisions.len(),
        review.applications
    );
    for d in &review.automatic_decisions {
        println!(
            "  {:>6}  {}  application {}  approver {}",
            d.seq,
            d.time,
            d.application.as_deref().unwrap_or("-"),
            d.approver
        );
    }
    for (reason, count) in &review.pending_review {
        println!("  sent to review: {reason}: {count}");
    }
    for (code, count) in &review.rejections {
        println!(
            "  refused: {code}: {count} ({:.0}%)",
            automation::rate(*count, review.applications) * 100.0
        );
    }
    if review.signals.is_empty() {
        println!("no anomaly signals");
    }
    for signal in &review.signals {
        println!("  SIGNAL {signal}");
    }
}
