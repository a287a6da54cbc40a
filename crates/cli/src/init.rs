//! `shuin init`: a production-style instance — a root and an issuing CA in the key
//! backend, the JPKI trust anchors, the terms, the database and `shuin.toml`.
//! Every key operation is ledgered in the facility book before it happens.

use crate::config::{
    InstanceConfig, InstanceSection, JpkiSection, KeyBackendConfig, RaSection, RevocationSection,
    ServerSection,
};
use crate::failure::{msg, Context, Result};
use crate::runtime::Store;
use shuin_books::init_records;
use shuin_ca::bootstrap::{BootstrapPlan, InstanceCreated, KeyPlace, OperatorCaPlan};
use shuin_ca::ceremony::console::InstanceBackend;
use shuin_ca::ceremony::{self, first_instance};
use shuin_ca::operator_ca::read_csr_file;
use shuin_core::{Clock, RandomSource};
use shuin_store::SettingsStore;
use std::path::{Path, PathBuf};

/// Default terms (重要事項), bilingual. Operators replace `DIR/terms.txt` with their own.
pub(crate) const DEFAULT_TERMS: &str = include_str!("../../../docs/terms-template.txt");

/// The CP/CPS template; operators complete `DIR/cps.md`.
pub(crate) const DEFAULT_CPS: &str = include_str!("../../../docs/cp-cps-template.md");

/// What `shuin init` takes (`serve --dev` fills it in for the development instance).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct InitArgs {
    /// Instance directory to create; SHUIN_DATA when not given.
    #[arg(long, value_name = "DIR", env = "SHUIN_DATA")]
    pub(crate) data: PathBuf,
    /// Where the issuer keys live.
    #[arg(long, default_value = "software", value_parser = ["software", "pkcs11", "awskms"])]
    pub(crate) key_backend: String,
    /// The AWS region of the KMS keys (with --key-backend awskms; credentials come from
    /// the standard AWS chain, never from shuin.toml).
    #[arg(long)]
    pub(crate) kms_region: Option<String>,
    /// Another KMS endpoint, such as a VPC endpoint (with --key-backend awskms).
    #[arg(long)]
    pub(crate) kms_endpoint: Option<String>,
    /// The PKCS#11 library of the token (with --key-backend pkcs11).
    #[arg(long)]
    pub(crate) pkcs11_module: Option<PathBuf>,
    /// The label of the token that holds the issuer keys (with --key-backend pkcs11).
    #[arg(long)]
    pub(crate) pkcs11_token: Option<String>,
    /// A file holding the token's user PIN, mode 0600 (with --key-backend pkcs11).
    #[arg(long)]
    pub(crate) pkcs11_pin_file: Option<PathBuf>,
    /// A trusted J-LIS signing CA certificate (PEM or DER); repeatable. Default: the shipped, pinned signca03.
    #[arg(long = "jpki-trust-anchor")]
    pub(crate) jpki_trust_anchor: Vec<PathBuf>,
    /// The J-LIS CRL file that an outside job keeps fresh. It must hold a current CRL
    /// signed by a trust anchor, unless --jpki-crl-later is given.
    #[arg(long, value_name = "FILE")]
    pub(crate) jpki_crl: PathBuf,
    /// The --jpki-crl file is missing or not current yet: an outside job will put the
    /// J-LIS CRL there before the first application (until then every application
    /// fails closed, jpki_crl_unavailable).
    #[arg(long)]
    pub(crate) jpki_crl_later: bool,
    /// Base URL for the repository and OCSP URLs written into certificates.
    #[arg(long)]
    pub(crate) public_url: String,
    /// The accredited-policy OID for subscriber certificates.
    #[arg(long)]
    pub(crate) policy_oid: String,
    /// The responsible person (責任者) named as approver of automatic decisions.
    #[arg(
        long,
        default_value = "責任者 (responsible person: set with --responsible-person)"
    )]
    pub(crate) responsible_person: String,
    /// The CA's name, used in the CA certificates.
    #[arg(long, default_value = "shuin")]
    pub(crate) ca_name: String,
    /// Root key type.
    #[arg(long, default_value = "rsa3072")]
    pub(crate) root_key_type: String,
    /// Issuing key type.
    #[arg(long, default_value = "rsa2048")]
    pub(crate) issuing_key_type: String,
    /// The ledger audit key's type (it signs the checkpoints): p256, p384, or rsa2048 to
    /// rsa4096.
    #[arg(long, default_value = "p256")]
    pub(crate) audit_key_type: String,
    /// Accept JPKI test-card certificates (testing only).
    #[arg(long)]
    pub(crate) allow_test_cards: bool,
    /// Default listen address written into shuin.toml.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) listen: String,
    /// The database, written into shuin.toml as `[store] url`: `sqlite:PATH` (relative to
    /// --data; the default is sqlite:shuin.db) or `postgres://USER@HOST:PORT/DB`, whose
    /// schema init creates (docs/operations.md "Store: SQLite or PostgreSQL").
    #[arg(long, value_name = "URL", default_value = shuin_store::config::DEFAULT_URL)]
    pub(crate) store_url: String,
    /// A file holding the PostgreSQL password (owner-only), written into shuin.toml as
    /// `[store] password_file`; without it, PGPASSWORD or ~/.pgpass.
    #[arg(long, value_name = "FILE")]
    pub(crate) store_password_file: Option<PathBuf>,
    /// Split the token PIN among N custodians (with --key-backend pkcs11); the instance
    /// then starts sealed until --threshold of them run `shuin unseal`.
    #[arg(long, requires_all = ["threshold", "shares_out"])]
    pub(crate) custodians: Option<u8>,
    /// M: how many custodians' shares unseal the CA.
    #[arg(long, requires = "custodians")]
    pub(crate) threshold: Option<u8>,
    /// A directory outside the instance for share-1.txt ... share-N.txt.
    #[arg(long, requires = "custodians")]
    pub(crate) shares_out: Option<PathBuf>,
    /// The first ca_admin's CSR (from `shuin operator csr`), certified by the new
    /// operator CA. Every later operator is enrolled by a ca_admin.
    #[arg(long, value_name = "FILE")]
    pub(crate) first_admin_csr: PathBuf,
    /// A custodian's CSR (repeatable; one per custodian with --custodians): each is
    /// enrolled as key_custodian, signs their unseal requests and approves key ceremonies
    /// with that key.
    #[arg(long = "custodian-csr", value_name = "FILE")]
    pub(crate) custodian_csr: Vec<PathBuf>,
    /// The first key ceremony (TOML), which makes the root and issuing keys on M
    /// custodians' approvals; required with --key-backend pkcs11 (docs/keys.md "The first
    /// key ceremony").
    #[arg(long, value_name = "FILE")]
    pub(crate) first_ceremony: Option<PathBuf>,
    /// A custodian's approval of the first ceremony's statement (repeatable).
    #[arg(long = "approval", value_name = "FILE", requires = "first_ceremony")]
    pub(crate) approvals: Vec<PathBuf>,
    /// Only write the first ceremony's statement here, for the custodians to approve
    /// (`shuin ceremony approve`), and make nothing else. Run `init` again with the same
    /// options and the approvals.
    #[arg(
        long,
        value_name = "FILE",
        requires = "first_ceremony",
        conflicts_with = "approvals"
    )]
    pub(crate) statement_out: Option<PathBuf>,
    /// A development instance (`serve --dev`), never from the command line.
    #[arg(skip)]
    pub(crate) development: bool,
}

impl InitArgs {
    /// The key backend the options name (`shuin_keys::config::BackendChoice`).
    fn key_backend(&self) -> Result<KeyBackendConfig> {
        let choice = shuin_keys::config::BackendChoice {
            kind: self.key_backend.clone(),
            pkcs11_module: self.pkcs11_module.clone(),
            pkcs11_token: self.pkcs11_token.clone(),
            pkcs11_pin_file: self.pkcs11_pin_file.clone(),
            kms_region: self.kms_region.clone(),
            kms_endpoint: self.kms_endpoint.clone(),
        };
        Ok(choice.config(&std::env::current_dir().context("current directory")?)?)
    }

    /// M of N custodians, when `--custodians` is given.
    fn custodians(&self) -> Option<shuin_ca::seal::Custodians> {
        Some(shuin_ca::seal::Custodians {
            custodians: self.custodians?,
            threshold: self.threshold?,
            shares_out: self.shares_out.clone()?,
        })
    }

    /// The first key ceremony's file and approvals, when `--first-ceremony` is given.
    fn first_ceremony_files(&self) -> Option<(&Path, &[PathBuf])> {
        let file = self.first_ceremony.as_deref()?;
        Some((file, self.approvals.as_slice()))
    }
}

/// The custodians' CSRs, each with the file it came from.
fn custodian_csrs(args: &InitArgs) -> Result<Vec<(String, Vec<u8>)>> {
    let read = |path: &PathBuf| Ok((path.display().to_string(), read_csr_file(path)?));
    args.custodian_csr.iter().map(read).collect()
}

/// The first key ceremony of `args`, planned and its approvals checked
/// (`first_instance::prepare`): the custodians are the `--custodian-csr` operators,
/// pinned by their operator keys.
fn first_ceremony(
    args: &InitArgs,
    key_backend: &KeyBackendConfig,
    csrs: &[(String, Vec<u8>)],
) -> Result<Option<first_instance::Prepared>> {
    let facts = first_instance::new_instance_facts(&args.public_url, &args.policy_oid, key_backend);
    let software = matches!(key_backend, KeyBackendConfig::Software { .. });
    let files = args.first_ceremony_files();
    Ok(first_instance::prepare(files, facts, csrs, software)?)
}

/// `init --statement-out FILE`: writes the first ceremony's statement for the custodians
/// and makes nothing else.
pub(crate) fn write_statement(args: &InitArgs, out: &Path) -> Result<()> {
    let file = args.first_ceremony.as_deref();
    let file = file.ok_or_else(|| msg("--statement-out needs --first-ceremony"))?;
    let key_backend = args.key_backend()?;
    let facts =
        first_instance::new_instance_facts(&args.public_url, &args.policy_oid, &key_backend);
    let plan = first_instance::plan(file, facts, &custodian_csrs(args)?)?;
    let mut bytes = plan.statement_bytes.clone();
    bytes.push(b'\n');
    std::fs::write(out, &bytes).context(out.display())?;
    crate::output::say!("{}", ceremony::summary(&plan.statement));
    crate::output::say!(
        "statement written to {} (sha256 {}): each approving custodian runs `shuin ceremony approve --statement {} --custodian NAME ...`, then run init again with --approval FILE for each",
        out.display(),
        ceremony::sha256_hex(&plan.statement_bytes),
        out.display()
    );
    Ok(())
}

/// What `init` tells the operator about the instance it made.
pub(crate) fn created(args: &InitArgs, config: &InstanceConfig) -> InstanceCreated {
    let sealed = (config.ca.seal.as_ref().zip(args.shares_out.as_ref()))
        .map(|(seal, out)| (out.clone(), seal.custodians, seal.threshold));
    InstanceCreated {
        dir: args.data.clone(),
        root_certificate: config.ca.root_certificate.clone(),
        issuing_certificate: config.ca.issuing_certificate.clone(),
        config_file: PathBuf::from(crate::config::CONFIG_FILE),
        fingerprints: fingerprints(args, config),
        sealed,
    }
}

/// SHA-256 of the root and issuing CA certificates as written, for `init` to print.
fn fingerprints(args: &InitArgs, config: &InstanceConfig) -> Option<(String, String)> {
    use sha2::Digest;
    let sha256 = |file: &std::path::Path| {
        shuin_ca::parts::read_pem_or_der(&args.data.join(file))
            .ok()
            .map(|der| hex::encode(sha2::Sha256::digest(der)))
    };
    Some((
        sha256(&config.ca.root_certificate)?,
        sha256(&config.ca.issuing_certificate)?,
    ))
}

/// Creates the instance. Refuses to touch an existing one.
pub(crate) async fn init(
    options: &InitArgs,
    clock: &dyn Clock,
    rng: &dyn RandomSource,
) -> Result<InstanceConfig> {
    let before = HalfMade::note(&options.data)?;
    let made = make_instance(options, clock, rng).await;
    if made.is_err() {
        if let Some(removed) = before.remove_new_entries() {
            eprintln!("{removed}");
            for outside in left_outside(options) {
                eprintln!("shuin: {outside}");
            }
        }
    }
    made
}

/// What a failed `init` may have made outside the instance directory, which it cannot
/// take back, and how to clear it before trying again.
fn left_outside(options: &InitArgs) -> Vec<String> {
    let mut left = Vec::new();
    match options.key_backend.as_str() {
        "pkcs11" => left.push(format!(
            "keys it generated stay on the token {}: delete its objects labelled shuin-* (pkcs11-tool --list-objects lists them) before trying again",
            options.pkcs11_token.as_deref().unwrap_or("(--pkcs11-token)")
        )),
        "awskms" => left.push(
            "keys it created stay in AWS KMS (aliases alias/shuin-*): schedule their deletion before trying again".to_owned(),
        ),
        _ => {}
    }
    if options.store_url.starts_with("postgres") {
        left.push(format!(
            "the database {} may hold the books it began: drop and create it empty before trying again",
            options.store_url
        ));
    }
    if let Some(shares) = &options.shares_out {
        left.push(format!(
            "{} may hold unseal shares of keys that were never used: remove them",
            shares.display()
        ));
    }
    left
}

/// What the instance directory held before `init`, so that a failed `init` removes
/// exactly what it made and leaves no half-made instance behind.
struct HalfMade {
    dir: PathBuf,
    /// `None`: the directory did not exist.
    entries: Option<std::collections::BTreeSet<std::ffi::OsString>>,
}

impl HalfMade {
    fn note(dir: &Path) -> Result<Self> {
        let entries = match std::fs::read_dir(dir) {
            Ok(read) => Some(
                read.map(|entry| entry.map(|e| e.file_name()))
                    .collect::<std::io::Result<_>>()
                    .context(dir.display())?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(msg(format!("{}: {e}", dir.display()))),
        };
        Ok(Self {
            dir: dir.to_owned(),
            entries,
        })
    }

    /// Removes what `init` added; says what it did, or `None` when it added nothing.
    fn remove_new_entries(&self) -> Option<String> {
        let dir = &self.dir;
        let Some(entries) = &self.entries else {
            return dir.exists().then(|| match std::fs::remove_dir_all(dir) {
                Ok(()) => format!("shuin: removed the half-made instance {}", dir.display()),
                Err(e) => format!(
                    "shuin: could not remove the half-made instance {}: {e}; remove it before trying again",
                    dir.display()
                ),
            });
        };
        let added: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(|entry| entry.ok())
            .filter(|entry| !entries.contains(&entry.file_name()))
            .map(|entry| entry.path())
            .collect();
        if added.is_empty() {
            return None;
        }
        let failed: Vec<String> = added
            .iter()
            .filter_map(|path| {
                let removed = if path.is_dir() {
                    std::fs::remove_dir_all(path)
                } else {
                    std::fs::remove_file(path)
                };
                removed.err().map(|e| format!("{}: {e}", path.display()))
            })
            .collect();
        Some(if failed.is_empty() {
            format!(
                "shuin: removed what init had made in {} ({} entries)",
                dir.display(),
                added.len()
            )
        } else {
            format!(
                "shuin: could not remove all that init had made in {}: {}",
                dir.display(),
                failed.join("; ")
            )
        })
    }
}

/// The J-LIS trust anchors given with `--jpki-trust-anchor` (or the shipped one), and
/// the `--jpki-crl` file checked under them before anything is made.
fn jpki_trust(options: &InitArgs) -> Result<(Vec<shuin_jpki::InstalledAnchor>, PathBuf)> {
    let anchors = shuin_ra::trust_setup::read_anchors(&options.jpki_trust_anchor)
        .map_err(|e| msg(format!("--jpki-trust-anchor {e}")))?;
    let crl_path = std::path::absolute(&options.jpki_crl).context(options.jpki_crl.display())?;
    let problem = shuin_ra::trust_setup::crl_problem(&anchors, &crl_path)
        .map_err(|e| msg(format!("--jpki-trust-anchor: {e}")))?;
    match problem {
        Some(problem) if options.jpki_crl_later => eprintln!(
            "warning: --jpki-crl {}: {problem}; every application fails closed until a current J-LIS CRL is there",
            options.jpki_crl.display()
        ),
        Some(problem) => {
            return Err(msg(format!(
                "--jpki-crl {}: {problem}; with it every application would fail closed. Give the current J-LIS CRL (signed by a --jpki-trust-anchor), or add --jpki-crl-later if an outside job will put it there before the first application",
                options.jpki_crl.display()
            )))
        }
        None => {}
    }
    Ok((anchors, crl_path))
}

async fn make_instance(
    options: &InitArgs,
    clock: &dyn Clock,
    rng: &dyn RandomSource,
) -> Result<InstanceConfig> {
    let dir = &options.data;
    let policy_oid = check_place_and_names(options)?;
    let key_backend = options.key_backend()?;
    let (anchors, crl_path) = jpki_trust(options)?;
    let store_section =
        crate::runtime::store_section(&options.store_url, &options.store_password_file)?;
    let root_key = crate::apply_cmd::key_spec("--root-key-type", &options.root_key_type)?;
    let issuing_key = crate::apply_cmd::key_spec("--issuing-key-type", &options.issuing_key_type)?;
    crate::apply_cmd::key_spec("--audit-key-type", &options.audit_key_type)?;
    let first_admin_csr = read_csr_file(&options.first_admin_csr)?;
    let csrs = custodian_csrs(options)?;
    let custodian_csrs: Vec<Vec<u8>> = csrs.iter().map(|(_, der)| der.clone()).collect();
    let custodians = options.custodians();
    check_custodian_count(custodians.as_ref(), custodian_csrs.len())?;
    // Custodian options are checked before anything is made.
    let custodian_pin = match &custodians {
        Some(custodians) => Some(custodians.check(&key_backend, dir)?),
        None => None,
    };
    // Open the key backend first: a bad PIN file or token stops init before it writes.
    let opened = crate::key_backend::open(&key_backend, dir)?;
    // The first key ceremony and its approvals are checked before anything is made.
    let first = first_ceremony(options, &key_backend, &csrs)?;
    crate::runtime::check_new_store(&store_section, dir).await?;
    make_directories(dir)?;

    // J-LIS trust anchors; the CRL file the RA reads was checked above.
    let trust = shuin_ra::trust_setup::install(dir, anchors, options.development)?;
    for warning in &trust.warnings {
        eprintln!("warning: {warning}");
    }

    let store = Store::create_new(&store_section, dir).await?;
    let now = clock.now();
    let admin = init_records::init_actor();
    let evidence = serde_json::to_value(&trust.anchors).context("anchors")?;
    let crl_file = crl_path.display().to_string();
    init_records::record_init(
        &store,
        &options.responsible_person,
        evidence,
        &crl_file,
        now,
    )
    .await
    .context("ledger")?;

    // Keys, the root and issuing CA certificates, the root's first CRL, the operator CA.
    let label = |role: &str| key_backend.key_label(role);
    let place = KeyPlace {
        keys: opened.keys.as_ref(),
        attributes: opened.attributes.as_deref(),
        describer: opened.describer.as_deref(),
        label: &label,
    };
    let base = options.public_url.trim_end_matches('/');
    let plan = BootstrapPlan {
        ca_name: &options.ca_name,
        base_url: base,
        policy_oid,
        root_key,
        issuing_key,
        root_crl_lifetime: RevocationSection::default().root_crl_lifetime(),
        operators: OperatorCaPlan {
            first_admin_csr: Some(&first_admin_csr),
            custodian_csrs: &custodian_csrs,
            extra_admin_roles: if options.development {
                shuin_ca::bootstrap::DEVELOPMENT_ADMIN_ROLES
            } else {
                &[]
            },
        },
    };
    let instance = first_instance::NewInstance {
        dir: &options.data,
        store: std::sync::Arc::new(store.clone()),
        backend: InstanceBackend {
            opened: &opened,
            config: &key_backend,
        },
        root_crl_lifetime: RevocationSection::default().root_crl_lifetime(),
    };
    let made = first_instance::make(
        instance,
        &place,
        &plan,
        first.as_ref(),
        (&admin, clock, rng),
    );
    let (made, ceremony) = made.await?;
    report_made(ceremony.as_ref(), &made.enrolled);
    made.write_certificates(dir)?;
    write_documents(dir)?;

    let seal = match (&custodians, &custodian_pin) {
        (Some(custodians), Some(pin)) => {
            Some(custodians.split(pin, rng, &store, (&admin, now)).await?)
        }
        _ => None,
    };
    let mut config = InstanceConfig {
        instance: InstanceSection {
            public_url: base.to_owned(),
            development: options.development,
            cps: PathBuf::from("cps.md"),
        },
        ca: made.ca_section(key_backend, &options.policy_oid, seal),
        ra: RaSection::for_new_instance(options.responsible_person.clone()),
        jpki: JpkiSection {
            trust_anchors: trust.anchor_files,
            crl: crl_path.into(),
            allow_test_cards: options.allow_test_cards,
            on_jpki_revocation: Default::default(),
        },
        server: ServerSection {
            listen: options.listen.clone(),
            ..ServerSection::default()
        },
        store: store_section,
        revocation: RevocationSection::default(),
        ledger: crate::config::LedgerSection {
            audit_key_type: (options.audit_key_type != "p256")
                .then(|| options.audit_key_type.clone()),
            ..crate::config::LedgerSection::default()
        },
        retention: crate::retention_cmd::RetentionSection::default(),
        facility: crate::facility::FacilitySection::default(),
        publishers: Vec::new(),
        notices: Default::default(),
        node: Default::default(),
    };
    pin_audit_key(&mut config, dir, &store, &opened).await?;
    config.write_new(dir)?;
    store
        .set_setting("instance.created_at", &shuin_core::timefmt::rfc3339(now))
        .await
        .context("settings")?;
    store.close().await;
    Ok(config)
}

/// Refuses a directory that holds an instance, a public URL that is not http(s), and a
/// policy OID that is not one; returns the OID.
fn check_place_and_names(options: &InitArgs) -> Result<const_oid::ObjectIdentifier> {
    let dir = &options.data;
    if dir.join(crate::config::CONFIG_FILE).exists() {
        return Err(msg(format!(
            "{} already holds an instance; refusing to overwrite it",
            dir.display()
        )));
    }
    if !(options.public_url.starts_with("http://") || options.public_url.starts_with("https://")) {
        return Err(msg("--public-url must start with http:// or https://"));
    }
    shuin_core::signature::parse_oid(&options.policy_oid).ok_or_else(|| {
        msg(format!(
            "--policy-oid {:?} is not a dotted-decimal OID",
            options.policy_oid
        ))
    })
}

/// One custodian CSR per custodian of `--custodians`.
fn check_custodian_count(
    custodians: Option<&shuin_ca::seal::Custodians>,
    csrs: usize,
) -> Result<()> {
    match custodians {
        Some(custodians) if csrs != usize::from(custodians.custodians) => Err(msg(format!(
            "--custodians {} needs one --custodian-csr per custodian (got {csrs}): each custodian signs their unseal request with their own key",
            custodians.custodians,
        ))),
        _ => Ok(()),
    }
}

/// The instance directory (owner only) and its subdirectories.
fn make_directories(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for sub in ["", "keys", "ca", "jpki/anchors"] {
        std::fs::create_dir_all(dir.join(sub)).context(dir.join(sub).display())?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).context(dir.display())
}

/// Says what the first ceremony recorded and who was enrolled.
fn report_made(
    ceremony: Option<&ceremony::RunOutcome>,
    enrolled: &[shuin_ca::bootstrap::Enrolled],
) {
    if let Some(outcome) = ceremony {
        eprintln!(
            "first key ceremony {} completed: record {} (sha256 {})",
            outcome.ceremony_id,
            outcome.record.display(),
            outcome.record_sha256
        );
    }
    for enrolled in enrolled {
        eprintln!(
            "enrolled {:?} as {} (operator certificate valid for one year)",
            enrolled.name, enrolled.role
        );
    }
}

/// The terms (重要事項) and the CP/CPS templates, for the operator to complete.
fn write_documents(dir: &Path) -> Result<()> {
    let terms = shuin_ra::config::TERMS_FILE;
    std::fs::write(dir.join(terms), DEFAULT_TERMS).context(terms)?;
    std::fs::write(dir.join("cps.md"), DEFAULT_CPS).context("cps.md")
}

/// Makes the audit key and signs the first checkpoint (kept as the last signed head),
/// and pins the key's fingerprint in `config`.
async fn pin_audit_key(
    config: &mut InstanceConfig,
    dir: &Path,
    store: &Store,
    opened: &crate::key_backend::OpenedBackend,
) -> Result<()> {
    let parts = crate::runtime::parts_config(config, dir);
    let store = std::sync::Arc::new(store.clone());
    let clock: std::sync::Arc<dyn Clock> = std::sync::Arc::new(shuin_core::SystemClock);
    let pin = shuin_ca::parts::first_checkpoint(&parts, store, opened, clock).await;
    config.ledger.audit_key_sha256 = Some(pin.map_err(|e| msg(e.to_string()))?);
    Ok(())
}
