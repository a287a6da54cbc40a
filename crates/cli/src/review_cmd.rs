//! `shuin review list|show|approve|reject`: the LRA review queue. Approval issues
//! through the CA in this process (as `shuin revoke` does), with the LRA as approver.

use crate::failure::{msg, Result};
use crate::operator_cmd::{authorize, failed, now, open_registry};
use clap::Subcommand;
use shuin_ra::operators::Role;
use shuin_ra::review;
use shuin_store::ApplicationRecord;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(crate) enum ReviewCommand {
    /// The applications waiting for an LRA.
    List {
        #[arg(long)]
        data: PathBuf,
        /// The LRA (role lra).
        #[arg(long)]
        operator: String,
        #[arg(long)]
        json: bool,
    },
    /// The evidence of one application: JPKI certificate, basic items with substitute
    /// characters marked, what the applicant entered, why it waits.
    Show {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        operator: String,
        #[arg(long)]
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Approve and issue, with the LRA as approver.
    Approve {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        operator: String,
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
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        operator: String,
        #[arg(long)]
        id: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn summary(record: &ApplicationRecord) -> serde_json::Value {
    serde_json::json!({
        "id": record.id,
        "received_at": shuin_core::timefmt::rfc3339(record.received_at),
        "review_reasons": record.review_reasons,
        "subject_name": record.details["subject_name"],
    })
}

pub(crate) async fn run(command: ReviewCommand) -> Result<()> {
    match command {
        ReviewCommand::List {
            data,
            operator,
            json,
        } => {
            let (store, _) = open_registry(&data).await?;
            let result = async {
                authorize(&store, &operator, Role::Lra, "list the review queue").await?;
                review::pending(&store).await.map_err(failed)
            }
            .await;
            store.close().await;
            let pending = result?;
            if json {
                let rows: Vec<serde_json::Value> = pending.iter().map(summary).collect();
                println!("{}", serde_json::Value::Array(rows));
            } else if pending.is_empty() {
                println!("no application waits for review");
            } else {
                for record in &pending {
                    let reasons: Vec<&str> =
                        record.review_reasons.iter().map(|r| r.as_str()).collect();
                    println!(
                        "{}  {}  {}  {}",
                        record.id,
                        shuin_core::timefmt::rfc3339(record.received_at),
                        record.details["subject_name"].as_str().unwrap_or(""),
                        reasons.join(",")
                    );
                }
            }
            Ok(())
        }
        ReviewCommand::Show {
            data,
            operator,
            id,
            json,
        } => {
            let (store, _) = open_registry(&data).await?;
            let result = async {
                authorize(
                    &store,
                    &operator,
                    Role::Lra,
                    &format!("review application {id}"),
                )
                .await?;
                review::application(&store, &id).await.map_err(failed)
            }
            .await;
            store.close().await;
            let view = review::evidence(&result?);
            if json {
                println!("{view}");
            } else {
                print_evidence(&view);
            }
            Ok(())
        }
        ReviewCommand::Approve {
            data,
            operator,
            id,
            reason,
            json,
        } => approve(data, &operator, &id, reason.as_deref(), json).await,
        ReviewCommand::Reject {
            data,
            operator,
            id,
            reason,
            json,
        } => {
            let reason = reason
                .filter(|r| !r.trim().is_empty())
                .ok_or_else(|| msg("a rejection needs --reason TEXT"))?;
            let (store, _) = open_registry(&data).await?;
            let result = async {
                let lra = authorize(
                    &store,
                    &operator,
                    Role::Lra,
                    &format!("reject application {id}"),
                )
                .await?;
                review::reject(&store, &id, &lra, &reason, now())
                    .await
                    .map_err(failed)
            }
            .await;
            store.close().await;
            let record = result?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"id": record.id, "status": record.status.as_str(), "reason": record.rejection_reason, "decided_by": operator})
                );
            } else {
                println!("rejected {} by {operator}", record.id);
            }
            Ok(())
        }
    }
}

async fn approve(
    data: PathBuf,
    operator: &str,
    id: &str,
    note: Option<&str>,
    json: bool,
) -> Result<()> {
    // Check the role before opening the CA key.
    let (store, _) = open_registry(&data).await?;
    let checked = authorize(
        &store,
        operator,
        Role::Lra,
        &format!("approve application {id}"),
    )
    .await;
    store.close().await;
    let lra = checked?;
    let side = crate::runtime::open_ca(&data).await?;
    let result =
        review::approve(side.store.as_ref(), side.ca.as_ref(), id, &lra, note, now()).await;
    let result = match result {
        Ok(record) => supersede_replaced(&side.store, &side.ca, &record)
            .await
            .map(|()| record),
        Err(e) => Err(failed(e)),
    };
    side.store.close().await;
    let record = result?;
    let serial = record
        .serial
        .as_ref()
        .map(|s| s.to_hex())
        .ok_or_else(|| msg("issued without a serial"))?;
    if json {
        println!(
            "{}",
            serde_json::json!({"id": record.id, "status": record.status.as_str(), "serial": serial, "approver": lra.name, "approver_role": "lra"})
        );
    } else {
        println!(
            "approved {} by {}; issued serial {serial}",
            record.id, lra.name
        );
    }
    Ok(())
}

/// For an approved reissue: now that the new certificate exists, revoke the old one as
/// superseded and queue its notice, as the automatic path does.
pub(crate) async fn supersede_replaced(
    store: &std::sync::Arc<shuin_store::sqlite::SqliteStore>,
    ca: &std::sync::Arc<shuin_ca::CaService>,
    record: &ApplicationRecord,
) -> Result<()> {
    let Some(old) = record.details["replaces"].as_str() else {
        return Ok(());
    };
    let old = shuin_core::Serial::from_hex(old)
        .ok_or_else(|| msg(format!("application {}: bad replaces {old:?}", record.id)))?;
    let new = record
        .serial
        .as_ref()
        .ok_or_else(|| msg("issued without a serial"))?;
    let mut bytes = [0u8; 16];
    shuin_core::RandomSource::fill(&shuin_core::OsRandom, &mut bytes)
        .map_err(|e| msg(format!("randomness: {e}")))?;
    let notice_id = hex::encode(bytes);
    let holder = record.details["subject_name"].as_str().unwrap_or_default();
    shuin_ra::supersede(
        store.as_ref(),
        ca.as_ref(),
        shuin_ra::Superseded {
            old: &old,
            new,
            application_id: &record.id,
            holder,
            notice_id: &notice_id,
            now: now(),
        },
    )
    .await
    .map_err(|e| {
        msg(format!(
            "issued {new} but superseding {old} failed ({e}); revoke it by hand with shuin revoke --reason superseded"
        ))
    })
}

fn print_evidence(view: &serde_json::Value) {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    };
    let basic = &view["basic_items"];
    let entered = &view["entered"];
    let jpki = &view["jpki_certificate"];
    println!(
        "application  {}  ({})",
        text(&view["id"]),
        text(&view["status"])
    );
    println!("received     {}", text(&view["received_at"]));
    println!("review       {}", text(&view["review_reasons"]));
    println!("JPKI certificate");
    for key in [
        "serial",
        "issuer",
        "fingerprint_sha256",
        "not_after",
        "test_card",
    ] {
        println!("  {key:<20} {}", text(&jpki[key]));
    }
    println!("basic items (substitute characters [bracketed])   | entered by the applicant");
    for (label, card, typed) in [
        ("name", &basic["name_marked"], &entered["name"]),
        ("birth date", &basic["birth_date"], &entered["birth_date"]),
        ("address", &basic["address_marked"], &entered["address"]),
        ("gender", &basic["gender"], &entered["gender"]),
    ] {
        println!("  {label:<11} {:<36} | {}", text(card), text(typed));
    }
    println!("  birth era   {}", text(&basic["birth_era"]));
    println!("evidence     sha256:{}", text(&view["evidence_sha256"]));
}
