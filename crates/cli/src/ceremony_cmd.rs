//! `shuin ceremony ...`: key ceremonies approved by M named custodians (docs/keys.md
//! "Key ceremonies"). Enrolment and `run` work on the instance; `public-key`, `approve`
//! and `verify` need nothing but their files, so custodians and auditors work offline.

use crate::ceremony_approval::Credential;
use crate::failure::{msg, Context, Result};
use clap::{Args, Subcommand};
use shuin_core::{Clock, SystemClock};
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub(crate) enum CeremonyCommand {
    /// Enrol a key_custodian's public key (ledgered as `ceremony.custodian_enrolled`).
    EnrollCustodian {
        #[arg(long)]
        data: PathBuf,
        /// The custodian's operator name (must hold key_custodian).
        #[arg(long)]
        name: String,
        /// Their SubjectPublicKeyInfo, PEM "PUBLIC KEY" or DER (see `ceremony public-key`).
        #[arg(long)]
        public_key: PathBuf,
        /// The ca_admin doing this.
        #[arg(long)]
        operator: String,
        #[arg(long)]
        json: bool,
    },
    /// Print the public key (PEM) of a custodian credential, for enrolment.
    PublicKey {
        #[command(flatten)]
        credential: CredentialArgs,
        /// Write it here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write the canonical statement of a ceremony file, for custodians to approve.
    Statement {
        #[arg(long)]
        data: PathBuf,
        /// The ceremony file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Where to write it (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Sign a statement as one custodian, with their own key file or PKCS#11 token.
    Approve {
        /// The statement file from `ceremony statement`.
        #[arg(long)]
        statement: PathBuf,
        /// The custodian's name as enrolled.
        #[arg(long)]
        custodian: String,
        #[command(flatten)]
        credential: CredentialArgs,
        /// Where to write the approval.
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Run a ceremony: needs M valid approvals, then generates and signs, and records.
    Run {
        #[arg(long)]
        data: PathBuf,
        /// The ceremony file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// An approval file; repeatable.
        #[arg(long = "approval")]
        approvals: Vec<PathBuf>,
        /// The ca_admin running it.
        #[arg(long)]
        operator: String,
        /// Where to write the record (default DIR/ceremonies/ID.json).
        #[arg(long)]
        record_out: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Verify a ceremony record offline.
    Verify {
        #[arg(long)]
        record: PathBuf,
        /// Also require the record (and the custodians' enrolments) in this verified
        /// ledger export (`shuin ledger export`).
        #[arg(long)]
        ledger_export: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

/// A custodian's credential: a key file, or a key on their PKCS#11 token.
#[derive(Debug, Args)]
pub(crate) struct CredentialArgs {
    /// A PKCS#8 PEM private key file.
    #[arg(long, conflicts_with = "pkcs11_module")]
    key: Option<PathBuf>,
    /// The PKCS#11 library of the custodian's token.
    #[arg(long, requires_all = ["pkcs11_token", "pkcs11_pin_file", "pkcs11_key"])]
    pkcs11_module: Option<PathBuf>,
    /// The token's label.
    #[arg(long)]
    pkcs11_token: Option<String>,
    /// A file holding the token's user PIN (mode 0600).
    #[arg(long)]
    pkcs11_pin_file: Option<PathBuf>,
    /// The key's label (CKA_LABEL) on the token.
    #[arg(long)]
    pkcs11_key: Option<String>,
}

impl CredentialArgs {
    fn credential(self) -> Result<Credential> {
        match (self.key, self.pkcs11_module) {
            (Some(key), None) => Ok(Credential::KeyFile(key)),
            (None, Some(module)) => Ok(Credential::Pkcs11 {
                module,
                token: self.pkcs11_token.unwrap_or_default(),
                pin_file: self.pkcs11_pin_file.unwrap_or_default(),
                key: self.pkcs11_key.unwrap_or_default(),
            }),
            _ => Err(msg(
                "give --key FILE, or --pkcs11-module M --pkcs11-token T --pkcs11-pin-file F --pkcs11-key LABEL",
            )),
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")
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
            data,
            name,
            public_key,
            operator,
            json,
        } => {
            let spki = crate::ceremony_custodians::read_public_key(&public_key)?;
            let key = runtime()?.block_on(async {
                let (store, _) = crate::operator_cmd::open_registry(&data).await?;
                let result = async {
                    let by = crate::operator_cmd::authorize(
                        &store,
                        &operator,
                        shuin_ra::operators::Role::CaAdmin,
                        &format!("enrol the ceremony custodian {name:?}"),
                    )
                    .await?;
                    crate::ceremony_custodians::enroll(&store, &name, &spki, &by, SystemClock.now())
                        .await
                }
                .await;
                store.close().await;
                result
            })?;
            if json {
                println!("{}", serde_json::to_string(&key).context("JSON")?);
            } else {
                println!(
                    "custodian {} enrolled with key sha256 {}",
                    key.name, key.public_key_sha256
                );
            }
            Ok(())
        }
        CeremonyCommand::PublicKey { credential, out } => {
            let signer = credential.credential()?.signer()?;
            let pem = der::pem::encode_string(
                "PUBLIC KEY",
                der::pem::LineEnding::LF,
                signer.public_key_der(),
            )
            .context("PEM encoding")?;
            write_or_print(out.as_deref(), pem.as_bytes())
        }
        CeremonyCommand::Statement { data, config, out } => {
            let file = crate::ceremony_file::CeremonyFile::load(&config)?;
            let (statement, mut bytes) = runtime()?.block_on(async {
                let (store, instance) = crate::operator_cmd::open_registry(&data).await?;
                let result =
                    crate::ceremony_run::statement_for(&store, &instance, &data, &file).await;
                store.close().await;
                result
            })?;
            eprintln!("{}", crate::ceremony_statement::summary(&statement));
            eprintln!(
                "statement sha256 {}",
                crate::ceremony_statement::sha256_hex(&bytes)
            );
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
            let bytes = std::fs::read(&statement).context(statement.display())?;
            let parsed = crate::ceremony_statement::parse(&bytes)
                .map_err(|e| msg(format!("{}: {e}", statement.display())))?;
            let canonical = crate::ceremony_statement::canonical(&parsed)?;
            // What is being approved, shown before the credential is opened.
            eprintln!("{}", crate::ceremony_statement::summary(&parsed));
            let signer = credential.credential()?.signer()?;
            let approval = crate::ceremony_approval::approve(
                &parsed,
                &canonical,
                &custodian,
                signer.as_ref(),
            )?;
            let text = serde_json::to_string_pretty(&approval).context("JSON")?;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&out)
                .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
                .context(out.display())?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"custodian": custodian, "ceremony_id": approval.ceremony_id, "statement_sha256": approval.statement_sha256, "approval": out})
                );
            } else {
                println!(
                    "{custodian} approved ceremony {} (statement sha256 {}): {}",
                    approval.ceremony_id,
                    approval.statement_sha256,
                    out.display()
                );
            }
            Ok(())
        }
        CeremonyCommand::Run {
            data,
            config,
            approvals,
            operator,
            record_out,
            json,
        } => {
            let options = crate::ceremony_run::RunOptions {
                data: &data,
                ceremony: &config,
                approvals: &approvals,
                operator: &operator,
                record_out: record_out.as_deref(),
            };
            let outcome = runtime()?.block_on(crate::ceremony_run::run(&options, &SystemClock))?;
            if json {
                println!("{}", serde_json::to_string(&outcome).context("JSON")?);
            } else {
                println!(
                    "ceremony {} completed (statement sha256 {})",
                    outcome.ceremony_id, outcome.statement_sha256
                );
                for key in &outcome.keys {
                    println!("  key:         {key}");
                }
                for certificate in &outcome.certificates {
                    println!("  certificate: {}", certificate.display());
                }
                println!(
                    "  record:      {} (sha256 {}, also in the facility book)",
                    outcome.record.display(),
                    outcome.record_sha256
                );
            }
            Ok(())
        }
        CeremonyCommand::Verify {
            record,
            ledger_export,
            json,
        } => {
            let bytes = std::fs::read(&record).context(record.display())?;
            let parsed: crate::ceremony_record::Record = serde_json::from_slice(&bytes)
                .context(format!("{}: not a ceremony record", record.display()))?;
            let verified = crate::ceremony_record::verify(&parsed)
                .map_err(|e| msg(format!("{}: {e}", record.display())))?;
            let anchor = match &ledger_export {
                Some(export) => Some(
                    crate::ceremony_anchor::anchor(&parsed, export)
                        .map_err(|e| msg(format!("{}: {e}", record.display())))?,
                ),
                None => None,
            };
            if json {
                println!(
                    "{}",
                    serde_json::json!({"record": verified, "ledger": anchor})
                );
            } else {
                println!(
                    "ceremony {} verifies: statement sha256 {}, approved by {} ({} required), witnesses {}",
                    verified.ceremony_id,
                    verified.statement_sha256,
                    verified.approved_by.join(", "),
                    verified.threshold,
                    if verified.witnesses.is_empty() {
                        "none".to_owned()
                    } else {
                        verified.witnesses.join(", ")
                    }
                );
                for key in &verified.keys {
                    println!("  key:         {key}");
                }
                for certificate in &verified.certificates {
                    println!("  certificate: {certificate}");
                }
                if let Some(anchor) = &anchor {
                    println!(
                        "  ledger:      ceremony.completed at seq {}, custodian enrolments at seq {:?}, in an export of {} entries signed by the audit key sha256 {}",
                        anchor.completed_seq,
                        anchor.enrolment_seqs,
                        anchor.export_entries,
                        anchor.audit_key_sha256
                    );
                }
            }
            Ok(())
        }
    }
}
