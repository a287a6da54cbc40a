//! The parts of a running CA that need the issuer keys' backend, opened at start (or at
//! unseal on a sealed instance): the CA service with interrupted issuances reconciled,
//! the OCSP responder with the statuses loaded and every response pre-signed, the
//! checkpoint maker with the audit key, the operator CA and the root key. The caller
//! reads the certificate files and opens the backend; nothing here reads the instance
//! directory but the last signed head kept in it (`shuin_ledger::head_file`).

use crate::checkpoint::{CheckpointMaker, MissingHead, SignedHeads};
use crate::config::{CaSection, LedgerSection, RevocationSection};
use crate::issuance::{CaService, CaSettings, CaStore, IssuerChain};
use crate::key_facts::{self, KeyRole};
use crate::ocsp::{OcspService, OcspSettings};
use crate::ocsp_responder::{open_responder, ResponderSettings};
use crate::operator_ca::OperatorCa;
use crate::seal::OpenedCa;
use shuin_core::{Clock, RandomSource};
use shuin_keys::config::OpenedBackend;
use shuin_keys::{KeyRef, Signer};
use shuin_store::{CheckpointWriter, LedgerStore, SettingsStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What needs the issuer keys' backend: usable only when unsealed.
pub struct CaParts<S: ?Sized> {
    pub ca: Arc<CaService>,
    pub ocsp: Arc<OcspService>,
    /// Signs ledger checkpoints (the audit key lives in the same backend).
    pub checkpoints: Arc<CheckpointMaker<S>>,
    /// Certifies operators' keys (absent on instances made before operator identity).
    pub operator_ca: Option<Arc<OperatorCa>>,
    /// The root key, for the root's CRL on the local console.
    pub root: Arc<dyn Signer>,
    /// The opened key backend, for key ceremonies run by the console.
    pub backend: Arc<OpenedBackend>,
}

impl<S: ?Sized + Send + Sync + 'static> OpenedCa for CaParts<S> {
    fn ca(&self) -> &CaService {
        &self.ca
    }

    fn ocsp(&self) -> &Arc<OcspService> {
        &self.ocsp
    }
}

/// The instance's CA certificates (DER), as `[ca]` names them ([`CaFiles::read`]).
#[derive(Debug, Clone)]
pub struct CaFiles {
    pub root_der: Vec<u8>,
    pub issuing_der: Vec<u8>,
    /// Absent on instances made before operator identity.
    pub operator_ca_der: Option<Vec<u8>>,
}

/// A CA certificate file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct CaFileError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// Reads a certificate file, PEM or DER.
pub fn read_pem_or_der(path: &Path) -> Result<Vec<u8>, CaFileError> {
    let bytes = std::fs::read(path).map_err(|source| CaFileError {
        path: path.to_owned(),
        source,
    })?;
    Ok(match der::pem::decode_vec(&bytes) {
        Ok((_, der)) => der,
        Err(_) => bytes,
    })
}

impl CaFiles {
    /// Reads the certificates `ca` names, relative to the instance directory `dir`.
    pub fn read(ca: &CaSection, dir: &Path) -> Result<CaFiles, CaFileError> {
        Ok(CaFiles {
            root_der: read_pem_or_der(&dir.join(&ca.root_certificate))?,
            issuing_der: read_pem_or_der(&dir.join(&ca.issuing_certificate))?,
            operator_ca_der: ca
                .operator_ca_certificate
                .as_ref()
                .map(|path| read_pem_or_der(&dir.join(path)))
                .transpose()?,
        })
    }
}

/// The configuration the parts are opened with.
#[derive(Debug, Clone, Copy)]
pub struct PartsConfig<'a> {
    pub ca: &'a CaSection,
    pub revocation: &'a RevocationSection,
    pub ledger: &'a LedgerSection,
    pub public_url: &'a str,
    /// The instance directory, where the last signed head is kept.
    pub dir: &'a Path,
    /// A development instance (`serve --dev`): the audit key need not be pinned.
    pub development: bool,
}

/// Why the parts could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {detail}")]
pub struct OpenPartsError {
    /// What was being opened.
    pub what: &'static str,
    /// Why.
    pub detail: String,
    /// The reason code of the failure, where the part that failed gives one.
    pub code: Option<&'static str>,
}

impl OpenPartsError {
    /// The stable reason code (snake_case) of this failure.
    pub fn code(&self) -> &'static str {
        self.code.unwrap_or("ca_parts_unavailable")
    }
}

fn failed(what: &'static str) -> impl Fn(&dyn std::fmt::Display) -> OpenPartsError {
    move |e| OpenPartsError {
        what,
        detail: e.to_string(),
        code: None,
    }
}

/// OCSP answers signed at a time while the parts are opened.
const PRESIGN_STEP: usize = 5_000;

/// Opens the parts on `backend`. Interrupted issuances and revocations old enough to be
/// no live process's are reconciled before anything else is served (logged when any
/// was found; `shuin_ca::reconcile`).
pub async fn open_parts<S>(
    config: PartsConfig<'_>,
    files: CaFiles,
    store: Arc<S>,
    backend: OpenedBackend,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn RandomSource>,
) -> Result<CaParts<S>, OpenPartsError>
where
    S: CaStore + SettingsStore + LedgerStore + CheckpointWriter + 'static,
{
    let backend = Arc::new(backend);
    let signer_of = |uri: &str, what: &'static str| -> Result<Arc<dyn Signer>, OpenPartsError> {
        let key = KeyRef::parse(uri).map_err(|e| failed(what)(&e))?;
        backend.keys.signer(&key).map_err(|e| failed(what)(&e))
    };
    let issuing_facts = admit_issuing_key(&backend, config.ca).await?;
    let chain = IssuerChain {
        issuing_der: files.issuing_der,
        root_der: files.root_der,
    };
    let profile = config
        .ca
        .subscriber_profile(config.public_url, config.revocation)
        .map_err(|e| failed("the subscriber profile")(&e))?;
    let layout = config.revocation.crl_layout(config.public_url);
    let ca_store: Arc<dyn CaStore> = store.clone();
    let ca = CaService::new(
        signer_of(&config.ca.issuing_key, "the issuing key")?,
        chain.clone(),
        profile,
        ca_store,
        clock.clone(),
        rng,
        CaSettings {
            crl_lifetime: config.revocation.crl_lifetime(),
            crl_layout: layout,
        },
    )
    .map_err(|e| failed("CA")(&e))?;
    let reconciled = ca
        .reconcile()
        .await
        .map_err(|e| failed("reconciling interrupted issuances")(&e))?;
    if reconciled.changed() {
        tracing::warn!(
            ?reconciled,
            "reconciled interrupted issuances and revocations"
        );
    }
    let ca = Arc::new(ca);
    let ocsp = Arc::new(
        open_responder(
            store.clone(),
            backend.keys.as_ref(),
            &ca,
            &chain.issuing_der,
            clock.clone(),
            ResponderSettings {
                ocsp: OcspSettings {
                    response_lifetime: config.revocation.ocsp_lifetime(),
                    held_answers: config.revocation.ocsp_answers_in_memory,
                },
                validity: config.revocation.ocsp_responder_validity(),
            },
        )
        .await
        .map_err(|e| failed("the OCSP responder")(&e))?,
    );
    let checkpoints =
        Arc::new(open_checkpoints(&config, store.clone(), &backend, clock.clone()).await?);
    let root = signer_of(&config.ca.root_key, "the root key")?;
    let operator_ca = match (&config.ca.operator_ca_key, files.operator_ca_der) {
        (Some(key), Some(der)) => {
            let signer = signer_of(key, "the operator CA key")?;
            let operator_ca =
                OperatorCa::new(signer, der).map_err(|e| failed("the operator CA")(&e))?;
            Some(Arc::new(operator_ca))
        }
        _ => {
            tracing::warn!("this instance has no operator CA (made before operator identity): operators cannot be enrolled");
            None
        }
    };
    record_key_facts(
        &backend,
        config.ca,
        issuing_facts,
        store.as_ref(),
        clock.now(),
    )
    .await?;
    ocsp.load(store.as_ref())
        .await
        .map_err(|e| failed("loading certificate statuses")(&e))?;
    // What has no answer for its status in the store (left unsigned by a process
    // that stopped, or revoked elsewhere) is signed before anything is served, in steps.
    let mut signed = 0;
    loop {
        let step = ocsp.upkeep(PRESIGN_STEP).await;
        signed += step;
        if step < PRESIGN_STEP {
            break;
        }
    }
    tracing::info!(signed, "pre-signed OCSP responses");
    Ok(CaParts {
        ca,
        ocsp,
        checkpoints,
        operator_ca,
        root,
        backend,
    })
}

/// Refuses a KMS issuing key that fails the KMS form of the issuer key policy, before
/// anything is signed (a PKCS#11 key's attributes were checked when the backend was
/// opened for issuing). Returns the issuing key's description, recorded later with the
/// others.
async fn admit_issuing_key(
    backend: &Arc<OpenedBackend>,
    ca: &CaSection,
) -> Result<Vec<key_facts::KeyDescription>, OpenPartsError> {
    let described = describe(backend, vec![(KeyRole::Issuing, ca.issuing_key.clone())]).await?;
    key_facts::admit_kms_issuing_key(&described).map_err(|e| failed("the issuing key")(&e))?;
    Ok(described)
}

/// Describes `keys` off the async threads (it asks the token or KMS).
async fn describe(
    backend: &Arc<OpenedBackend>,
    keys: Vec<(KeyRole, String)>,
) -> Result<Vec<key_facts::KeyDescription>, OpenPartsError> {
    let opened = backend.clone();
    tokio::task::spawn_blocking(move || key_facts::describe(&opened, &keys))
        .await
        .map_err(|e| failed("reading the keys' facts")(&e))
}

/// Records every key the CA now uses (`key.facts`, facility book): the issuing key as
/// admission described it, the others read now.
async fn record_key_facts<S: SettingsStore + LedgerStore + ?Sized>(
    backend: &Arc<OpenedBackend>,
    ca: &CaSection,
    issuing: Vec<key_facts::KeyDescription>,
    store: &S,
    now: std::time::SystemTime,
) -> Result<(), OpenPartsError> {
    let others: Vec<_> = key_facts::key_uris(ca, store)
        .await
        .map_err(|e| failed("reading the key settings")(&e))?
        .into_iter()
        .filter(|(role, _)| *role != KeyRole::Issuing)
        .collect();
    let mut described = describe(backend, others).await?;
    let at = described
        .iter()
        .take_while(|d| d.role == KeyRole::Root)
        .count();
    described.splice(at..at, issuing);
    for d in described.iter().filter(|d| d.error.is_some()) {
        tracing::warn!(key = %d.uri, error = ?d.error, "a key's facts could not be read");
    }
    let kind = backend.keys.info().kind;
    key_facts::record(store, &kind, &described, "opened", now)
        .await
        .map_err(|e| failed("recording the keys' facts")(&e))
}

/// The checkpoint maker: the audit key named in the settings, or a new one (labelled
/// `audit-<unix seconds>` in the backend's naming), recorded in the facility book;
/// checked against the pin and the last signed head (docs/ledger.md).
pub async fn open_checkpoints<S>(
    config: &PartsConfig<'_>,
    store: Arc<S>,
    backend: &OpenedBackend,
    clock: Arc<dyn Clock>,
) -> Result<CheckpointMaker<S>, OpenPartsError>
where
    S: SettingsStore + LedgerStore + CheckpointWriter + 'static,
{
    let missing_head = if config.development {
        MissingHead::Development
    } else {
        MissingHead::AdoptStored
    };
    open_maker(config, store, backend, clock, missing_head).await
}

async fn open_maker<S>(
    config: &PartsConfig<'_>,
    store: Arc<S>,
    backend: &OpenedBackend,
    clock: Arc<dyn Clock>,
    missing_head: MissingHead,
) -> Result<CheckpointMaker<S>, OpenPartsError>
where
    S: SettingsStore + LedgerStore + CheckpointWriter + 'static,
{
    config.ledger.check().map_err(|e| failed("[ledger]")(&e))?;
    let label = format!("audit-{}", shuin_core::clock::unix_seconds(clock.now()));
    let label = config.ca.key_backend.key_label(&label);
    let settings = config
        .ledger
        .checkpoint_settings(config.public_url, label, missing_head);
    let heads: Arc<dyn SignedHeads> =
        Arc::new(shuin_ledger::head_file::HeadFile::in_dir(config.dir));
    CheckpointMaker::open(settings, store, backend.keys.as_ref(), heads, clock)
        .await
        .map_err(|e| OpenPartsError {
            what: "the audit key",
            detail: e.to_string(),
            code: Some(e.code()),
        })
}

/// At `shuin init`: makes the audit key, signs the first checkpoint (kept as the last
/// signed head) and returns the key's fingerprint, to be pinned in `shuin.toml`.
pub async fn first_checkpoint<S>(
    config: &PartsConfig<'_>,
    store: Arc<S>,
    backend: &OpenedBackend,
    clock: Arc<dyn Clock>,
) -> Result<String, OpenPartsError>
where
    S: SettingsStore + LedgerStore + CheckpointWriter + 'static,
{
    let maker = open_maker(config, store, backend, clock, MissingHead::First).await?;
    maker
        .checkpoint_now()
        .await
        .map_err(|e| failed("the first ledger checkpoint")(&e))?;
    Ok(maker.pin().hex())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn certificate_files_are_read_as_pem_or_der() {
        let dir = tempfile::tempdir().unwrap();
        let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &[1, 2, 3]);
        std::fs::write(dir.path().join("a.pem"), pem.unwrap()).unwrap();
        std::fs::write(dir.path().join("b.der"), [4, 5]).unwrap();
        assert_eq!(
            read_pem_or_der(&dir.path().join("a.pem")).unwrap(),
            [1, 2, 3]
        );
        assert_eq!(read_pem_or_der(&dir.path().join("b.der")).unwrap(), [4, 5]);
        let missing = dir.path().join("c.pem");
        let error = read_pem_or_der(&missing).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{}: ", missing.display())),
            "{error}"
        );
    }
}
