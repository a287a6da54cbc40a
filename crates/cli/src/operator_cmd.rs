//! `shuin operator`: personal operator keys and their enrolment (DESIGN.md section 8).
//!
//! On the operator's side: `key` (a development key file) and `csr` (a CSR from the key
//! on their token or in the file). On a `ca_admin`'s side, as signed requests to the
//! running server: `add` (the operator CA certifies the CSR and the role is granted),
//! `grant`, `remove-role` and `revoke`. `list` reads the organisation book.
//!
//! Also `open_registry`, for the commands that read the instance (`ceremony statement`).

use crate::config::InstanceConfig;
use crate::console_client::{call, Ask, ConsoleArgs};
use crate::failure::{msg, Context, Result};
use crate::operator_key::OperatorKeyArgs;
use crate::output::print_answer;
use crate::runtime::Store;
use base64::Engine;
use clap::Subcommand;
use serde_json::json;
use shuin_core::{Action, Clock, Role, SystemClock};
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub(crate) enum OperatorCommand {
    /// Make a personal key in a PKCS#8 file (0600): for development and tests only.
    /// Production operators generate their key on their own token (e.g. `pkcs11-tool
    /// --keypairgen --key-type EC:prime256v1 --label NAME`).
    Key {
        /// Where to write the key.
        #[arg(long)]
        out: PathBuf,
        /// p256, p384, rsa2048 or rsa3072.
        #[arg(long, default_value = "p256")]
        key_type: String,
    },
    /// Make the CSR to enrol with: subject CN=NAME, signed by the operator's own key.
    Csr {
        #[command(flatten)]
        key: OperatorKeyArgs,
        /// The operator's name as it will go into the books.
        #[arg(long)]
        name: String,
        /// Where to write the CSR (PEM).
        #[arg(long)]
        out: PathBuf,
    },
    /// Enrol an operator from their CSR and grant a role (ca_admin, signed request): the
    /// operator CA issues their certificate (one year).
    Add {
        #[command(flatten)]
        ask: Ask,
        /// The operator's CSR (PEM or DER), from `shuin operator csr`.
        #[arg(long)]
        csr: PathBuf,
        /// ca_admin, key_custodian, lra, responsible_person, auditor or monitor.
        #[arg(long, value_parser = role)]
        role: Role,
        /// Where to write the operator's certificate (PEM).
        #[arg(long)]
        cert_out: Option<PathBuf>,
    },
    /// Grant one more role to an enrolled operator (ca_admin, signed request).
    Grant(RoleChange),
    /// Remove a role (ca_admin, signed request).
    RemoveRole(RoleChange),
    /// Revoke an operator's certificates (ca_admin, signed request); they go on the
    /// operator CA's CRL (/repository/operator-ca.crl).
    Revoke {
        #[command(flatten)]
        ask: Ask,
        /// The operator, by the name in their certificate.
        #[arg(long)]
        name: String,
        /// Only this certificate (its SHA-256, from `operator list`): retiring the old
        /// key after a rotation. Without it, every certificate of the operator.
        #[arg(long, value_name = "SHA256")]
        certificate: Option<String>,
        /// RFC 5280 reason name.
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
    /// Invite your own passkey for the web console (signed with your operator key): a
    /// one-time token, valid one hour, to enter on the console's enrolment page
    /// (/console/enrol on a `client_auth = "passkey"` listener).
    PasskeyInvite {
        #[command(flatten)]
        ask: Ask,
    },
    /// Remove a passkey (lost or replaced): your own, or, as ca_admin, anyone's (signed
    /// with your operator key). `operator list` shows each operator's passkeys.
    PasskeyRemove {
        #[command(flatten)]
        ask: Ask,
        /// The passkey's credential id (base64url), from `operator list`.
        #[arg(long)]
        credential: String,
        /// The operator whose passkey it is (default: yourself).
        #[arg(long)]
        name: Option<String>,
    },
    /// Ask the server who the key's holder is, with their roles and the seal state.
    Whoami {
        #[command(flatten)]
        console: ConsoleArgs,
    },
    /// List the operators, their roles and certificates, from the organisation book.
    List(crate::output::Reading),
}

/// One role of one operator, granted or removed.
#[derive(Debug, clap::Args)]
pub(crate) struct RoleChange {
    #[command(flatten)]
    ask: Ask,
    /// The operator, by the name in their certificate.
    #[arg(long)]
    name: String,
    /// ca_admin, key_custodian, lra, responsible_person, auditor or monitor.
    #[arg(long, value_parser = role)]
    role: Role,
}

/// Opens the store and the configuration of an instance, for the commands that still
/// name their operator (their roles are replayed from the organisation book).
pub(crate) async fn open_registry(dir: &Path) -> Result<(Store, InstanceConfig)> {
    let config = InstanceConfig::load(dir)?;
    let store = crate::runtime::open_store(dir).await?;
    Ok((store, config))
}

/// `--role NAME`.
fn role(text: &str) -> std::result::Result<Role, String> {
    let names = || Role::ALL.map(|r| r.as_str()).join(", ");
    Role::parse(text).ok_or_else(|| format!("must be one of {}", names()))
}

/// The CSR file, PEM or DER.
fn read_csr(path: &Path) -> Result<Vec<u8>> {
    shuin_ca::parts::read_pem_or_der(path).map_err(|e| msg(format!("--csr {e}")))
}

pub(crate) async fn run(command: OperatorCommand) -> Result<()> {
    match command {
        OperatorCommand::Key { out, key_type } => {
            let spec = crate::apply_cmd::key_spec("--key-type", &key_type)?;
            shuin_keys::personal::generate_file(&out, spec)?;
            crate::output::say!("wrote {} (development and tests only)", out.display());
            Ok(())
        }
        OperatorCommand::Csr { key, name, out } => {
            shuin_ca::operator_ca::check_name(&name).map_err(msg)?;
            let signer = key.signer()?;
            let der = shuin_client::build_named_csr(signer.as_ref(), &name)
                .map_err(|e| msg(format!("CSR: {e}")))?;
            let pem =
                der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, &der)
                    .context("PEM")?;
            std::fs::write(&out, pem).context(out.display())?;
            crate::output::say!(
                "wrote {}: give it to a ca_admin for `shuin operator add --csr`",
                out.display()
            );
            Ok(())
        }
        OperatorCommand::Add {
            ask,
            csr,
            role,
            cert_out,
        } => {
            let csr = base64::engine::general_purpose::STANDARD.encode(read_csr(&csr)?);
            let params = json!({"csr": csr, "role": role});
            let result = ask.call(Action::OperatorAdd, params).await?;
            if let (Some(path), Some(pem)) = (&cert_out, result["certificate_pem"].as_str()) {
                std::fs::write(path, pem).context(path.display())?;
            }
            print_answer(Action::OperatorAdd, &result, ask.json);
            Ok(())
        }
        OperatorCommand::Grant(change) => change.send(Action::OperatorGrant).await,
        OperatorCommand::RemoveRole(change) => change.send(Action::OperatorRemoveRole).await,
        OperatorCommand::Revoke {
            ask,
            name,
            certificate,
            reason,
        } => {
            let mut params = json!({"name": name, "reason": reason});
            if let Some(sha256) = certificate {
                params["certificate_sha256"] = json!(sha256);
            }
            ask.answer(Action::OperatorRevoke, params).await
        }
        OperatorCommand::PasskeyInvite { ask } => {
            ask.answer(Action::PasskeyInvite, json!({})).await
        }
        OperatorCommand::PasskeyRemove {
            ask,
            credential,
            name,
        } => {
            let mut params = json!({"credential_id": credential});
            if let Some(name) = name {
                params["name"] = json!(name);
            }
            ask.answer(Action::PasskeyRemove, params).await
        }
        OperatorCommand::Whoami { console } => {
            let result = call(&console, Action::Status, json!({}), None).await?;
            crate::output::say!("{result}");
            Ok(())
        }
        OperatorCommand::List(read) => list(&read.data, read.json).await,
    }
}

impl RoleChange {
    async fn send(&self, action: Action) -> Result<()> {
        let params = json!({"name": self.name, "role": self.role});
        self.ask.answer(action, params).await
    }
}

async fn list(data: &Path, json: bool) -> Result<()> {
    let store = crate::runtime::open_store(data).await?;
    let roster = shuin_books::organisation::replay(&store).await;
    store.close().await;
    let roster = roster?;
    for (seq, why) in roster.unwarranted() {
        eprintln!("warning: ledger entry {seq} had no effect: {why}");
    }
    let rows = roster.listing(SystemClock.now());
    if json {
        crate::output::say!("{}", serde_json::to_value(&rows).context("JSON")?);
        return Ok(());
    }
    for row in rows {
        crate::output::say!("{}", row.line());
    }
    Ok(())
}
