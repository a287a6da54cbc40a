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
mod enroll_cmd;
mod facility;
mod failure;
mod fips;
mod init;
mod key_backend;
mod ledger_cmd;
mod operator_cmd;
mod operator_key;
mod output;
mod publishers;
mod registration_cmd;
mod retention_cmd;
mod review_cmd;
mod revoke_cmd;
mod runtime;
mod seal;
mod serve;
mod status_cmd;
mod testkit_cmd;
mod watch;
mod witness_cmd;

use clap::{Parser, Subcommand};
use failure::{msg, Result};
use shuin_client::CardSource;
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
    Init(Box<InitArgs>),
    /// Serve an instance (all-in-one), or the development instance with --dev.
    Serve {
        /// Instance directory.
        #[arg(long, conflicts_with = "dev")]
        data: Option<PathBuf>,
        /// Zero-config development instance in ./shuin-dev (NOT for production).
        #[arg(long)]
        dev: bool,
        /// Address to listen on (default from shuin.toml, or 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Apply for a certificate with a JPKI signing key (applicant client).
    Apply(ApplyArgs),
    /// Revoke a certificate (an lra's signed request to the running server, recorded in
    /// the revocation book).
    Revoke(revoke_cmd::RevokeArgs),
    /// Issue a fresh CRL now (an lra's signed request), and the root's with --root (a
    /// ca_admin's, on the local console).
    Crl {
        #[command(flatten)]
        ask: console_client::Ask,
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
    /// Report the key backend (and token), FIPS mode and the seal state of an instance.
    Status {
        /// Instance directory.
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        json: bool,
    },
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

#[derive(Debug, clap::Args)]
struct InitArgs {
    /// Instance directory to create.
    #[arg(long)]
    data: PathBuf,
    /// Where the issuer keys live.
    #[arg(long, default_value = "software", value_parser = ["software", "pkcs11", "awskms"])]
    key_backend: String,
    /// The AWS region of the KMS keys (with --key-backend awskms; credentials come from
    /// the standard AWS chain, never from shuin.toml).
    #[arg(long)]
    kms_region: Option<String>,
    /// Another KMS endpoint, such as a VPC endpoint (with --key-backend awskms).
    #[arg(long)]
    kms_endpoint: Option<String>,
    /// The PKCS#11 library of the token (with --key-backend pkcs11).
    #[arg(long)]
    pkcs11_module: Option<PathBuf>,
    /// The label of the token that holds the issuer keys (with --key-backend pkcs11).
    #[arg(long)]
    pkcs11_token: Option<String>,
    /// A file holding the token's user PIN, mode 0600 (with --key-backend pkcs11).
    #[arg(long)]
    pkcs11_pin_file: Option<PathBuf>,
    /// A trusted J-LIS signing CA certificate (PEM or DER); repeatable. Default: the shipped, pinned signca03.
    #[arg(long = "jpki-trust-anchor")]
    jpki_trust_anchor: Vec<PathBuf>,
    /// The J-LIS CRL file that an outside job keeps fresh.
    #[arg(long)]
    jpki_crl: PathBuf,
    /// Base URL for the repository and OCSP URLs written into certificates.
    #[arg(long)]
    public_url: String,
    /// The accredited-policy OID for subscriber certificates.
    #[arg(long)]
    policy_oid: String,
    /// The responsible person (責任者) named as approver of automatic decisions.
    #[arg(
        long,
        default_value = "責任者 (responsible person: set with --responsible-person)"
    )]
    responsible_person: String,
    /// The CA's name, used in the CA certificates.
    #[arg(long, default_value = "shuin")]
    ca_name: String,
    /// Root key type.
    #[arg(long, default_value = "rsa3072")]
    root_key_type: String,
    /// Issuing key type.
    #[arg(long, default_value = "rsa2048")]
    issuing_key_type: String,
    /// Accept JPKI test-card certificates (testing only).
    #[arg(long)]
    allow_test_cards: bool,
    /// Default listen address written into shuin.toml.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// The database, written into shuin.toml as `[store] url`: `sqlite:PATH` (relative to
    /// --data; the default is sqlite:shuin.db) or `postgres://USER@HOST:PORT/DB`, whose
    /// schema init creates (docs/operations.md "Store: SQLite or PostgreSQL").
    #[arg(long, value_name = "URL", default_value = shuin_store::config::DEFAULT_URL)]
    store_url: String,
    /// A file holding the PostgreSQL password (owner-only), written into shuin.toml as
    /// `[store] password_file`; without it, PGPASSWORD or ~/.pgpass.
    #[arg(long, value_name = "FILE")]
    store_password_file: Option<PathBuf>,
    /// Split the token PIN among N custodians (with --key-backend pkcs11); the instance
    /// then starts sealed until --threshold of them run `shuin unseal`.
    #[arg(long, requires_all = ["threshold", "shares_out"])]
    custodians: Option<u8>,
    /// M: how many custodians' shares unseal the CA.
    #[arg(long, requires = "custodians")]
    threshold: Option<u8>,
    /// A directory outside the instance for share-1.txt ... share-N.txt.
    #[arg(long, requires = "custodians")]
    shares_out: Option<PathBuf>,
    /// The first ca_admin's CSR (from `shuin operator csr`), certified by the new
    /// operator CA. Every later operator is enrolled by a ca_admin.
    #[arg(long, value_name = "FILE")]
    first_admin_csr: PathBuf,
    /// A custodian's CSR (repeatable; one per custodian with --custodians): each is
    /// enrolled as key_custodian, signs their unseal requests and approves key ceremonies
    /// with that key.
    #[arg(long = "custodian-csr", value_name = "FILE")]
    custodian_csr: Vec<PathBuf>,
    /// The first key ceremony (TOML), which makes the root and issuing keys on M
    /// custodians' approvals; required with --key-backend pkcs11 (docs/keys.md "The first
    /// key ceremony").
    #[arg(long, value_name = "FILE")]
    first_ceremony: Option<PathBuf>,
    /// A custodian's approval of the first ceremony's statement (repeatable).
    #[arg(long = "approval", value_name = "FILE", requires = "first_ceremony")]
    approvals: Vec<PathBuf>,
    /// Only write the first ceremony's statement here, for the custodians to approve
    /// (`shuin ceremony approve`), and make nothing else. Run `init` again with the same
    /// options and the approvals.
    #[arg(
        long,
        value_name = "FILE",
        requires = "first_ceremony",
        conflicts_with = "approvals"
    )]
    statement_out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct ApplyArgs {
    /// Server base URL.
    #[arg(long)]
    server: String,
    /// JPKI signing key (PKCS#8 PEM) of a file-based card.
    #[arg(long, requires = "card_cert", conflicts_with = "dev_card")]
    card_key: Option<PathBuf>,
    /// JPKI signing certificate (PEM or DER) of a file-based card.
    #[arg(long, requires = "card_key")]
    card_cert: Option<PathBuf>,
    /// A card made by `serve --dev` (or `testkit card` under DEV_DIR/cards/NAME).
    #[arg(long)]
    dev_card: Option<String>,
    /// A JPKI card through this PKCS#11 module (OpenSC's opensc-pkcs11.so for a real
    /// My Number card in a reader).
    #[arg(long, requires = "card_pin_file", conflicts_with_all = ["card_key", "dev_card"])]
    card_pkcs11: Option<PathBuf>,
    /// The card's token label (with --card-pkcs11).
    #[arg(long, default_value = "JPKI")]
    card_token: String,
    /// A file holding the card's signing PIN, mode 0600 (with --card-pkcs11).
    #[arg(long, requires = "card_pkcs11")]
    card_pin_file: Option<PathBuf>,
    /// Where dev cards live.
    #[arg(long, default_value = "shuin-dev")]
    dev_dir: PathBuf,
    /// Name as on the card (surname, full-width space, given name).
    #[arg(long)]
    name: String,
    /// Birth date, YYYY-MM-DD.
    #[arg(long)]
    birth_date: String,
    /// Address as on the card.
    #[arg(long)]
    address: String,
    /// Gender as on the card: 1, 2 or 3.
    #[arg(long)]
    gender: Option<String>,
    /// The new key's type.
    #[arg(long, default_value = "p256")]
    key_type: String,
    /// Where to write the new private key (default: OUT.key).
    #[arg(long)]
    key_out: Option<PathBuf>,
    /// Where to write the certificate.
    #[arg(long, default_value = "cert.pem")]
    out: PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum LedgerCommand {
    /// Verify the ledger of an instance (--data) or an export offline (--export): every
    /// entry hash, the tree and the checkpoint signatures; exit non-zero on any alteration.
    Verify {
        /// Instance directory (reads its database).
        #[arg(long, required_unless_present = "export", conflicts_with = "export")]
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
        #[arg(long)]
        json: bool,
    },
    /// Write the entries (JSON Lines), the signed checkpoints and the audit public key to
    /// a new directory, for offline verification by auditors.
    Export {
        #[arg(long)]
        data: PathBuf,
        /// A new (or empty) directory.
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Print the books.
    Show {
        #[arg(long)]
        data: PathBuf,
        /// application, revocation, organization or facility.
        #[arg(long)]
        book: Option<String>,
        #[arg(long)]
        json: bool,
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
        .try_init();
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
            let args = *args;
            let key_backend = shuin_keys::config::BackendChoice {
                kind: args.key_backend,
                pkcs11_module: args.pkcs11_module,
                pkcs11_token: args.pkcs11_token,
                pkcs11_pin_file: args.pkcs11_pin_file,
                kms_region: args.kms_region,
                kms_endpoint: args.kms_endpoint,
            }
            .config(
                &std::env::current_dir().map_err(|e| msg(format!("current directory: {e}")))?,
            )?;
            let options = init::InitOptions {
                data: args.data,
                key_backend,
                trust_anchors: args.jpki_trust_anchor,
                jpki_crl: args.jpki_crl,
                public_url: args.public_url,
                policy_oid: args.policy_oid,
                responsible_person: args.responsible_person,
                ca_name: args.ca_name,
                root_key: apply_cmd::key_spec(&args.root_key_type)?,
                issuing_key: apply_cmd::key_spec(&args.issuing_key_type)?,
                allow_test_cards: args.allow_test_cards,
                listen: args.listen,
                store: crate::runtime::store_section(args.store_url, args.store_password_file)?,
                development: false,
                first_admin_csr: Some(args.first_admin_csr),
                custodian_csrs: args.custodian_csr,
                first_ceremony: args.first_ceremony.map(|file| init::FirstCeremonyOptions {
                    file,
                    approvals: args.approvals,
                }),
                custodians: match (args.custodians, args.threshold, args.shares_out) {
                    (Some(custodians), Some(threshold), Some(shares_out)) => {
                        Some(shuin_ca::seal::Custodians {
                            custodians,
                            threshold,
                            shares_out,
                        })
                    }
                    _ => None,
                },
            };
            if let Some(out) = &args.statement_out {
                return init::write_statement(&options, out);
            }
            let config = runtime()?.block_on(init::init(&options, &SystemClock, &OsRandom))?;
            println!("{}", init::created(&options, &config));
            Ok(())
        }
        Command::Serve { data, dev, listen } => {
            init_tracing();
            let rt = runtime()?;
            if dev {
                let dir = PathBuf::from("shuin-dev");
                let listen = listen.unwrap_or_else(|| "127.0.0.1:8080".into());
                rt.block_on(async {
                    dev::ensure_dev_instance(&dir, &listen).await?;
                    serve::serve(&dir, Some(&listen), |local, _| dev::banner(&dir, local)).await
                })
            } else {
                let dir = data.ok_or_else(|| {
                    msg("give --data DIR (an instance made by `shuin init`) or --dev")
                })?;
                rt.block_on(serve::serve(&dir, listen.as_deref(), |_, listeners| {
                    for listener in listeners {
                        println!("shuin is serving {} on {listener}", dir.display());
                    }
                }))
            }
        }
        Command::Apply(args) => {
            let card = match (args.card_key, args.card_cert, args.dev_card) {
                (None, None, None) if args.card_pkcs11.is_some() => CardSource::Pkcs11 {
                    module: args.card_pkcs11.unwrap_or_default(),
                    token: args.card_token,
                    pin_file: args.card_pin_file.unwrap_or_default(),
                },
                (Some(key), Some(cert), None) => CardSource::Files { key, cert },
                (None, None, Some(name)) => {
                    let dir = dev::card_dir(&args.dev_dir, &name);
                    CardSource::Files {
                        key: dir.join("key.pem"),
                        cert: dir.join("cert.pem"),
                    }
                }
                _ => {
                    return Err(msg(
                        "give --card-pkcs11 MODULE --card-pin-file FILE, --card-key FILE --card-cert FILE, or --dev-card NAME",
                    ))
                }
            };
            if shuin_core::timefmt::parse_date(&args.birth_date).is_none() {
                return Err(msg("--birth-date must be a valid YYYY-MM-DD date / 生年月日は YYYY-MM-DD で入力してください"));
            }
            let request = shuin_client::ApplyRequest {
                server: args.server,
                name: args.name,
                birth_date: args.birth_date,
                address: args.address,
                gender: args.gender,
                key_spec: apply_cmd::key_spec(&args.key_type)?,
            };
            apply_cmd::run(request, card, &args.out, args.key_out.as_deref(), args.json)
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
                LedgerCommand::Show { data, book, json } => {
                    rt.block_on(ledger_cmd::show(&data, book.as_deref(), json))
                }
            }
        }
        Command::Operator { command } => runtime()?.block_on(operator_cmd::run(command)),
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
            print!("{}", shuin_core::operator::policy_markdown());
            Ok(())
        }
        Command::Status { data, json } => runtime()?.block_on(status_cmd::status(&data, json)),
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
