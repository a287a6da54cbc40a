//! `shuin`: the one binary and the composition root. It is the only place that picks
//! concrete backends (DESIGN.md section 2).

mod admin_socket;
mod apply_cmd;
mod audit_pack;
mod automation_cmd;
mod ceremony_cmd;
mod config;
mod console;
mod console_client;
mod demo;
mod dev;
mod disclose_cmd;
mod enroll_cmd;
mod facility;
mod failure;
mod fetch_cmd;
mod fips;
mod help_cmd;
mod init;
mod key_backend;
mod ledger_cmd;
mod node_cmd;
mod operator_cmd;
mod operator_key;
mod output;
mod progress;
mod publishers;
mod registration_cmd;
mod retention_cmd;
mod review_cmd;
mod revoke_cmd;
mod revoke_mine_cmd;
mod runtime;
mod seal;
mod serve;
mod split;
mod status_cmd;
mod termination;
mod testkit_cmd;
mod watch;
mod witness_cmd;

use clap::{Parser, Subcommand};
use failure::{msg, Result};
use shuin_core::{OsRandom, SystemClock};
use shuin_ledger::export::WitnessPolicy;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "shuin",
    version,
    about = "shuin (朱印): a certification authority for accredited certification businesses under Japan's Electronic Signature Act"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a production-style instance (root and issuing CA, database, shuin.toml).
    Init(Box<init::InitArgs>),
    /// Serve an instance (all-in-one), or the development instance with --dev.
    Serve {
        /// Instance directory; SHUIN_DATA when not given (--dev wins over both).
        #[arg(long, value_name = "DIR", env = "SHUIN_DATA")]
        data: Option<PathBuf>,
        /// Zero-config development instance in ./shuin-dev (NOT for production).
        #[arg(long)]
        dev: bool,
        /// Address to listen on (default from shuin.toml, or 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
        /// all, ra, repo or ca: what this instance is in a split deployment (its `[node] role`;
        /// docs/deployment.md).
        #[arg(long, value_parser = serve_role)]
        role: Option<shuin_server::node::ServeRole>,
    },
    /// Apply for a certificate with a JPKI signing key (applicant client).
    Apply(apply_cmd::ApplyArgs),
    /// Collect the certificate of an application issued later (after an LRA approved
    /// it), checked against the private key `apply` kept.
    Fetch(fetch_cmd::FetchArgs),
    /// Obtain the records kept about you (名義人への情報開示), signing the request with
    /// your JPKI card (holder client).
    Disclose(disclose_cmd::DiscloseArgs),
    /// Have your own certificate revoked (holder client): signed with its key, or with
    /// your JPKI card when the key is lost.
    RevokeMine(revoke_mine_cmd::RevokeMineArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell), e.g.
    /// `shuin completions bash > /etc/bash_completion.d/shuin`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (shuin.1 and one per subcommand) into a directory.
    Man {
        /// The directory (made if missing), e.g. /usr/local/share/man/man1.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Revoke a certificate (an lra's signed request to the running server, recorded in
    /// the revocation book).
    Revoke(revoke_cmd::RevokeArgs),
    /// Issue a fresh CRL now (an lra's signed request), and the root's with --root (a
    /// ca_admin's, on the local console).
    Crl {
        #[command(flatten)]
        ask: console_client::Ask,
        /// Also sign and publish the root CA's CRL (with the root key, on the local console).
        #[arg(long)]
        root: bool,
    },
    /// Ledger (帳簿書類) tools.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// The operator registry (organisation book).
    Operator {
        #[command(subcommand)]
        command: operator_cmd::OperatorCommand,
    },
    /// Nodes of a split deployment (docs/deployment.md).
    Node {
        #[command(subcommand)]
        command: node_cmd::NodeCommand,
    },
    /// The LRA review queue.
    Review {
        #[command(subcommand)]
        command: review_cmd::ReviewCommand,
    },
    /// The responsible person's controls over automatic approval.
    Automation {
        #[command(subcommand)]
        command: automation_cmd::AutomationCommand,
    },
    /// The audit pack: each survey item of docs/criteria.md with its evidence.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Retention of evidence: the settings, and purging evidence past retention.
    Retention {
        #[command(subcommand)]
        command: retention_cmd::RetentionCommand,
    },
    /// Facility records (入退室管理): entry/exit records of the certificate equipment
    /// room, and the access-control system's token.
    Facility {
        #[command(subcommand)]
        command: facility::FacilityCommand,
    },
    /// The legacy 利用者識別符号 flow, LRA side; the J-LIS follow-up review list.
    Registration {
        #[command(subcommand)]
        command: registration_cmd::RegistrationCommand,
    },
    /// The legacy flow, applicant side: send a new key with the 利用者識別符号.
    Enroll(enroll_cmd::EnrollArgs),
    /// Simulated J-LIS CA and test cards (development and tests only).
    Testkit {
        #[command(subcommand)]
        command: testkit_cmd::TestkitCommand,
    },
    /// Run the whole path once on a throwaway instance and print a summary.
    Demo,
    /// Print the policy table: which roles, zones and control each operator action needs
    /// (the table of docs/zones.md).
    Policy,
    /// A health check of an instance: server, seal, key backend and token, key validation,
    /// FIPS mode, the automation review and any termination; exits non-zero on a failed
    /// check (--json: the whole report).
    Status(output::Reading),
    /// Key ceremonies approved by M named custodians (docs/keys.md "Key ceremonies").
    Ceremony {
        #[command(subcommand)]
        command: ceremony_cmd::CeremonyCommand,
    },
    /// Give one custodian's share to the running server of a sealed instance, as the
    /// custodian's signed request on the local console DIR/admin.sock (the high-security
    /// terminal). The share's SHA-256 is signed; the share itself never enters the books.
    Unseal {
        #[command(flatten)]
        ask: console_client::Ask,
        /// The custodian's share file (share-<i>.txt from `init --shares-out`).
        #[arg(long)]
        share_file: PathBuf,
    },
    /// A witness (C2SP tlog-witness) that cosigns a log's checkpoints only when they
    /// extend the last one it cosigned; run by a third party (docs/ledger.md "Witnesses").
    Witness {
        #[command(subcommand)]
        command: witness_cmd::WitnessCommand,
    },
}

#[derive(Debug, Subcommand)]
enum LedgerCommand {
    /// Verify the ledger of an instance (--data) or an export offline (--export): every
    /// entry hash, the tree and the checkpoint signatures; exit non-zero on any alteration.
    Verify {
        /// Instance directory (reads its database). From SHUIN_DATA when not given;
        /// --export wins over both.
        #[arg(
            long,
            value_name = "DIR",
            env = "SHUIN_DATA",
            required_unless_present = "export"
        )]
        data: Option<PathBuf>,
        /// Export directory made by `shuin ledger export` (no database needed).
        #[arg(long)]
        export: Option<PathBuf>,
        /// A checkpoint saved earlier (from an export or GET /ledger/v1/checkpoint) that
        /// the export must extend.
        #[arg(long, requires = "export")]
        since_checkpoint: Option<PathBuf>,
        /// A witness's verifier key, or a file holding it (repeatable): its cosignatures
        /// on the export's checkpoints are checked, and one checkpoint must be final.
        #[arg(long = "witness-key", value_name = "VKEY|FILE", requires = "export")]
        witness_keys: Vec<String>,
        /// How many of the --witness-key witnesses make a checkpoint final (default: all).
        #[arg(long, requires = "witness_keys")]
        quorum: Option<usize>,
        /// The audit key's pinned SHA-256 (of its SubjectPublicKeyInfo); any other key
        /// is refused. With --data, shuin.toml's `[ledger] audit_key_sha256` otherwise.
        #[arg(long, value_name = "HEX")]
        audit_key_sha256: Option<String>,
        /// Machine-readable output (JSON).
        #[arg(long)]
        json: bool,
    },
    /// Write the entries (JSON Lines), the signed checkpoints and the audit public key to
    /// a new directory, for offline verification by auditors.
    Export {
        /// The instance directory.
        #[arg(long, value_name = "DIR", env = "SHUIN_DATA")]
        data: PathBuf,
        /// A new (or empty) directory.
        #[arg(long)]
        out: PathBuf,
        /// Machine-readable output (JSON).
        #[arg(long)]
        json: bool,
    },
    /// Print the books.
    Show {
        #[command(flatten)]
        read: output::Reading,
        /// Only one book: application, revocation, organisation or facility.
        #[arg(long, value_parser = ledger_cmd::book)]
        book: Option<shuin_ledger::Book>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Write index.html, pack.json and the ledger export into a new directory. An
    /// auditor's or ca_admin's signed request records who took the pack; the pack is then
    /// read from the instance on this host.
    Pack {
        #[command(flatten)]
        ask: console_client::Ask,
        /// A new (or empty) directory.
        #[arg(long)]
        out: PathBuf,
    },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SHUIN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour())
        .try_init();
}

/// Colours in the log only on a terminal, and never with `NO_COLOR` set
/// (https://no-color.org): a log written to a file or a journal holds no escape codes.
fn colour() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| msg(format!("tokio runtime: {e}")))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Init(args) => {
            if let Some(out) = &args.statement_out {
                return init::write_statement(&args, out);
            }
            let config = runtime()?.block_on(init::init(&args, &SystemClock, &OsRandom))?;
            crate::output::say!("{}", init::created(&args, &config));
            Ok(())
        }
        Command::Serve {
            data,
            dev,
            listen,
            role,
        } => {
            init_tracing();
            let rt = runtime()?;
            if dev {
                let dir = PathBuf::from("shuin-dev");
                let listen = listen.unwrap_or_else(|| "127.0.0.1:8080".into());
                rt.block_on(async {
                    dev::check_listen(&listen)?;
                    dev::ensure_dev_instance(&dir, &listen).await?;
                    serve::serve(&dir, Some(&listen), role, |local, _| {
                        dev::banner(&dir, local)
                    })
                    .await
                })
            } else {
                let dir = data.ok_or_else(|| {
                    msg("give --data DIR (an instance made by `shuin init`) or --dev")
                })?;
                rt.block_on(serve::serve(
                    &dir,
                    listen.as_deref(),
                    role,
                    |_, listeners| {
                        if listeners.is_empty() {
                            crate::output::say!(
                                "shuin is serving {} with no network listener",
                                dir.display()
                            );
                        }
                        for listener in listeners {
                            crate::output::say!("shuin is serving {} on {listener}", dir.display());
                        }
                    },
                ))
            }
        }
        Command::Apply(args) => apply_cmd::run(args),
        Command::Disclose(args) => disclose_cmd::run(args),
        Command::RevokeMine(args) => revoke_mine_cmd::run(args),
        Command::Fetch(args) => fetch_cmd::run(args),
        Command::Completions { shell } => help_cmd::completions::<Cli>(shell),
        Command::Man { out } => {
            let pages = help_cmd::man_pages::<Cli>(&out)?;
            crate::output::say!("{pages} man pages written to {}", out.display());
            Ok(())
        }
        Command::Revoke(args) => runtime()?.block_on(revoke_cmd::revoke(args)),
        Command::Crl { ask, root } => runtime()?.block_on(revoke_cmd::crl(&ask, root)),
        Command::Ledger { command } => {
            let rt = runtime()?;
            match command {
                LedgerCommand::Verify {
                    data,
                    export,
                    since_checkpoint,
                    witness_keys,
                    quorum,
                    audit_key_sha256: pin,
                    json,
                } => match (data, export) {
                    (_, Some(export)) => {
                        let witnesses = WitnessPolicy::read(&witness_keys, quorum)?;
                        let anchors = (since_checkpoint.as_deref(), pin.as_deref());
                        ledger_cmd::verify_export(&export, anchors, witnesses.as_ref(), json)
                    }
                    (Some(data), None) => {
                        rt.block_on(ledger_cmd::verify(&data, pin.as_deref(), json))
                    }
                    (None, None) => Err(msg("give --data DIR or --export DIR")),
                },
                LedgerCommand::Export { data, out, json } => {
                    rt.block_on(ledger_cmd::export(&data, &out, json))
                }
                LedgerCommand::Show { read, book } => {
                    rt.block_on(ledger_cmd::show(&read.data, book, read.json))
                }
            }
        }
        Command::Operator { command } => runtime()?.block_on(operator_cmd::run(command)),
        Command::Node { command } => runtime()?.block_on(node_cmd::run(command)),
        Command::Review { command } => runtime()?.block_on(review_cmd::run(command)),
        Command::Automation { command } => runtime()?.block_on(automation_cmd::run(command)),
        Command::Audit {
            command: AuditCommand::Pack { ask, out },
        } => runtime()?.block_on(audit_pack::pack_signed(&ask, &out)),
        Command::Retention { command } => runtime()?.block_on(retention_cmd::run(command)),
        Command::Facility { command } => runtime()?.block_on(facility::run(command)),
        Command::Registration { command } => runtime()?.block_on(registration_cmd::run(command)),
        Command::Enroll(args) => enroll_cmd::run(args),
        Command::Testkit { command } => testkit_cmd::run(command),
        Command::Policy => {
            crate::output::write_stdout(format_args!(
                "{}",
                shuin_core::operator::policy_markdown()
            ));
            Ok(())
        }
        Command::Status(read) => runtime()?.block_on(status_cmd::status(&read.data, read.json)),
        Command::Ceremony { command } => ceremony_cmd::run(command),
        Command::Unseal { ask, share_file } => {
            runtime()?.block_on(revoke_cmd::unseal(&ask, &share_file))
        }
        Command::Witness { command } => witness_cmd::run(command),
        Command::Demo => {
            init_tracing_quiet();
            runtime()?.block_on(demo::run())
        }
    }
}

fn init_tracing_quiet() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("error"))
        .with_writer(std::io::stderr)
        .with_ansi(colour())
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match fips::check_at_start().and_then(|()| run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shuin: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--role all|ra|repo|ca`.
fn serve_role(text: &str) -> std::result::Result<shuin_server::node::ServeRole, String> {
    serde_json::from_value(serde_json::json!(text))
        .map_err(|_| "must be all, ra, repo or ca".to_owned())
}
