//! `shuin ceremony run`: checks M valid approvals over exactly the statement the ceremony
//! file yields, and only then opens the key backend, generates keys and signs CA
//! certificates, ledgering each operation in the facility book before it happens. The
//! record goes into the facility book (`ceremony.completed`) before the certificates and
//! the record file are written.

use crate::ceremony_approval::Approval;
use crate::ceremony_file::{CeremonyFile, INSTANCE_ISSUING, INSTANCE_ROOT};
use crate::ceremony_record::{CustodianKey, Record, StepResult, RECORD_FORMAT};
use crate::ceremony_statement::{sha256_hex, InstanceFacts, Statement, StatementStep};
use crate::config::{InstanceConfig, KeyBackendConfig};
use crate::failure::{msg, Context, Result};
use base64::Engine;
use der::Encode;
use shuin_core::issuance::IssuerIdentity;
use shuin_core::x509::template::assemble_certificate;
use shuin_core::Clock;
use shuin_keys::{KeyRef, KeySpec, Pkcs11Uri, Signer};
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::sqlite::SqliteStore;
use shuin_store::{LedgerStore, SettingsStore};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const CEREMONY_PREFIX: &str = "ceremony:";

/// What `run` needs.
#[derive(Debug)]
pub(crate) struct RunOptions<'a> {
    pub(crate) data: &'a Path,
    pub(crate) ceremony: &'a Path,
    pub(crate) approvals: &'a [PathBuf],
    pub(crate) operator: &'a str,
    pub(crate) record_out: Option<&'a Path>,
}

/// What a completed run produced.
#[derive(Debug, serde::Serialize)]
pub(crate) struct RunOutcome {
    pub(crate) ceremony_id: String,
    pub(crate) statement_sha256: String,
    pub(crate) record: PathBuf,
    pub(crate) record_sha256: String,
    pub(crate) certificates: Vec<PathBuf>,
    pub(crate) keys: Vec<String>,
}

/// The instance facts a statement is built from.
pub(crate) fn instance_facts(config: &InstanceConfig, dir: &Path) -> Result<InstanceFacts> {
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

/// The statement of `file` for the instance in `dir`, from its store.
pub(crate) async fn statement_for(
    store: &SqliteStore,
    config: &InstanceConfig,
    dir: &Path,
    file: &CeremonyFile,
) -> Result<(Statement, Vec<u8>)> {
    let enrolled = crate::ceremony_custodians::enrolled(store).await?;
    let pins = enrolled
        .iter()
        .map(|(name, key)| (name.clone(), key.public_key_sha256.clone()))
        .collect();
    let statement = crate::ceremony_statement::build(file, &instance_facts(config, dir)?, &pins)?;
    let bytes = crate::ceremony_statement::canonical(&statement)?;
    Ok((statement, bytes))
}

/// The URI a key labelled `label` gets in the instance's backend.
fn key_uri(config: &KeyBackendConfig, label: &str) -> KeyRef {
    let backend_label = crate::key_backend::key_label(config, label);
    match config {
        KeyBackendConfig::Software { .. } => KeyRef::software(&format!("{backend_label}.key.pem")),
        KeyBackendConfig::Pkcs11 { token, .. } => Pkcs11Uri {
            token: token.clone(),
            object: backend_label,
        }
        .to_key_ref(),
    }
}

struct Ledger<'a> {
    store: &'a SqliteStore,
    clock: &'a dyn Clock,
    actor: Actor,
    ceremony: String,
}

impl Ledger<'_> {
    async fn append(
        &self,
        kind: &str,
        subject: Option<String>,
        payload: serde_json::Value,
    ) -> Result<()> {
        let mut subjects = vec![format!("ceremony:{}", self.ceremony)];
        subjects.extend(subject);
        self.store
            .append(
                EntryDraft {
                    book: Book::Facility,
                    kind: kind.into(),
                    actor: self.actor.clone(),
                    subjects,
                    payload,
                    evidence: vec![],
                },
                self.clock.now(),
            )
            .await
            .map(|_| ())
            .context("ledger")
    }
}

/// Runs the ceremony. Refuses (ledgered as `ceremony.refused`) without M valid approvals,
/// before the key backend is opened.
pub(crate) async fn run(options: &RunOptions<'_>, clock: &dyn Clock) -> Result<RunOutcome> {
    let file = CeremonyFile::load(options.ceremony)?;
    let (store, config) = crate::operator_cmd::open_registry(options.data).await?;
    let result = run_on(&store, &config, &file, options, clock).await;
    store.close().await;
    result
}

async fn run_on(
    store: &SqliteStore,
    config: &InstanceConfig,
    file: &CeremonyFile,
    options: &RunOptions<'_>,
    clock: &dyn Clock,
) -> Result<RunOutcome> {
    let dir = options.data;
    let actor = crate::operator_cmd::authorize(
        store,
        options.operator,
        shuin_ra::operators::Role::CaAdmin,
        &format!("run the key ceremony {:?}", file.id),
    )
    .await?;
    let ledger = Ledger {
        store,
        clock,
        actor,
        ceremony: file.id.clone(),
    };
    let (statement, statement_bytes) = statement_for(store, config, dir, file).await?;
    let statement_sha256 = sha256_hex(&statement_bytes);
    let refuse = |reason: String| {
        let ledger = &ledger;
        let statement_sha256 = &statement_sha256;
        async move {
            ledger
                .append(
                    "ceremony.refused",
                    None,
                    serde_json::json!({"ceremony_id": ledger.ceremony, "statement_sha256": statement_sha256, "reason": reason}),
                )
                .await?;
            Err::<(), _>(msg(format!("ceremony refused: {reason}")))
        }
    };
    if let Some(state) = store
        .setting(&format!("{CEREMONY_PREFIX}{}", file.id))
        .await
        .context("storage")?
    {
        refuse(format!(
            "ceremony {} was run already ({state}); a ceremony id runs once, write a new ceremony",
            file.id
        ))
        .await?;
    }
    let mut approvals: Vec<Approval> = Vec::new();
    for path in options.approvals {
        match crate::ceremony_approval::read(path) {
            Ok(approval) => approvals.push(approval),
            Err(e) => refuse(e.0).await?,
        }
    }
    let enrolled = crate::ceremony_custodians::enrolled(store).await?;
    let mut keys = BTreeMap::new();
    let mut custodian_keys = Vec::new();
    for custodian in &statement.custodians {
        if let Some(key) = enrolled.get(&custodian.name) {
            keys.insert(custodian.name.clone(), key.spki_der()?);
            custodian_keys.push(CustodianKey {
                name: custodian.name.clone(),
                public_key: key.public_key.clone(),
            });
        }
    }
    let approved_by =
        match crate::ceremony_approval::check(&statement, &statement_bytes, &approvals, &keys) {
            Ok(names) => names,
            Err(e) => {
                refuse(format!("{}; nothing was generated or signed", e.0)).await?;
                Vec::new()
            }
        };
    // An approver must still hold the role when the ceremony runs.
    for name in &approved_by {
        let holder = shuin_ra::operators::operator(store, name)
            .await
            .map_err(|e| msg(e.to_string()))?;
        if !holder.is_some_and(|op| op.holds(shuin_ra::operators::Role::KeyCustodian)) {
            refuse(format!(
                "{name:?} no longer holds the role key_custodian; nothing was generated or signed"
            ))
            .await?;
        }
    }

    // M valid approvals: open the backend; refuse labels that exist before starting.
    let opened = crate::key_backend::open(&config.ca.key_backend, dir)?;
    let backend = opened.keys.as_ref();
    for step in &statement.steps {
        if let StatementStep::GenerateKey { label, .. } = step {
            let uri = key_uri(&config.ca.key_backend, label);
            if backend.signer(&uri).is_ok() {
                refuse(format!(
                    "the key {uri} exists already; keys are never overwritten"
                ))
                .await?;
            }
        }
    }
    let started_at = shuin_core::timefmt::rfc3339(clock.now());
    store
        .set_setting(
            &format!("{CEREMONY_PREFIX}{}", file.id),
            &format!("started {started_at}"),
        )
        .await
        .context("storage")?;
    ledger
        .append(
            "ceremony.started",
            None,
            serde_json::json!({
                "ceremony_id": file.id,
                "purpose": statement.purpose,
                "statement_sha256": statement_sha256,
                "statement": statement,
                "threshold": statement.threshold,
                "approved_by": approvals.iter().map(|a| &a.custodian).collect::<Vec<_>>(),
                "approval_signatures_sha256": approvals.iter().map(|a| sha256_hex(a.signature.as_bytes())).collect::<Vec<_>>(),
                "witnesses": statement.witnesses,
            }),
        )
        .await?;
    let performed = perform(&ledger, &opened, config, dir, &statement).await;
    let (results, outputs) = match performed {
        Ok(done) => done,
        Err(e) => {
            let _ = ledger
                .append(
                    "ceremony.failed",
                    None,
                    serde_json::json!({"ceremony_id": file.id, "statement_sha256": statement_sha256, "error": e.0}),
                )
                .await;
            return Err(msg(format!("ceremony {} failed: {}", file.id, e.0)));
        }
    };
    let record = Record {
        format: RECORD_FORMAT.into(),
        statement: statement.clone(),
        statement_sha256: statement_sha256.clone(),
        custodian_keys,
        approvals,
        operator: options.operator.to_owned(),
        started_at,
        completed_at: shuin_core::timefmt::rfc3339(clock.now()),
        results,
    };
    // The record must verify offline before it is ledgered.
    crate::ceremony_record::verify(&record)
        .map_err(|e| msg(format!("internal: the record does not verify: {}", e.0)))?;
    let record_bytes = crate::ceremony_record::canonical_bytes(&record)?;
    let record_sha256 = sha256_hex(&record_bytes);
    ledger
        .append(
            "ceremony.completed",
            None,
            serde_json::json!({"ceremony_id": file.id, "statement_sha256": statement_sha256, "record_sha256": record_sha256, "record": record}),
        )
        .await?;
    store
        .set_setting(
            &format!("{CEREMONY_PREFIX}{}", file.id),
            &format!("completed {}", record.completed_at),
        )
        .await
        .context("storage")?;
    // Now the effects: the record file and the certificates.
    let record_path = options
        .record_out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.join("ceremonies").join(format!("{}.json", file.id)));
    write_new(&record_path, &record_bytes)?;
    let mut certificates = Vec::new();
    for (name, der) in outputs {
        let path = dir.join("ca").join(format!("{}-{name}.pem", file.id));
        let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der)
            .context("PEM encoding")?;
        write_new(&path, pem.as_bytes())?;
        certificates.push(path);
    }
    let keys = record
        .results
        .iter()
        .filter_map(|r| match r {
            StepResult::GenerateKey { uri, .. } => Some(uri.clone()),
            StepResult::SignCaCertificate { .. } => None,
        })
        .collect();
    Ok(RunOutcome {
        ceremony_id: file.id.clone(),
        statement_sha256,
        record: record_path,
        record_sha256,
        certificates,
        keys,
    })
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).context(parent.display())?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .context(path.display())?;
    file.write_all(bytes).context(path.display())?;
    file.sync_all().context(path.display())
}

/// The certificates made, by a file name.
type Outputs = Vec<(String, Vec<u8>)>;

async fn perform(
    ledger: &Ledger<'_>,
    opened: &crate::key_backend::OpenedBackend,
    config: &InstanceConfig,
    dir: &Path,
    statement: &Statement,
) -> Result<(Vec<StepResult>, Outputs)> {
    let backend = opened.keys.as_ref();
    let b64 = base64::engine::general_purpose::STANDARD;
    let root_der = crate::runtime::read_pem_or_der(&dir.join(&config.ca.root_certificate))?;
    let (root_identity, root_spki) = crate::ceremony_statement::identity_of_certificate(&root_der)?;
    let issuing_der = crate::runtime::read_pem_or_der(&dir.join(&config.ca.issuing_certificate))?;
    let (_, issuing_spki) = crate::ceremony_statement::identity_of_certificate(&issuing_der)?;
    // Signers by ceremony key name, and root certificates made, by step number.
    let mut signers: BTreeMap<String, Arc<dyn Signer>> = BTreeMap::new();
    let mut made: BTreeMap<u32, (IssuerIdentity, Vec<u8>)> = BTreeMap::new();
    let mut results = Vec::new();
    let mut outputs = Vec::new();
    let instance_signer = |name: &str| -> Result<Arc<dyn Signer>> {
        let (uri, expected) = match name {
            INSTANCE_ROOT => (&config.ca.root_key, &root_spki),
            _ => (&config.ca.issuing_key, &issuing_spki),
        };
        let key = KeyRef::parse(uri).context("instance key")?;
        let signer = backend
            .signer(&key)
            .context(format!("the instance's {name} key"))?;
        if signer.public_key_der() != expected.as_slice() {
            return Err(msg(format!(
                "the instance's {name} key does not match its certificate"
            )));
        }
        Ok(signer)
    };
    for (index, step) in statement.steps.iter().enumerate() {
        let number = u32::try_from(index + 1).context("step count")?;
        match step {
            StatementStep::GenerateKey { label, algorithm } => {
                let spec = KeySpec::parse(algorithm).ok_or_else(|| msg("algorithm"))?;
                let subject = Some(format!("key:{label}"));
                ledger
                    .append(
                        "key.generating",
                        subject.clone(),
                        serde_json::json!({"label": label, "spec": format!("{spec:?}"), "backend": backend.info()}),
                    )
                    .await?;
                let key = backend
                    .generate(
                        &crate::key_backend::key_label(&config.ca.key_backend, label),
                        spec,
                    )
                    .context(format!("generating the key {label}"))?;
                let signer = backend
                    .signer(&key)
                    .context(format!("loading the key {label}"))?;
                let public_key_sha256 = sha256_hex(signer.public_key_der());
                ledger
                    .append(
                        "key.generated",
                        subject.clone(),
                        serde_json::json!({"uri": key.as_str(), "public_key_sha256": public_key_sha256}),
                    )
                    .await?;
                let mut attributes = None;
                let mut policy_passed = None;
                if let Some((evidence, verdict)) =
                    crate::key_backend::check_issuer_key(opened, &key, label)?
                {
                    let value = serde_json::to_value(&evidence).context("key attributes")?;
                    ledger
                        .append(
                            "key.attributes",
                            subject.clone(),
                            serde_json::json!({"attributes": value, "policy_passed": verdict.is_ok()}),
                        )
                        .await?;
                    verdict?;
                    attributes = Some(value);
                    policy_passed = Some(true);
                }
                let info = backend.info();
                results.push(StepResult::GenerateKey {
                    label: label.clone(),
                    uri: key.to_string(),
                    backend: info.kind,
                    production_grade: info.production_grade,
                    public_key: b64.encode(signer.public_key_der()),
                    public_key_sha256,
                    attributes,
                    policy_passed,
                });
                signers.insert(label.clone(), signer);
            }
            StatementStep::SignCaCertificate(sign) => {
                let subject_signer = match signers.get(&sign.subject_key) {
                    Some(signer) => signer.clone(),
                    None if sign.subject_key == INSTANCE_ROOT
                        || sign.subject_key == INSTANCE_ISSUING =>
                    {
                        instance_signer(&sign.subject_key)?
                    }
                    None => return Err(msg(format!("unknown key {:?}", sign.subject_key))),
                };
                let (issuer_signer, issuer_identity, issuer_certificate) =
                    match (sign.issuer_certificate_sha256.as_ref(), sign.issuer_step) {
                        (Some(pinned), _) => {
                            if *pinned != sha256_hex(&root_der) {
                                return Err(msg(
                                    "the instance's root certificate changed since the statement",
                                ));
                            }
                            (
                                instance_signer(INSTANCE_ROOT)?,
                                Some(root_identity.clone()),
                                Some(b64.encode(&root_der)),
                            )
                        }
                        (None, Some(step)) => {
                            let (identity, _) = made.get(&step).ok_or_else(|| {
                                msg(format!("step {step} made no root certificate"))
                            })?;
                            let signer = signers
                                .get(&sign.issuer_key)
                                .cloned()
                                .ok_or_else(|| msg(format!("unknown key {:?}", sign.issuer_key)))?;
                            (signer, Some(identity.clone()), None)
                        }
                        (None, None) => (subject_signer.clone(), None, None),
                    };
                let (tbs, bytes) = crate::ceremony_statement::tbs_for(
                    sign,
                    subject_signer.public_key_der(),
                    issuer_identity.as_ref(),
                )?;
                let tbs_sha256 = sha256_hex(&bytes);
                if sign.tbs_sha256.as_ref().is_some_and(|h| *h != tbs_sha256) {
                    return Err(msg("the TBS differs from the approved tbs_sha256"));
                }
                let subject = Some(format!("serial:{}", sign.serial));
                ledger
                    .append(
                        "ca_certificate.signing",
                        subject.clone(),
                        serde_json::json!({"ca": sign.common_name, "profile": sign.profile, "serial": sign.serial, "tbs_sha256": tbs_sha256}),
                    )
                    .await?;
                let signature = issuer_signer
                    .sign(&bytes)
                    .context(format!("signing the certificate of {}", sign.common_name))?;
                let identity = IssuerIdentity {
                    name: tbs.subject.clone(),
                    key_id: shuin_core::x509::extensions::key_identifier(
                        &tbs.subject_public_key_info,
                    ),
                };
                let der = assemble_certificate(tbs, &signature)
                    .and_then(|c| c.to_der())
                    .context("certificate")?;
                let certificate_sha256 = sha256_hex(&der);
                ledger
                    .append(
                        "ca_certificate.issued",
                        subject,
                        serde_json::json!({"ca": sign.common_name, "serial": sign.serial, "certificate_sha256": certificate_sha256}),
                    )
                    .await?;
                made.insert(number, (identity, der.clone()));
                outputs.push((format!("{number}-{}", sign.subject_key), der.clone()));
                results.push(StepResult::SignCaCertificate {
                    serial: sign.serial.clone(),
                    tbs_sha256,
                    certificate: b64.encode(&der),
                    certificate_sha256,
                    issuer_certificate,
                });
            }
        }
    }
    Ok((results, outputs))
}
