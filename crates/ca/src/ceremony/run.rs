//! `shuin ceremony run`: checks M valid approvals over exactly the statement the ceremony
//! file yields, and only then opens the key backend, generates keys and signs CA
//! certificates, ledgering each operation in the facility book before it happens. The
//! record goes into the facility book (`ceremony.completed`) before the certificates and
//! the record file are written.

use super::approval::Approval;
use super::custodians::CustodianRoles;
use super::error::{invalid, CeremonyError, Context, Result};
use super::file::{CeremonyFile, INSTANCE_ISSUING, INSTANCE_ROOT};
use super::record::{CustodianKey, Record, StepResult, RECORD_FORMAT};
use super::statement::{sha256_hex, InstanceFacts, Statement, StatementStep};
use crate::generated_key::GeneratedKeyEvidence;
use base64::Engine;
use der::Encode;
use shuin_core::issuance::IssuerIdentity;
use shuin_core::x509::template::assemble_certificate;
use shuin_core::Clock;
use shuin_keys::{KeyAttributes, KeyFactsReader, KeyGenerator, KeyRef, KeySpec, Signer};
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{LedgerStore, SettingsStore};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const CEREMONY_PREFIX: &str = "ceremony:";

/// The instance's key backend as a ceremony uses it. The caller opens it (see
/// [`run`]: only after M valid approvals) and knows how it names keys.
pub trait CeremonyBackend {
    /// The backend's keys.
    fn keys(&self) -> &dyn KeyGenerator;
    /// Its attribute reader, when it has that power (PKCS#11).
    fn attributes(&self) -> Option<&dyn KeyAttributes>;
    /// Its describer, when it describes keys otherwise (AWS KMS metadata and policy).
    fn describer(&self) -> Option<&dyn KeyFactsReader> {
        None
    }
    /// The label a ceremony key `label` gets in the backend (`shuin-` added for PKCS#11).
    fn key_label(&self, label: &str) -> String;
    /// The URI a ceremony key `label` gets in the backend.
    fn key_uri(&self, label: &str) -> KeyRef;
}

/// What [`run`] needs besides the store: the checked ceremony file, the instance, who
/// runs it (already authorised as `ca_admin` by the caller) and where the effects go.
#[derive(Debug)]
pub struct RunOptions<'a> {
    /// The ceremony file, checked.
    pub file: &'a CeremonyFile,
    /// The instance the ceremony belongs to.
    pub instance: &'a InstanceFacts,
    /// The URI of the instance's root key (`ca.root_key`); unused in the first key
    /// ceremony, which makes the instance's keys.
    pub root_key: &'a str,
    /// The URI of the instance's issuing key (`ca.issuing_key`); as `root_key`.
    pub issuing_key: &'a str,
    /// The approvals: where each came from (a file, an attachment) and its bytes.
    pub approvals: &'a [(String, Vec<u8>)],
    /// The `ca_admin` running it, as named in the record.
    pub operator: &'a str,
    /// The ledger actor of that operator (from the caller's authorisation).
    pub actor: Actor,
    /// Where the record file is written.
    pub record_out: &'a Path,
    /// The directory the certificates are written to (as `ID-STEP-KEY.pem`).
    pub certificate_dir: &'a Path,
}

/// What a completed run produced.
#[derive(Debug, serde::Serialize)]
pub struct RunOutcome {
    pub ceremony_id: String,
    pub statement_sha256: String,
    pub record: PathBuf,
    pub record_sha256: String,
    pub certificates: Vec<PathBuf>,
    pub keys: Vec<String>,
    /// The record itself (verified), for a caller that adopts what it made.
    #[serde(skip)]
    pub contents: Record,
}

/// The statement of `file` for the instance, with the custodians enrolled in `store`,
/// and its canonical bytes.
pub async fn statement_for<S: SettingsStore + ?Sized>(
    store: &S,
    instance: &InstanceFacts,
    file: &CeremonyFile,
) -> Result<(Statement, Vec<u8>)> {
    let enrolled = super::custodians::enrolled(store).await?;
    let pins = enrolled
        .iter()
        .map(|(name, key)| (name.clone(), key.public_key_sha256.clone()))
        .collect();
    let statement = super::statement::build(file, instance, &pins)?;
    let bytes = super::statement::canonical(&statement)?;
    Ok((statement, bytes))
}

struct Ledger<'a, S: ?Sized> {
    store: &'a S,
    clock: &'a dyn Clock,
    actor: Actor,
    ceremony: String,
}

impl<S: LedgerStore + ?Sized> Ledger<'_, S> {
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
            .map_err(CeremonyError::Ledger)
    }
}

/// Runs the ceremony. Refuses (ledgered as `ceremony.refused`) without M valid approvals
/// from custodians who still hold `key_custodian`, before `open_backend` is called. Then
/// each operation is ledgered in the facility book before it happens; the record is
/// ledgered (`ceremony.completed`) before the record file and the certificates are
/// written.
pub async fn run<S, B>(
    store: &S,
    roles: &dyn CustodianRoles,
    options: RunOptions<'_>,
    open_backend: impl FnOnce() -> Result<B>,
    clock: &dyn Clock,
) -> Result<RunOutcome>
where
    S: SettingsStore + LedgerStore + ?Sized,
    B: CeremonyBackend,
{
    let file = options.file;
    let ledger = Ledger {
        store,
        clock,
        actor: options.actor.clone(),
        ceremony: file.id.clone(),
    };
    let (statement, statement_bytes) = statement_for(store, options.instance, file).await?;
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
            Err::<(), _>(CeremonyError::Refused { reason })
        }
    };
    if let Some(state) = store
        .setting(&format!("{CEREMONY_PREFIX}{}", file.id))
        .await
        .map_err(CeremonyError::Storage)?
    {
        refuse(format!(
            "ceremony {} was run already ({state}); a ceremony id runs once, write a new ceremony",
            file.id
        ))
        .await?;
    }
    let terminates = statement
        .steps
        .iter()
        .any(|s| matches!(s, StatementStep::TerminateBusiness(_)));
    if terminates {
        if let Some(state) = crate::termination::state(store)
            .await
            .map_err(|e| invalid(e.to_string()))?
        {
            refuse(format!(
                "the business is already being terminated (ceremony {}); it is terminated once",
                state.plan.ceremony_id
            ))
            .await?;
        }
    }
    let mut approvals: Vec<Approval> = Vec::new();
    for (origin, bytes) in options.approvals {
        match super::approval::parse(origin, bytes) {
            Ok(approval) => approvals.push(approval),
            Err(e) => refuse(e.to_string()).await?,
        }
    }
    let enrolled = super::custodians::enrolled(store).await?;
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
    let approved_by = match super::approval::check(&statement, &statement_bytes, &approvals, &keys)
    {
        Ok(names) => names,
        Err(e) => {
            refuse(format!("{e}; nothing was generated or signed")).await?;
            Vec::new()
        }
    };
    // An approver must still hold the role when the ceremony runs.
    for name in &approved_by {
        if !roles.holds_key_custodian(name).await? {
            refuse(format!(
                "{name:?} no longer holds the role key_custodian; nothing was generated or signed"
            ))
            .await?;
        }
    }

    // M valid approvals: open the backend; refuse labels that exist before starting.
    let opened = open_backend()?;
    let backend = opened.keys();
    for step in &statement.steps {
        if let StatementStep::GenerateKey { label, .. } = step {
            let uri = opened.key_uri(label);
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
        .map_err(CeremonyError::Storage)?;
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
    let performed = perform(&ledger, &opened, &options, &statement).await;
    let (results, outputs) = match performed {
        Ok(done) => done,
        Err(e) => {
            let _ = ledger
                .append(
                    "ceremony.failed",
                    None,
                    serde_json::json!({"ceremony_id": file.id, "statement_sha256": statement_sha256, "error": e.to_string()}),
                )
                .await;
            return Err(CeremonyError::Failed {
                ceremony_id: file.id.clone(),
                source: Box::new(e),
            });
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
    super::record::verify(&record)
        .map_err(|e| CeremonyError::Internal(format!("the record does not verify: {e}")))?;
    let record_bytes = super::record::canonical_bytes(&record)?;
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
        .map_err(CeremonyError::Storage)?;
    // Now the effects: the record file and the certificates.
    let record_path = options.record_out.to_path_buf();
    write_new(&record_path, &record_bytes)?;
    let mut certificates = Vec::new();
    for (name, der) in outputs {
        let path = options
            .certificate_dir
            .join(format!("{}-{name}.pem", file.id));
        let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der)
            .map_err(|e| invalid(format!("PEM encoding: {e}")))?;
        write_new(&path, pem.as_bytes())?;
        certificates.push(path);
    }
    let keys = record
        .results
        .iter()
        .filter_map(|r| match r {
            StepResult::GenerateKey { uri, .. } => Some(uri.clone()),
            StepResult::SignCaCertificate { .. } | StepResult::TerminateBusiness { .. } => None,
        })
        .collect();
    Ok(RunOutcome {
        ceremony_id: file.id.clone(),
        statement_sha256,
        record: record_path,
        record_sha256,
        certificates,
        keys,
        contents: record,
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

/// What the backend says about a new issuer key (PKCS#11 attributes, KMS metadata and
/// policy), when it can say.
fn check_issuer_key(
    backend: &dyn CeremonyBackend,
    key: &KeyRef,
    role: &str,
) -> Result<Option<GeneratedKeyEvidence>> {
    crate::generated_key::read(backend.attributes(), backend.describer(), key)
        .context(format!("describing the {role} key"))
}

async fn perform<S: LedgerStore + SettingsStore + ?Sized, B: CeremonyBackend>(
    ledger: &Ledger<'_, S>,
    opened: &B,
    options: &RunOptions<'_>,
    statement: &Statement,
) -> Result<(Vec<StepResult>, Outputs)> {
    let backend = opened.keys();
    let b64 = base64::engine::general_purpose::STANDARD;
    // The instance's root (certificate, identity, key) and issuing key, if it has them.
    let instance = match &options.instance.ca {
        Some(ca) => {
            let (root_identity, root_spki) =
                super::statement::identity_of_certificate(&ca.root_der)?;
            let (_, issuing_spki) = super::statement::identity_of_certificate(&ca.issuing_der)?;
            Some((&ca.root_der, root_identity, root_spki, issuing_spki))
        }
        None => None,
    };
    // Signers by ceremony key name, and root certificates made, by step number.
    let mut signers: BTreeMap<String, Arc<dyn Signer>> = BTreeMap::new();
    let mut made: BTreeMap<u32, (IssuerIdentity, Vec<u8>)> = BTreeMap::new();
    let mut results = Vec::new();
    let mut outputs = Vec::new();
    let instance_signer = |name: &str| -> Result<Arc<dyn Signer>> {
        let (_, _, root_spki, issuing_spki) = instance
            .as_ref()
            .ok_or_else(|| invalid(format!("this instance has no {name} key yet")))?;
        let (uri, expected) = match name {
            INSTANCE_ROOT => (options.root_key, root_spki),
            _ => (options.issuing_key, issuing_spki),
        };
        let key = KeyRef::parse(uri).context("instance key")?;
        let signer = backend
            .signer(&key)
            .context(format!("the instance's {name} key"))?;
        if signer.public_key_der() != expected.as_slice() {
            return Err(invalid(format!(
                "the instance's {name} key does not match its certificate"
            )));
        }
        Ok(signer)
    };
    for (index, step) in statement.steps.iter().enumerate() {
        let number = u32::try_from(index + 1).context("step count")?;
        match step {
            StatementStep::TerminateBusiness(terminate) => {
                ledger
                    .append(
                        "termination.approved",
                        Some("business".into()),
                        serde_json::to_value(terminate).context("termination step")?,
                    )
                    .await?;
                // The business stops here, before the ceremony completes: a stop in
                // between leaves a ceremony that did not complete, never one that did
                // and a business that goes on.
                let plan = shuin_core::termination::TerminationPlan {
                    ceremony_id: statement.ceremony_id.clone(),
                    reason: terminate.reason.clone(),
                    successor: terminate.successor.clone(),
                    final_crl_days: terminate.final_crl_days,
                };
                crate::termination::start(ledger.store, plan, ledger.clock.now())
                    .await
                    .map_err(|e| invalid(format!("starting the termination: {e}")))?;
                results.push(StepResult::TerminateBusiness { approved: true });
            }
            StatementStep::GenerateKey { label, algorithm } => {
                let spec = KeySpec::parse(algorithm).ok_or_else(|| invalid("algorithm"))?;
                let subject = Some(format!("key:{label}"));
                ledger
                    .append(
                        "key.generating",
                        subject.clone(),
                        serde_json::json!({"label": label, "spec": format!("{spec:?}"), "backend": backend.info()}),
                    )
                    .await?;
                let key = backend
                    .generate(&opened.key_label(label), spec)
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
                let mut key_policy = None;
                if let Some(evidence) = check_issuer_key(opened, &key, label)? {
                    ledger
                        .append("key.attributes", subject.clone(), evidence.payload())
                        .await?;
                    evidence
                        .verdict
                        .map_err(|e| invalid(format!("refusing the {label} key: {e}")))?;
                    attributes = Some(evidence.attributes);
                    key_policy = evidence.key_policy;
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
                    key_policy,
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
                    None => return Err(invalid(format!("unknown key {:?}", sign.subject_key))),
                };
                let (issuer_signer, issuer_identity, issuer_certificate) =
                    match (sign.issuer_certificate_sha256.as_ref(), sign.issuer_step) {
                        (Some(pinned), _) => {
                            let (root_der, root_identity, _, _) =
                                instance.as_ref().ok_or_else(|| {
                                    invalid(
                                        "the statement names a root this instance does not have",
                                    )
                                })?;
                            if *pinned != sha256_hex(root_der) {
                                return Err(invalid(
                                    "the instance's root certificate changed since the statement",
                                ));
                            }
                            (
                                instance_signer(INSTANCE_ROOT)?,
                                Some(root_identity.clone()),
                                Some(b64.encode(root_der.as_slice())),
                            )
                        }
                        (None, Some(step)) => {
                            let (identity, _) = made.get(&step).ok_or_else(|| {
                                invalid(format!("step {step} made no root certificate"))
                            })?;
                            let signer =
                                signers.get(&sign.issuer_key).cloned().ok_or_else(|| {
                                    invalid(format!("unknown key {:?}", sign.issuer_key))
                                })?;
                            (signer, Some(identity.clone()), None)
                        }
                        (None, None) => (subject_signer.clone(), None, None),
                    };
                let (tbs, bytes) = super::statement::tbs_for(
                    sign,
                    subject_signer.public_key_der(),
                    issuer_identity.as_ref(),
                )?;
                let tbs_sha256 = sha256_hex(&bytes);
                if sign.tbs_sha256.as_ref().is_some_and(|h| *h != tbs_sha256) {
                    return Err(invalid("the TBS differs from the approved tbs_sha256"));
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

#[cfg(test)]
mod tests;
