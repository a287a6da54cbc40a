//! `shuin ceremony ...`: key ceremonies approved by M named custodians (docs/keys.md
//! "Key ceremonies"). Enrolment and `run` work on the instance; `public-key`, `approve`
//! and `verify` need nothing but their files, so custodians and auditors work offline.

use crate::config::{InstanceConfig, KeyBackendConfig};
use crate::failure::{msg, Context, Result};
use crate::key_backend::OpenedBackend;
use clap::{Args, Subcommand};
use shuin_ca::ceremony::{self, CeremonyBackend, CeremonyError, CustodianRoles, InstanceFacts};
use shuin_core::{Clock, SystemClock};
use shuin_keys::{
    KeyAttributes, KeyBackend, KeyGenerator, KeyRef, Pkcs11Backend, Pkcs11Uri, Signer,
    SoftwareSigner,
};
use shuin_store::sqlite::SqliteStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

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

/// One line for stderr from a ceremony error.
fn failed(e: CeremonyError) -> crate::failure::Error {
    msg(e.to_string())
}

/// Where a custodian's key is.
#[derive(Debug, Clone)]
enum Credential {
    /// A PKCS#8 PEM private key file.
    KeyFile(PathBuf),
    /// A key on the custodian's own PKCS#11 token.
    Pkcs11 {
        module: PathBuf,
        token: String,
        pin_file: PathBuf,
        key: String,
    },
}

impl Credential {
    /// Opens the credential's signer.
    fn signer(&self) -> Result<Arc<dyn Signer>> {
        match self {
            Credential::KeyFile(path) => {
                let pem = Zeroizing::new(std::fs::read_to_string(path).context(path.display())?);
                let signer = SoftwareSigner::from_pkcs8_pem(&pem).context(path.display())?;
                Ok(Arc::new(signer))
            }
            Credential::Pkcs11 {
                module,
                token,
                pin_file,
                key,
            } => {
                let pin = crate::key_backend::read_pin_file(pin_file)?;
                let backend = Pkcs11Backend::open(module, token, pin).context(format!(
                    "opening PKCS#11 token {token:?} with {}",
                    module.display()
                ))?;
                let uri = Pkcs11Uri {
                    token: token.clone(),
                    object: key.clone(),
                };
                backend
                    .signer(&uri.to_key_ref())
                    .context(format!("the custodian key {}", uri.to_uri()))
            }
        }
    }
}

/// The instance facts a statement is built from.
fn instance_facts(config: &InstanceConfig, dir: &Path) -> Result<InstanceFacts> {
    let (key_backend, token) = match &config.ca.key_backend {
        KeyBackendConfig::Software { .. } => ("software".to_owned(), None),
        KeyBackendConfig::Pkcs11 { token, .. } => ("pkcs11".to_owned(), Some(token.clone())),
    };
    Ok(InstanceFacts {
        public_url: config.instance.public_url.clone(),
        policy_oid: config.ca.policy_oid.clone(),
        root_der: crate::runtime::read_pem_or_der(&dir.join(&config.ca.root_certificate))?,
        issuing_der: crate::runtime::read_pem_or_der(&dir.join(&config.ca.issuing_certificate))?,
        key_backend,
        token,
    })
}

/// The operator registry answering the ceremony's role questions.
struct Registry<'a>(&'a SqliteStore);

#[async_trait::async_trait]
impl CustodianRoles for Registry<'_> {
    async fn holds_key_custodian(&self, name: &str) -> ceremony::Result<bool> {
        let holder = shuin_ra::operators::operator(self.0, name)
            .await
            .map_err(|e| CeremonyError::Roles(Box::new(e)))?;
        Ok(holder.is_some_and(|op| op.holds(shuin_ra::operators::Role::KeyCustodian)))
    }
}

/// The instance's opened key backend, naming keys as `init` does.
struct InstanceBackend<'a> {
    opened: OpenedBackend,
    config: &'a KeyBackendConfig,
}

impl CeremonyBackend for InstanceBackend<'_> {
    fn keys(&self) -> &dyn KeyGenerator {
        self.opened.keys.as_ref()
    }

    fn attributes(&self) -> Option<&dyn KeyAttributes> {
        self.opened.attributes.as_deref()
    }

    fn key_label(&self, label: &str) -> String {
        crate::key_backend::key_label(self.config, label)
    }

    fn key_uri(&self, label: &str) -> KeyRef {
        let backend_label = self.key_label(label);
        match self.config {
            KeyBackendConfig::Software { .. } => {
                KeyRef::software(&format!("{backend_label}.key.pem"))
            }
            KeyBackendConfig::Pkcs11 { token, .. } => Pkcs11Uri {
                token: token.clone(),
                object: backend_label,
            }
            .to_key_ref(),
        }
    }
}

/// `ceremony run`: opens the registry, authorises the `ca_admin`, then runs.
async fn run_ceremony(
    data: &Path,
    file: &ceremony::CeremonyFile,
    approvals: &[PathBuf],
    operator: &str,
    record_out: Option<&Path>,
) -> Result<ceremony::RunOutcome> {
    let (store, config) = crate::operator_cmd::open_registry(data).await?;
    let result = async {
        let actor = crate::operator_cmd::authorize(
            &store,
            operator,
            shuin_ra::operators::Role::CaAdmin,
            &format!("run the key ceremony {:?}", file.id),
        )
        .await?;
        let instance = instance_facts(&config, data)?;
        let record_out = record_out
            .map(Path::to_path_buf)
            .unwrap_or_else(|| data.join("ceremonies").join(format!("{}.json", file.id)));
        let options = ceremony::RunOptions {
            file,
            instance: &instance,
            root_key: &config.ca.root_key,
            issuing_key: &config.ca.issuing_key,
            approvals,
            operator,
            actor,
            record_out: &record_out,
            certificate_dir: &data.join("ca"),
        };
        let open_backend = || {
            crate::key_backend::open(&config.ca.key_backend, data)
                .map(|opened| InstanceBackend {
                    opened,
                    config: &config.ca.key_backend,
                })
                .map_err(|e| CeremonyError::Backend(Box::new(e)))
        };
        ceremony::run(
            &store,
            &Registry(&store),
            options,
            open_backend,
            &SystemClock,
        )
        .await
        .map_err(failed)
    }
    .await;
    store.close().await;
    result
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
            let spki = ceremony::read_public_key(&public_key).map_err(failed)?;
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
                    ceremony::enroll(
                        &store,
                        &Registry(&store),
                        &name,
                        &spki,
                        &by,
                        SystemClock.now(),
                    )
                    .await
                    .map_err(failed)
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
            let file = ceremony::CeremonyFile::load(&config).map_err(failed)?;
            let (statement, mut bytes) = runtime()?.block_on(async {
                let (store, instance) = crate::operator_cmd::open_registry(&data).await?;
                let result = async {
                    let facts = instance_facts(&instance, &data)?;
                    ceremony::statement_for(&store, &facts, &file)
                        .await
                        .map_err(failed)
                }
                .await;
                store.close().await;
                result
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
            let bytes = std::fs::read(&statement).context(statement.display())?;
            let parsed = ceremony::parse_statement(&bytes)
                .map_err(|e| msg(format!("{}: {e}", statement.display())))?;
            let canonical = ceremony::canonical_statement(&parsed).map_err(failed)?;
            // What is being approved, shown before the credential is opened.
            eprintln!("{}", ceremony::summary(&parsed));
            let signer = credential.credential()?.signer()?;
            let approval = ceremony::approve(&parsed, &canonical, &custodian, signer.as_ref())
                .map_err(failed)?;
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
            let file = ceremony::CeremonyFile::load(&config).map_err(failed)?;
            let outcome = runtime()?.block_on(run_ceremony(
                &data,
                &file,
                &approvals,
                &operator,
                record_out.as_deref(),
            ))?;
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
            let parsed: ceremony::Record = serde_json::from_slice(&bytes)
                .context(format!("{}: not a ceremony record", record.display()))?;
            let verified =
                ceremony::verify(&parsed).map_err(|e| msg(format!("{}: {e}", record.display())))?;
            let anchor = match &ledger_export {
                Some(export) => Some(
                    ceremony::anchor(&parsed, export)
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
