//! `shuin init`: a production-style instance — a root and an issuing CA in the key
//! backend, the JPKI trust anchors, the terms, the database and `shuin.toml`.
//! Every key operation is ledgered in the facility book before it happens.

use crate::config::{
    CaSection, InstanceConfig, InstanceSection, JpkiSection, KeyBackendConfig, RaSection,
    RevocationSection, ServerSection,
};
use crate::failure::{msg, Context, Result};
use crate::runtime::Store;
use shuin_books::init_records;
use shuin_ca::bootstrap::{BootstrapPlan, InstanceCreated, KeyPlace, OperatorCaPlan};
use shuin_ca::ceremony::console::InstanceBackend;
use shuin_ca::ceremony::{self, first_instance};
use shuin_ca::operator_ca::read_csr_file;
use shuin_core::{Clock, RandomSource};
use shuin_keys::KeySpec;
use shuin_store::SettingsStore;
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
    pub(crate) custodians: Option<shuin_ca::seal::Custodians>,
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

/// The custodians' CSRs, each with the file it came from.
fn custodian_csrs(options: &InitOptions) -> Result<Vec<(String, Vec<u8>)>> {
    let read = |path: &PathBuf| Ok((path.display().to_string(), read_csr_file(path)?));
    options.custodian_csrs.iter().map(read).collect()
}

/// The first key ceremony of `options`, planned and its approvals checked
/// (`first_instance::prepare`): the custodians are the `--custodian-csr` operators,
/// pinned by their operator keys.
fn first_ceremony(
    options: &InitOptions,
    csrs: &[(String, Vec<u8>)],
) -> Result<Option<first_instance::Prepared>> {
    let facts = first_instance::new_instance_facts(
        &options.public_url,
        &options.policy_oid,
        &options.key_backend,
    );
    let first = options.first_ceremony.as_ref();
    let files = first.map(|f| (f.file.as_path(), f.approvals.as_slice()));
    let software = matches!(options.key_backend, KeyBackendConfig::Software { .. });
    Ok(first_instance::prepare(files, facts, csrs, software)?)
}

/// `init --statement-out FILE`: writes the first ceremony's statement for the custodians
/// and makes nothing else.
pub(crate) fn write_statement(options: &InitOptions, out: &Path) -> Result<()> {
    let file = options.first_ceremony.as_ref();
    let file = file.ok_or_else(|| msg("--statement-out needs --first-ceremony"))?;
    let facts = first_instance::new_instance_facts(
        &options.public_url,
        &options.policy_oid,
        &options.key_backend,
    );
    let plan = first_instance::plan(&file.file, facts, &custodian_csrs(options)?)?;
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

/// What `init` tells the operator about the instance it made.
pub(crate) fn created(options: &InitOptions, config: &InstanceConfig) -> InstanceCreated {
    let sealed = (config.ca.seal.as_ref().zip(options.custodians.as_ref()))
        .map(|(seal, out)| (out.shares_out.clone(), seal.custodians, seal.threshold));
    InstanceCreated {
        dir: options.data.clone(),
        root_certificate: config.ca.root_certificate.clone(),
        issuing_certificate: config.ca.issuing_certificate.clone(),
        config_file: PathBuf::from(crate::config::CONFIG_FILE),
        sealed,
    }
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
    let first_admin_csr = options.first_admin_csr.as_deref().map(read_csr_file);
    let first_admin_csr = first_admin_csr.transpose()?;
    let csrs = custodian_csrs(options)?;
    let custodian_csrs: Vec<Vec<u8>> = csrs.iter().map(|(_, der)| der.clone()).collect();
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
        Some(custodians) => Some(custodians.check(&options.key_backend, dir)?),
        None => None,
    };
    // Open the key backend first: a bad PIN file or token stops init before it writes.
    let opened = crate::key_backend::open(&options.key_backend, dir)?;
    // The first key ceremony and its approvals are checked before anything is made.
    let first = first_ceremony(options, &csrs)?;
    crate::runtime::check_new_store(&options.store, dir).await?;
    for sub in ["", "keys", "ca", "jpki/anchors"] {
        std::fs::create_dir_all(dir.join(sub)).context(dir.join(sub).display())?;
    }
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .context(dir.display())?;
    }

    // J-LIS trust anchors and the CRL file the RA reads.
    let anchors = shuin_ra::trust_setup::read_anchors(&options.trust_anchors)?;
    let crl_path = if options.jpki_crl.is_absolute() {
        options.jpki_crl.clone()
    } else {
        std::env::current_dir()
            .context("current directory")?
            .join(&options.jpki_crl)
    };
    let trust = shuin_ra::trust_setup::install(dir, anchors, &crl_path, options.development)?;
    for warning in &trust.warnings {
        eprintln!("warning: {warning}");
    }

    let store = Store::create_new(&options.store, dir).await?;
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
    let label = |role: &str| options.key_backend.key_label(role);
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
    let instance = first_instance::NewInstance {
        dir: &options.data,
        store: std::sync::Arc::new(store.clone()),
        backend: InstanceBackend {
            opened: &opened,
            config: &options.key_backend,
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
    if let Some(outcome) = ceremony {
        eprintln!(
            "first key ceremony {} completed: record {} (sha256 {})",
            outcome.ceremony_id,
            outcome.record.display(),
            outcome.record_sha256
        );
    }
    for enrolled in &made.enrolled {
        eprintln!(
            "enrolled {:?} as {} (operator certificate valid for one year)",
            enrolled.name, enrolled.role
        );
    }
    made.write_certificates(dir)?;
    std::fs::write(dir.join("terms.txt"), DEFAULT_TERMS).context("terms.txt")?;
    std::fs::write(dir.join("cps.md"), DEFAULT_CPS).context("cps.md")?;

    let seal = match (&options.custodians, &custodian_pin) {
        (Some(custodians), Some(pin)) => {
            Some(custodians.split(pin, rng, &store, (&admin, now)).await?)
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
    let mut config = InstanceConfig {
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
        store: options.store.clone(),
        revocation: RevocationSection::default(),
        ledger: crate::config::LedgerSection::default(),
        retention: crate::retention_cmd::RetentionSection::default(),
        facility: crate::facility::FacilitySection::default(),
        publishers: Vec::new(),
    };
    // The audit key is made and the first checkpoint signed (kept as the last signed
    // head); its fingerprint is pinned in shuin.toml.
    let parts = crate::runtime::parts_config(&config, dir);
    let store_arc = std::sync::Arc::new(store.clone());
    let clock_arc: std::sync::Arc<dyn Clock> = std::sync::Arc::new(shuin_core::SystemClock);
    let pin = shuin_ca::parts::first_checkpoint(&parts, store_arc, &opened, clock_arc).await;
    config.ledger.audit_key_sha256 = Some(pin.map_err(|e| msg(e.to_string()))?);
    config.write_new(dir)?;
    store
        .set_setting("instance.created_at", &shuin_core::timefmt::rfc3339(now))
        .await
        .context("settings")?;
    store.close().await;
    Ok(config)
}
