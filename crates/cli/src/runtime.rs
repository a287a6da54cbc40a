//! Opening an instance: the composition root picks the concrete store and key backend
//! and wires the CA, the RA and the repository.

use crate::config::{InstanceConfig, KeyBackendConfig};
use crate::failure::{msg, Context, Result};
use shuin_ca::{CaService, IssuerChain};
use shuin_core::issuance::SubscriberProfile;
use shuin_core::{Clock, OsRandom, RandomSource, SystemClock};
use shuin_keys::{KeyBackend, KeyRef, SoftwareBackend};
use shuin_ra::{FileCrlSource, RaConfig, RaService};
use shuin_repo::Repository;
use shuin_server::AppState;
use shuin_store::sqlite::SqliteStore;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A running instance's parts.
pub(crate) struct Instance {
    pub(crate) config: InstanceConfig,
    pub(crate) store: Arc<SqliteStore>,
    pub(crate) state: AppState,
}

fn read_pem_or_der(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).context(path.display())?;
    Ok(match der::pem::decode_vec(&bytes) {
        Ok((_, der)) => der,
        Err(_) => bytes,
    })
}

/// Opens the SQLite database of an instance.
pub(crate) async fn open_store(dir: &Path) -> Result<SqliteStore> {
    let path = dir.join("shuin.db");
    if !path.exists() {
        return Err(msg(format!(
            "{} does not exist; is {} an instance?",
            path.display(),
            dir.display()
        )));
    }
    SqliteStore::open(&path).await.context(path.display())
}

/// Opens everything under `dir`.
pub(crate) async fn open(dir: &Path) -> Result<Instance> {
    let config = InstanceConfig::load(dir)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let rng: Arc<dyn RandomSource> = Arc::new(OsRandom);
    let store = Arc::new(open_store(dir).await?);

    let backend: Box<dyn KeyBackend> = match &config.ca.key_backend {
        KeyBackendConfig::Software { dir: keys } => {
            tracing::warn!("the issuer key is a software key: development and tests only");
            Box::new(SoftwareBackend::new(dir.join(keys)))
        }
    };
    let issuing_key = KeyRef::parse(&config.ca.issuing_key).context("ca.issuing_key")?;
    let signer = backend.signer(&issuing_key).context("issuing key")?;
    let chain = IssuerChain {
        issuing_der: read_pem_or_der(&dir.join(&config.ca.issuing_certificate))?,
        root_der: read_pem_or_der(&dir.join(&config.ca.root_certificate))?,
    };
    let base = config.instance.public_url.trim_end_matches('/').to_owned();
    let profile = SubscriberProfile {
        policy_oid: shuin_core::signature::parse_oid(&config.ca.policy_oid)
            .ok_or_else(|| msg("ca.policy_oid is not an OID"))?,
        validity: Duration::from_secs(u64::from(config.ca.subscriber_validity_days) * 86_400),
        crl_url: format!("{base}/repository/ca.crl"),
        ocsp_url: format!("{base}/ocsp"),
        ca_issuers_url: format!("{base}/repository/ca.crt"),
    };
    let ca = CaService::new(
        signer,
        chain.clone(),
        profile,
        store.clone(),
        clock.clone(),
        rng.clone(),
    )
    .map_err(|e| msg(format!("CA: {e}")))?;
    let reconciled = ca
        .reconcile()
        .await
        .context("reconciling interrupted issuances")?;
    if !reconciled.undelivered.is_empty() || !reconciled.completed.is_empty() {
        tracing::warn!(?reconciled, "reconciled interrupted issuances");
    }

    let mut anchor_ders = Vec::new();
    for path in &config.jpki.trust_anchors {
        anchor_ders.push(read_pem_or_der(&dir.join(path))?);
    }
    let anchors = shuin_jpki::TrustAnchors::from_der_certs(anchor_ders)
        .map_err(|e| msg(format!("jpki.trust_anchors: {e}")))?;
    let crl_source = Arc::new(FileCrlSource::new(
        dir.join(&config.jpki.crl),
        anchors.clone(),
    ));
    if let Err(e) = crl_source.check() {
        tracing::warn!(error = %e, "the J-LIS CRL is not usable; applications fail closed with jpki_revocation_unavailable");
    }
    let verifier = shuin_jpki::Verifier::new(
        anchors,
        shuin_jpki::VerifierConfig {
            allow_test_cards: config.jpki.allow_test_cards,
        },
    );
    let terms = std::fs::read_to_string(dir.join(&config.ra.terms))
        .context(dir.join(&config.ra.terms).display())?;
    let repository = Arc::new(Repository::new(
        chain.root_der.clone(),
        chain.issuing_der.clone(),
        terms,
    ));
    let ra = RaService::new(
        verifier,
        crl_source,
        store.clone(),
        Arc::new(ca),
        clock,
        rng,
        RaConfig {
            nonce_ttl: Duration::from_secs(config.ra.nonce_ttl_seconds),
            terms_sha256: repository.terms_sha256().to_owned(),
            terms_url: format!("{base}/repository/terms"),
            responsible_person: config.ra.responsible_person.clone(),
            automatic_approval: config.ra.automatic_approval,
            chain_der: vec![chain.issuing_der, chain.root_der],
        },
    );
    Ok(Instance {
        config,
        store,
        state: AppState {
            ra: Arc::new(ra),
            repository,
        },
    })
}
