//! `shuin ceremony ...`: key ceremonies approved by M named custodians (docs/keys.md
//! "Key ceremonies"). Enrolment and `run` work on the instance; `public-key`, `approve`
//! and `verify` need nothing but their files, so custodians and auditors work offline.

use crate::console_client::{call, Ask, ConsoleArgs};
use crate::failure::{Context, Result};
use crate::operator_key::OperatorKeyArgs;
use crate::output::{print, show};
use crate::runtime;
use clap::Subcommand;
use shuin_ca::ceremony;
use shuin_core::Action;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

#[derive(Debug, Subcommand)]
pub(crate) enum CeremonyCommand {
    /// Enrol a key_custodian's public key for ceremonies (a ca_admin's signed request;
    /// ledgered as `ceremony.custodian_enrolled`).
    EnrollCustodian {
        #[command(flatten)]
        ask: Box<Ask>,
        /// The custodian's operator name (must hold key_custodian).
        #[arg(long)]
        name: String,
        /// Their SubjectPublicKeyInfo, PEM "PUBLIC KEY" or DER (see `ceremony public-key`).
        #[arg(long)]
        public_key: PathBuf,
    },
    /// Print the public key (PEM) of a custodian credential, for enrolment.
    PublicKey {
        /// The custodian's key, named as an operator's (`--operator-key URI`).
        #[command(flatten)]
        credential: OperatorKeyArgs,
        /// Write it here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write the canonical statement of a ceremony file, for custodians to approve.
    Statement {
        /// The instance directory; SHUIN_DATA when not given.
        #[arg(long, value_name = "DIR", env = "SHUIN_DATA")]
        data: PathBuf,
        /// The ceremony file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Where to write it (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Sign a statement as one custodian, with their own key (on their PKCS#11 token, or a
    /// key file in development and tests), named as an operator's key.
    Approve {
        /// The statement file from `ceremony statement`.
        #[arg(long)]
        statement: PathBuf,
        /// The custodian's name as enrolled.
        #[arg(long)]
        custodian: String,
        #[command(flatten)]
        credential: OperatorKeyArgs,
        /// Where to write the approval.
        #[arg(long)]
        out: PathBuf,
        /// Machine-readable output (JSON).
        #[arg(long)]
        json: bool,
    },
    /// Run a ceremony: a ca_admin's signed request to the running, unsealed server, which
    /// needs M valid approvals, then generates and signs with its key backend, and
    /// records (DIR/ceremonies/ID.json). No PIN file is needed.
    Run {
        #[command(flatten)]
        ask: Box<Ask>,
        /// The ceremony file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// An approval file; repeatable.
        #[arg(long = "approval")]
        approvals: Vec<PathBuf>,
    },
    /// Verify a ceremony record offline.
    Verify {
        /// The ceremony record (DIR/ceremonies/ID.json).
        #[arg(long)]
        record: PathBuf,
        /// Also require the record (and the custodians' enrolments) in this verified
        /// ledger export (`shuin ledger export`).
        #[arg(long)]
        ledger_export: Option<PathBuf>,
        /// Machine-readable output (JSON).
        #[arg(long)]
        json: bool,
    },
}

/// `ceremony run` on the client: the file and the approvals travel as the attachment.
async fn send_run(
    console: &ConsoleArgs,
    config: &Path,
    approvals: &[PathBuf],
) -> Result<serde_json::Value> {
    let (id, sent) = ceremony::console::RunAttachment::read(config, approvals)?;
    let attachment = Zeroizing::new(serde_json::to_string(&sent).context("attachment")?);
    let params = serde_json::json!({"ceremony_id": id});
    call(console, Action::Ceremony, params, Some(attachment)).await
}

fn write_or_print(out: Option<&Path>, bytes: &[u8]) -> Result<()> {
    match out {
        Some(path) => std::fs::write(path, bytes).context(path.display()),
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(bytes)
                .context("standard output")
        }
    }
}

pub(crate) fn run(command: CeremonyCommand) -> Result<()> {
    match command {
        CeremonyCommand::EnrollCustodian {
            ask,
            name,
            public_key,
        } => {
            let spki = ceremony::read_public_key(&public_key)?;
            let params = serde_json::json!({"name": name, "public_key": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &spki)});
            runtime()?.block_on(ask.answer(Action::CeremonyCustodian, params))
        }
        CeremonyCommand::PublicKey { credential, out } => {
            let signer = credential.signer()?;
            let pem = der::pem::encode_string(
                "PUBLIC KEY",
                der::pem::LineEnding::LF,
                signer.public_key_der(),
            )
            .context("PEM encoding")?;
            write_or_print(out.as_deref(), pem.as_bytes())
        }
        CeremonyCommand::Statement { data, config, out } => {
            let file = ceremony::CeremonyFile::load(&config)?;
            let (statement, mut bytes) = runtime()?.block_on(async {
                let (store, instance) = crate::operator_cmd::open_registry(&data).await?;
                let result = ceremony::console::statement_for_instance(
                    &store,
                    &instance.instance.public_url,
                    &instance.ca,
                    &data,
                    &file,
                )
                .await;
                store.close().await;
                result.map_err(crate::failure::Error::from)
            })?;
            eprintln!("{}", ceremony::summary(&statement));
            eprintln!("statement sha256 {}", ceremony::sha256_hex(&bytes));
            bytes.push(b'\n');
            write_or_print(out.as_deref(), &bytes)
        }
        CeremonyCommand::Approve {
            statement,
            custodian,
            credential,
            out,
            json,
        } => {
            let (parsed, canonical) = ceremony::offline::read_statement(&statement)?;
            // What is being approved, shown before the credential is opened.
            eprintln!("{}", ceremony::summary(&parsed));
            let signer = credential.signer()?;
            let approval = ceremony::approve(&parsed, &canonical, &custodian, signer.as_ref())?;
            ceremony::offline::write_approval(&approval, &out)?;
            let as_json = || serde_json::json!({"custodian": custodian, "ceremony_id": approval.ceremony_id, "statement_sha256": approval.statement_sha256, "approval": out});
            show(json, as_json, || {
                ceremony::offline::approved_text(&approval, &out)
            });
            Ok(())
        }
        CeremonyCommand::Run {
            ask,
            config,
            approvals,
        } => {
            let value = runtime()?.block_on(send_run(&ask.console, &config, &approvals))?;
            print(&value, ask.json, ceremony::offline::run_text);
            Ok(())
        }
        CeremonyCommand::Verify {
            record,
            ledger_export,
            json,
        } => {
            let (verified, anchor) =
                ceremony::offline::verify_record(&record, ledger_export.as_deref())?;
            let as_json = || serde_json::json!({"record": verified, "ledger": anchor});
            show(json, as_json, || {
                ceremony::offline::verified_text(&verified, anchor.as_ref())
            });
            Ok(())
        }
    }
}
