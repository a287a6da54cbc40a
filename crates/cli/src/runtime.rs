//! Opening an instance: the composition root picks the concrete store and key backend
//! and wires the CA, the OCSP responder, the RA and the repository.

use crate::config::InstanceConfig;
use crate::failure::{msg, Context, Result};
use shuin_ca::crl_upkeep::CrlSlot;
use shuin_ca::parts::CaFiles;
use shuin_ca::CaService;
use shuin_core::{Clock, OsRandom, RandomSource, SystemClock};
use shuin_ra::RaService;
use shuin_repo::Repository;
use shuin_server::AppState;
use shuin_store::{CrlRecord, CrlStore, StoreSection};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A running instance's parts.
pub(crate) struct Instance {
    /// The instance directory.
    pub(crate) dir: std::path::PathBuf,
    pub(crate) config: InstanceConfig,
    pub(crate) store: Arc<Store>,
    pub(crate) state: AppState,
    /// The CA, the OCSP responder and the checkpoint signer, once unsealed (at once for
    /// an instance without custodians; see `seal.rs`).
    pub(crate) seal: Arc<crate::seal::Seal>,
    /// The outside repositories (`[[publishers]]`), fed by `watch::run`.
    pub(crate) publishers: Vec<Arc<dyn shuin_repo::publish::Publisher>>,
    /// The gate of signed operator requests (`None` without an operator CA).
    pub(crate) gate: Option<Arc<shuin_books::Gate>>,
    /// Where the holders' notices go (`[notices]`: SMTP, else `DIR/notices.jsonl`).
    pub(crate) notices: Arc<dyn shuin_ra::NoticeSender>,
}

/// The store every command uses: SQLite or PostgreSQL, as `[store] url` says.
pub(crate) type Store = shuin_store::AnyStore;

/// Only `[store]` of `DIR/shuin.toml`, for the commands that open the database without
/// the rest of the configuration.
#[derive(serde::Deserialize)]
struct StoreOnly {
    #[serde(default)]
    store: StoreSection,
}

/// Opens the database of an instance (`[store]` in `DIR/shuin.toml`; `DIR/shuin.db` when
/// there is no such file).
pub(crate) async fn open_store(dir: &Path) -> Result<Store> {
    let path = dir.join(crate::config::CONFIG_FILE);
    let section = match std::fs::read_to_string(&path) {
        Ok(text) => {
            toml::from_str::<StoreOnly>(&text)
                .map_err(|e| msg(format!("{}: {e}", path.display())))?
                .store
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => StoreSection::default(),
        Err(e) => return Err(msg(format!("{}: {e}", path.display()))),
    };
    Ok(Store::open_existing(&section, dir).await?)
}

/// Before `shuin init` makes anything: a PostgreSQL database must be reachable and hold
/// no books yet (a SQLite file is made with the instance directory).
pub(crate) async fn check_new_store(section: &StoreSection, dir: &Path) -> Result<()> {
    if section.is_postgres() {
        Store::create_new(section, dir).await?.close().await;
    }
    Ok(())
}

/// `[store]` from `shuin init`'s options; a password file is kept by absolute path.
pub(crate) fn store_section(url: &str, password_file: &Option<PathBuf>) -> Result<StoreSection> {
    let password_file = password_file
        .as_ref()
        .map(|file| std::path::absolute(file).context(file.display()))
        .transpose()?;
    let url = url.to_owned();
    let section = StoreSection { url, password_file };
    section.check()?;
    Ok(section)
}

/// The key backend named by the configuration, with the issuing key's attributes
/// checked against the issuer key policy (see `key_backend.rs`).
pub(crate) fn open_key_backend(
    config: &InstanceConfig,
    dir: &Path,
) -> Result<crate::key_backend::OpenedBackend> {
    crate::key_backend::open_for_issuing(&config.ca.key_backend, dir, &config.ca.issuing_key)
}

/// Hands a CRL to the repository.
fn publish_to(repository: &Repository) -> impl Fn(CrlSlot<'_>, CrlRecord) + Sync + '_ {
    move |slot, crl| {
        match slot {
            CrlSlot::IssuingFull => repository.publish_ca_crl(crl.into()),
            CrlSlot::IssuingOther(scope) => repository.publish_other_crl(scope, crl.into()),
            CrlSlot::Root => repository.publish_root_crl(crl.into()),
        };
    }
}

/// Loads the newest CRLs into the repository; issues any CRL of the issuing CA that is
/// missing or past half its lifetime (`shuin_ca::crl_upkeep`).
pub(crate) async fn refresh_crls(
    ca: &CaService,
    store: &Store,
    repository: &Repository,
) -> Result<()> {
    Ok(shuin_ca::crl_upkeep::refresh(ca, store, &publish_to(repository)).await?)
}

/// The parts that need the issuer key's backend (`shuin_ca::parts`), with the CA
/// certificates read from `dir`: the CA, the OCSP responder with its responses
/// pre-signed, the checkpoint maker, the operator CA and the root key.
pub(crate) async fn open_ca_parts(
    dir: &Path,
    config: &InstanceConfig,
    store: Arc<Store>,
    backend: crate::key_backend::OpenedBackend,
) -> Result<crate::seal::CaParts> {
    let files = CaFiles::read(&config.ca, dir)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let rng: Arc<dyn RandomSource> = Arc::new(OsRandom);
    let parts = parts_config(config, dir);
    Ok(shuin_ca::parts::open_parts(parts, files, store, backend, clock, rng).await?)
}

/// The configuration `shuin_ca::parts` opens with, for the instance in `dir`.
pub(crate) fn parts_config<'a>(
    config: &'a InstanceConfig,
    dir: &'a Path,
) -> shuin_ca::parts::PartsConfig<'a> {
    shuin_ca::parts::PartsConfig {
        ca: &config.ca,
        revocation: &config.revocation,
        ledger: &config.ledger,
        public_url: &config.instance.public_url,
        dir,
        development: config.instance.development,
    }
}

/// Opens everything under `dir`. An instance with custodians (`[ca.seal]`) opens sealed:
/// without its key backend until `shuin unseal` (see `seal.rs`).
pub(crate) async fn open(dir: &Path) -> Result<Instance> {
    let config = InstanceConfig::load(dir)?;
    let store = Arc::new(Store::open_existing(&config.store, dir).await?);
    tracing::info!(backend = store.backend(), "store opened");
    let seal = match &config.ca.seal {
        Some(custodians) => {
            tracing::warn!(
                threshold = custodians.threshold,
                custodians = custodians.custodians,
                "the CA is sealed: applications answer ca_sealed until `shuin unseal` has been given enough shares"
            );
            crate::seal::Seal::sealed(custodians.clone())
        }
        None => {
            let backend = open_key_backend(&config, dir)?;
            crate::seal::Seal::unsealed(open_ca_parts(dir, &config, store.clone(), backend).await?)
        }
    };
    let chain = CaFiles::read(&config.ca, dir)?;

    let repository = repository_of(dir, &config, &chain)?;
    match seal.parts() {
        Some(parts) => refresh_crls(&parts.ca, &store, &repository).await?,
        None => {
            shuin_ca::crl_upkeep::publish_stored(
                &config.revocation.crl_layout(&config.instance.public_url),
                store.as_ref(),
                &publish_to(&repository),
            )
            .await?
        }
    }
    let publishers = shuin_repo::publish::build(&config.publishers, dir)?;
    let gate = chain.operator_ca_der.clone().map(|der| {
        Arc::new(shuin_books::Gate::new(
            der,
            shuin_books::organisation::RefusalBudget::default(),
        ))
    });
    if let Some(crl) = store
        .latest_crl(shuin_ca::operator_ca::OPERATOR_CRL_SCOPE)
        .await
        .context("operator CRL")?
    {
        repository.publish_other_crl(shuin_ca::operator_ca::OPERATOR_CRL_SCOPE, crl.into());
    }
    let ports = shuin_ra::CaPorts {
        issuer: Arc::new(shuin_ca::seal::SealedIssuer(seal.clone())),
        revoker: Arc::new(shuin_ca::seal::SealedRevoker(seal.clone())),
    };
    let ocsp = Arc::new(shuin_ca::seal::SealedOcsp(seal.clone()));
    let mut state = app_state(dir, &config, &store, &chain, repository, ports, ocsp)?;
    state.signing_pools = Arc::new(crate::seal::SealedSigningPools(seal.clone()));
    let notices = crate::registration_cmd::notice_sender(dir, &config)?;
    Ok(Instance {
        dir: dir.to_path_buf(),
        config,
        store,
        state,
        seal,
        publishers,
        gate,
        notices,
    })
}

/// The repository's content of the instance at `dir`: the CA certificates, the terms and
/// the CP/CPS.
pub(crate) fn repository_of(
    dir: &Path,
    config: &InstanceConfig,
    chain: &CaFiles,
) -> Result<Arc<Repository>> {
    let terms = config.ra.read_terms(dir)?;
    let repository = Repository::new(chain.root_der.clone(), chain.issuing_der.clone(), terms)
        .with_public_url(&config.instance.public_url);
    Ok(Arc::new(
        repository.with_cps_file(&dir.join(&config.instance.cps)),
    ))
}

/// The routers' state: the RA reaching the CA through `ports`, the repository, `ocsp`, and
/// the books of `store`.
pub(crate) fn app_state(
    dir: &Path,
    config: &InstanceConfig,
    store: &Arc<Store>,
    chain: &CaFiles,
    repository: Arc<Repository>,
    ports: shuin_ra::CaPorts,
    ocsp: Arc<dyn shuin_core::ocsp::OcspResponder>,
) -> Result<AppState> {
    let (verifier, crl_source) = config.jpki.open(dir)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let service = config.ra.service_config(
        &config.instance.public_url,
        repository.terms_sha256(),
        vec![chain.issuing_der.clone(), chain.root_der.clone()],
    );
    let lifecycle = crate::registration_cmd::lifecycle(dir, config, store.clone())?;
    let ra = RaService::new(
        verifier,
        crl_source,
        store.clone(),
        ports,
        clock.clone(),
        Arc::new(OsRandom),
        service,
    )
    .with_lifecycle(lifecycle);
    let access_events =
        shuin_server::AccessEvents::new(store.clone(), store.clone(), config.facility.policy());
    Ok(AppState {
        ra: Arc::new(ra),
        repository,
        ocsp,
        clock,
        ledger: store.clone(),
        tiles: Arc::new(shuin_repo::tiles::LedgerTiles::new(store.clone())),
        access_events: Arc::new(access_events),
        http: Default::default(),
        signing_pools: Arc::new(shuin_core::signing_pool::NoSigningPools),
        orders: None,
    })
}
