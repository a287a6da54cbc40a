//! `shuin fetch`: the applicant collects the certificate of an application that was
//! issued later (after an LRA approved it), checks that it certifies the private key
//! `shuin apply` kept, and writes it where `apply` would have.

use crate::failure::{msg, Result};
use shuin_client::{ApplicationState, OutcomeFiles};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What `shuin fetch` takes.
#[derive(Debug, clap::Args)]
pub(crate) struct FetchArgs {
    /// Server base URL.
    #[arg(long)]
    server: String,
    /// The application id that `shuin apply` printed.
    #[arg(long, value_name = "ID")]
    application: String,
    /// Where to write the certificate (its chain goes to OUT.chain): the --out given to
    /// `apply`, beside the private key OUT.key.
    #[arg(long, default_value = "cert.pem")]
    out: PathBuf,
    /// The private key `apply` wrote (default: OUT.key, as apply names it); the
    /// certificate must certify it, or nothing is written.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// While the application waits for review or issuance, ask again once a second for
    /// up to this many seconds (at most a day), then give up with a non-zero exit; 0
    /// (the default) asks once and reports a waiting application with exit 0.
    #[arg(long, value_name = "SECONDS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
    wait: u64,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

/// Asks, waits if told to, and writes the certificate once issued.
pub(crate) fn run(args: FetchArgs) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(args.wait);
    let state = loop {
        let state = shuin_client::application_state(&args.server, &args.application)?;
        let waiting = matches!(
            state,
            ApplicationState::PendingReview { .. } | ApplicationState::Approved
        );
        if !waiting || Instant::now() >= deadline {
            break state;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let id = &args.application;
    match &state {
        ApplicationState::Issued {
            serial,
            certificate_pem,
            chain_pem,
        } => {
            let files = OutcomeFiles::new(&args.out, args.key.as_deref());
            shuin_client::save_issued(&files, certificate_pem, chain_pem)?;
            let json = || {
                serde_json::json!({"status": "issued", "application_id": id,
                "serial": serial, "certificate": files.certificate, "chain": files.chain,
                "key": files.key})
            };
            let text = || {
                format!(
                    "発行されました / issued: serial {serial}\n  certificate: {}\n  chain:       {}\n  private key: {} (the certificate certifies it)",
                    files.certificate.display(),
                    files.chain.display(),
                    files.key.display()
                )
            };
            crate::output::show(args.json, json, text);
            Ok(())
        }
        ApplicationState::Rejected { reason } => Err(msg(format!(
            "却下されました / rejected: application {id}: {reason}"
        ))),
        ApplicationState::PendingReview { .. } | ApplicationState::Approved if args.wait > 0 => {
            Err(msg(format!(
                "application {id} is still {} after {} s; ask again later",
                state.name(),
                args.wait
            )))
        }
        ApplicationState::PendingReview { reasons } => {
            let json = || serde_json::json!({"status": "pending_review", "application_id": id, "review_reasons": reasons});
            let text = || {
                format!(
                    "審査待ちです / pending review: application {id} ({}); ask again later, or give --wait SECONDS",
                    reasons.join(", ")
                )
            };
            crate::output::show(args.json, json, text);
            Ok(())
        }
        ApplicationState::Approved => {
            let json = || serde_json::json!({"status": "approved", "application_id": id});
            let text = || {
                format!("承認済み・発行中です / approved, being issued: application {id}; ask again in a moment, or give --wait SECONDS")
            };
            crate::output::show(args.json, json, text);
            Ok(())
        }
    }
}
