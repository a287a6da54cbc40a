//! `shuin fetch`: the applicant collects the certificate of an application that was
//! issued later (after an LRA approved it), checks that it certifies the private key
//! `shuin apply` kept, and writes it where `apply` would have.

use crate::failure::{msg, Context, Result};
use shuin_client::ApplicationState;
use shuin_keys::Signer;
use std::path::{Path, PathBuf};
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
    /// The private key `apply` wrote (default: OUT.key); the certificate must certify it.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// While the application waits for review or issuance, ask again once a second for
    /// up to this many seconds (0: ask once).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
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
            let key = key_file(&args)?;
            check_certifies(certificate_pem, key.as_deref())?;
            let chain = beside(&args.out, ".chain");
            std::fs::write(&args.out, certificate_pem).context(args.out.display())?;
            std::fs::write(&chain, chain_pem).context(chain.display())?;
            let json = || {
                serde_json::json!({"status": "issued", "application_id": id,
                "serial": serial, "certificate": args.out, "chain": chain, "key": key})
            };
            let certifies = key.as_ref().map_or(String::new(), |key| {
                format!(
                    "\n  private key: {} (the certificate certifies it)",
                    key.display()
                )
            });
            let text = || {
                format!(
                    "発行されました / issued: serial {serial}\n  certificate: {}\n  chain:       {}{certifies}",
                    args.out.display(),
                    chain.display()
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

/// The key to check against: --key (which must exist), or OUT.key when it exists.
fn key_file(args: &FetchArgs) -> Result<Option<PathBuf>> {
    match &args.key {
        Some(key) if !key.exists() => Err(msg(format!("--key {}: no such file", key.display()))),
        Some(key) => Ok(Some(key.clone())),
        None => {
            let key = beside(&args.out, ".key");
            Ok(key.exists().then_some(key))
        }
    }
}

/// Refuses a certificate that does not certify the private key in `key`.
fn check_certifies(certificate_pem: &str, key: Option<&Path>) -> Result<()> {
    let Some(key) = key else {
        return Ok(());
    };
    let pem = zeroize::Zeroizing::new(std::fs::read_to_string(key).context(key.display())?);
    let signer = shuin_keys::SoftwareSigner::from_pkcs8_pem(&pem)
        .map_err(|e| msg(format!("{}: {e}", key.display())))?;
    let der =
        shuin_core::x509::pem::der_labelled(certificate_pem.as_bytes().to_vec(), "CERTIFICATE")
            .map_err(|e| msg(format!("the server's certificate: {e}")))?;
    let certificate = <x509_cert::Certificate as der::Decode>::from_der(&der)
        .map_err(|e| msg(format!("the server's certificate: {e}")))?;
    let spki = der::Encode::to_der(&certificate.tbs_certificate.subject_public_key_info)
        .map_err(|e| msg(format!("the server's certificate: {e}")))?;
    if spki != signer.public_key_der() {
        return Err(msg(format!(
            "the certificate of this application does not certify the key in {}; nothing was written (is it the key of another application? give --key)",
            key.display()
        )));
    }
    Ok(())
}

fn beside(out: &Path, extension: &str) -> PathBuf {
    let mut path = out.as_os_str().to_owned();
    path.push(extension);
    PathBuf::from(path)
}
