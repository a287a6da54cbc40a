//! `shuin init`: a production-style instance — a root and an issuing CA in the key
//! backend, the JPKI trust anchors, the terms, the database and `shuin.toml`.
//! Every key operation is ledgered in the facility book before it happens.

use crate::config::{
    CaSection, InstanceConfig, InstanceSection, JpkiSection, KeyBackendConfig, RaSection,
    RevocationSection, ServerSection,
};
use crate::failure::{msg, Context, Result};
use crate::runtime::Store;
use der::Decode;
use shuin_books::init_records;
use shuin_ca::bootstrap::{BootstrapPlan, KeyPlace, OperatorCaPlan};
use shuin_ca::ceremony::console::InstanceBackend;
use shuin_ca::ceremony::{self, first_instance};
use shuin_core::x509::pem::der_labelled;
use shuin_core::{Clock, RandomSource};
use shuin_keys::KeySpec;
use shuin_ledger::EntryDraft;
use shuin_store::{LedgerStore, SettingsStore};
use std::path::{Path, PathBuf};

/// Default terms (重要事項), bilingual. Operators replace `DIR/terms.txt` with their own.
pub(crate) const DEFAULT_TERMS: &str = include_str!("../../../docs/terms-template.txt");

/// The CP/CPS template; operators complete `DIR/cps.md`.
pub(crate) const DEFAULT_CPS: &str = include_str!("../../../docs/cp-cps-template.md");

/// What `init` needs.
#[derive(Debug, Clone)]
pub(crate) struct InitOptions {
    pub(crate) data: PathBuf,
    /// Where the root and issuing keys are generated.
    pub(crate) key_backend: KeyBackendConfig,
    pub(crate) trust_anchors: Vec<PathBuf>,
    pub(crate) jpki_crl: PathBuf,
    pub(crate) public_url: String,
    pub(crate) policy_oid: String,
    pub(crate) responsible_person: String,
    pub(crate) ca_name: String,
    pub(crate) root_key: KeySpec,
    pub(crate) issuing_key: KeySpec,
    pub(crate) allow_test_cards: bool,
    pub(crate) listen: String,
    /// The database (`[store]`).
    pub(crate) store: shuin_store::StoreSection,
    pub(crate) development: bool,
    /// M-of-N custodians: the PIN is sealed and split, and the instance starts sealed.
    pub(crate) custodians: Option<crate::seal_init::CustodianOptions>,
    /// The CSR of the first `ca_admin` (DESIGN.md section 8), certified by the new
    /// operator CA.
    pub(crate) first_admin_csr: Option<PathBuf>,
    /// The custodians' CSRs, enrolled as key_custodian (one per custodian with
    /// `custodians`).
    pub(crate) custodian_csrs: Vec<PathBuf>,
    /// The first key ceremony that makes the root and issuing keys (required on a
    /// production key backend).
    pub(crate) first_ceremony: Option<FirstCeremonyOptions>,
}

/// `--first-ceremony FILE` with its approvals.
#[derive(Debug, Clone)]
pub(crate) struct FirstCeremonyOptions {
    /// The ceremony file (TOML).
    pub(crate) file: PathBuf,
    /// The custodians' approvals of its statement.
    pub(crate) approvals: Vec<PathBuf>,
}

/// A trust anchor file: PEM `CERTIFICATE` or DER, an X.509 certificate.
fn read_certificate(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).context(path.display())?;
    let der = der_labelled(bytes, "CERTIFICATE").context(path.display())?;
    x509_cert::Certificate::from_der(&der)
        .context(format!("{}: not an X.509 certificate", path.display()))?;
    Ok(der)
}

/// An operator's CSR file: PEM `CERTIFICATE REQUEST` or DER, with a valid signature.
fn read_csr(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).context(format!("CSR {}", path.display()))?;
    let der = der_labelled(bytes, "CERTIFICATE REQUEST").context(path.display())?;
    shuin_core::csr::verify_csr(&der).map_err(|r| {
        msg(format!(
            "{}: {}: {}",
            path.display(),
            r.code.as_str(),
            r.detail
        ))
    })?;
    Ok(der)
}

fn pem(label: &str, der: &[u8]) -> Result<String> {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).context("PEM encoding")
}

/// Runs the first key ceremony on the new instance's key backend
/// (`shuin_ca::ceremony::first_instance`), which also signs the root's first CRL.
async fn run_first_ceremony(
    options: &InitOptions,
    store: &Store,
    opened: &crate::key_backend::OpenedBackend,
    first: &ceremony::FirstPlan,
    approvals: &[(String, Vec<u8>)],
    clock: &dyn Clock,
) -> Result<ceremony::Adopted> {
    let instance = first_instance::NewInstance {
        dir: &options.data,
        store: std::sync::Arc::new(store.clone()),
        backend: InstanceBackend {
            opened,
            config: &options.key_backend,
        },
        root_crl_lifetime: RevocationSection::default().root_crl_lifetime(),
    };
    let admin = init_records::init_actor();
    let (outcome, adopted) =
        first_instance::run_on_new_instance(instance, first, approvals, &admin, clock)
            .await
            .map_err(|e| msg(format!("the first key ceremony: {e}")))?;
    eprintln!(
        "first key ceremony {} completed: record {} (sha256 {})",
        outcome.ceremony_id,
        outcome.record.display(),
        outcome.record_sha256
    );
    Ok(adopted)
}

/// The first key ceremony of `options`, planned: the custodians are the `--custodian-csr`
/// operators, pinned by their operator keys.
pub(crate) fn first_plan(options: &InitOptions) -> Result<Option<ceremony::FirstPlan>> {
    let Some(first) = &options.first_ceremony else {
        return Ok(None);
    };
    let mut csrs = Vec::new();
    for path in &options.custodian_csrs {
        csrs.push((path.display().to_string(), read_csr(path)?));
    }
    let instance = first_instance::new_instance_facts(
        &options.public_url,
        &options.policy_oid,
        &options.key_backend,
    );
    let plan = first_instance::plan(&first.file, instance, &csrs);
    plan.map(Some).map_err(|e| msg(e.to_string()))
}

/// `init --statement-out FILE`: writes the first ceremony's statement for the custodians
/// and makes nothing else.
pub(crate) fn write_statement(options: &InitOptions, out: &Path) -> Result<()> {
    let plan = first_plan(options)?.ok_or_else(|| msg("--statement-out needs --first-ceremony"))?;
    let mut bytes = plan.statement_bytes.clone();
    bytes.push(b'\n');
    std::fs::write(out, &bytes).context(out.display())?;
    println!("{}", ceremony::summary(&plan.statement));
    println!(
        "statement written to {} (sha256 {}): each approving custodian runs `shuin ceremony approve --statement {} --custodian NAME ...`, then run init again with --approval FILE for each",
        out.display(),
        ceremony::sha256_hex(&plan.statement_bytes),
        out.display()
    );
    Ok(())
}

/// The approval files of the first ceremony, read.
fn read_approvals(options: &InitOptions) -> Result<Vec<(String, Vec<u8>)>> {
    let paths = options
        .first_ceremony
        .as_ref()
        .map(|first| first.approvals.as_slice())
        .unwrap_or_default();
    first_instance::read_approvals(paths).map_err(|e| msg(e.to_string()))
}

/// Creates the instance. Refuses to touch an existing one.
pub(crate) async fn init(
    options: &InitOptions,
    clock: &dyn Clock,
    rng: &dyn RandomSource,
) -> Result<InstanceConfig> {
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
    let policy_oid = shuin_core::signature::parse_oid(&options.policy_oid).ok_or_else(|| {
        msg(format!(
            "--policy-oid {:?} is not a dotted-decimal OID",
            options.policy_oid
        ))
    })?;
    let first_admin_csr = match &options.first_admin_csr {
        Some(path) => Some(read_csr(path)?),
        None => None,
    };
    let custodian_csrs = options
        .custodian_csrs
        .iter()
        .map(|path| read_csr(path))
        .collect::<Result<Vec<_>>>()?;
    if let Some(custodians) = &options.custodians {
        if custodian_csrs.len() != usize::from(custodians.custodians) {
            return Err(msg(format!(
                "--custodians {} needs one --custodian-csr per custodian (got {}): each custodian signs their unseal request with their own key",
                custodians.custodians,
                custodian_csrs.len()
            )));
        }
    }
    // Custodian options are checked before anything is made.
    let custodian_pin = match &options.custodians {
        Some(custodians) => Some(crate::seal_init::check(custodians, options)?),
        None => None,
    };
    // Open the key backend first: a bad PIN file or token stops init before it writes.
    let opened = crate::key_backend::open(&options.key_backend, dir)?;
    // The first key ceremony and its approvals are checked before anything is made.
    let first = first_plan(options)?;
    let approvals = read_approvals(options)?;
    crate::runtime::check_new_store(&options.store, dir).await?;
    match &first {
        Some(plan) => {
            plan.check_approvals(&approvals)
                .map_err(|e| msg(format!("the first key ceremony: {e}; nothing was made")))?;
        }
        None if !matches!(options.key_backend, KeyBackendConfig::Software { .. }) => {
            return Err(msg(
                "on a production key backend the root and issuing keys are made in the first key ceremony, approved by M custodians: give --first-ceremony FILE and one --approval FILE per approving custodian (docs/keys.md \"The first key ceremony\")",
            ));
        }
        None => {}
    }
    for sub in ["", "keys", "ca", "jpki/anchors"] {
        std::fs::create_dir_all(dir.join(sub)).context(dir.join(sub).display())?;
    }
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .context(dir.display())?;
    }

    // J-LIS trust anchors and the CRL file the RA reads.
    let mut given = Vec::new();
    for path in &options.trust_anchors {
        given.push(read_certificate(path)?);
    }
    let anchors = shuin_jpki::installed_anchors(given).context("shipped J-LIS anchor")?;
    let crl_path = if options.jpki_crl.is_absolute() {
        options.jpki_crl.clone()
    } else {
        std::env::current_dir()
            .context("current directory")?
            .join(&options.jpki_crl)
    };
    let trust = shuin_ra::trust_setup::install(dir, anchors, &crl_path, options.development)
        .map_err(|e| msg(e.to_string()))?;
    for warning in &trust.warnings {
        eprintln!("warning: {warning}");
    }

    let store = crate::runtime::create_store(&options.store, dir).await?;
    let now = clock.now();
    let admin = init_records::init_actor();
    let append = |draft: EntryDraft| {
        let store = &store;
        async move { store.append(draft, now).await.context("ledger") }
    };
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
    let label = |role: &str| crate::key_backend::key_label(&options.key_backend, role);
    let place = KeyPlace {
        keys: opened.keys.as_ref(),
        attributes: opened.attributes.as_deref(),
        label: &label,
    };
    let base = options.public_url.trim_end_matches('/');
    let plan = BootstrapPlan {
        ca_name: &options.ca_name,
        base_url: base,
        policy_oid,
        root_key: options.root_key,
        issuing_key: options.issuing_key,
        root_crl_lifetime: RevocationSection::default().root_crl_lifetime(),
        operators: OperatorCaPlan {
            first_admin_csr: first_admin_csr.as_deref(),
            custodian_csrs: &custodian_csrs,
            extra_admin_roles: if options.development {
                shuin_ca::bootstrap::DEVELOPMENT_ADMIN_ROLES
            } else {
                &[]
            },
        },
    };
    let made = match &first {
        None => shuin_ca::bootstrap::bootstrap(
            std::sync::Arc::new(store.clone()),
            &place,
            &plan,
            &admin,
            clock,
            rng,
        )
        .await
        .map_err(|e| msg(e.to_string()))?,
        Some(first) => {
            let operators =
                shuin_ca::bootstrap::operator_side(&store, &place, &plan, &admin, clock, rng)
                    .await
                    .map_err(|e| msg(e.to_string()))?;
            let issuer =
                run_first_ceremony(options, &store, &opened, first, &approvals, clock).await?;
            first_instance::bootstrapped(operators, issuer)
        }
    };
    for enrolled in &made.enrolled {
        eprintln!(
            "enrolled {:?} as {} (operator certificate valid for one year)",
            enrolled.name, enrolled.role
        );
    }
    for (path, der) in [
        ("ca/root.pem", &made.root_der),
        ("ca/issuing.pem", &made.issuing_der),
        ("ca/operator-ca.pem", &made.operator_ca_der),
    ] {
        std::fs::write(dir.join(path), pem("CERTIFICATE", der)?).context(path)?;
    }
    std::fs::write(dir.join("terms.txt"), DEFAULT_TERMS).context("terms.txt")?;
    std::fs::write(dir.join("cps.md"), DEFAULT_CPS).context("cps.md")?;

    let seal = match (&options.custodians, &custodian_pin) {
        (Some(custodians), Some(pin)) => {
            Some(crate::seal_init::make_shares(custodians, pin, rng, &append, &admin).await?)
        }
        _ => None,
    };
    let mut key_backend = options.key_backend.clone();
    if seal.is_some() {
        // The PIN comes from the custodians' shares; the PIN file may now be destroyed.
        if let KeyBackendConfig::Pkcs11 { pin_file, .. } = &mut key_backend {
            *pin_file = None;
        }
    }
    let config = InstanceConfig {
        instance: InstanceSection {
            public_url: base.to_owned(),
            development: options.development,
            cps: PathBuf::from("cps.md"),
        },
        ca: CaSection {
            key_backend,
            root_key: made.root_key.to_string(),
            issuing_key: made.issuing_key.to_string(),
            root_certificate: PathBuf::from("ca/root.pem"),
            issuing_certificate: PathBuf::from("ca/issuing.pem"),
            policy_oid: options.policy_oid.clone(),
            subscriber_validity_days: 1825,
            seal,
            operator_ca_key: Some(made.operator_ca_key.to_string()),
            operator_ca_certificate: Some(PathBuf::from("ca/operator-ca.pem")),
        },
        ra: RaSection {
            responsible_person: options.responsible_person.clone(),
            automatic_approval: true,
            nonce_ttl_seconds: 600,
            terms: PathBuf::from("terms.txt"),
        },
        jpki: JpkiSection {
            trust_anchors: trust.anchor_files,
            crl: crl_path,
            allow_test_cards: options.allow_test_cards,
            on_jpki_revocation: Default::default(),
        },
        server: ServerSection {
            listen: options.listen.clone(),
            ..ServerSection::default()
        },
        revocation: RevocationSection::default(),
        ledger: crate::config::LedgerSection::default(),
        retention: crate::retention_cmd::RetentionSection::default(),
        facility: crate::facility::FacilitySection::default(),
        publishers: Vec::new(),
        store: options.store.clone(),
    };
    config.write_new(dir)?;
    store
        .set_setting("instance.created_at", &shuin_core::timefmt::rfc3339(now))
        .await
        .context("settings")?;
    store.close().await;
    Ok(config)
}
