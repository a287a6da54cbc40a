//! Bootstrap at `shuin init`: keys are generated in the key backend (each step recorded
//! in the facility book first, the keys' attributes checked against the issuer key
//! policy), CA certificates are made on one record -> lint -> sign -> verify path, the
//! root's first CRL is signed while the root key is at hand, and the operator CA is made
//! with its first operators.
//!
//! On the software backend (development, tests) [`bootstrap`] makes the root and issuing
//! keys in one step. On a production backend `init` calls [`operator_side`] only, the
//! first key ceremony (`crate::ceremony`, M custodians' approvals) makes the root and
//! issuing keys, and [`first_root_crl`] follows.
//!
//! Files, the JPKI anchors and `shuin.toml` are the composition root's business: this
//! module returns the keys' URIs and the certificates' DER.

mod certificate;
mod created;
mod operators;

pub use certificate::sign_ca_certificate;
pub use created::InstanceCreated;
pub use operators::{operator_ca, Enrolled, OperatorCaPlan, OPERATOR_CA_CREATED};

use crate::config::CaSection;
use crate::issuance::CaStore;
use crate::operator_ca::OperatorCaError;
use crate::revocation::{publish_crl, CrlContents, CrlScope, EntryFilter, RevocationError};
use const_oid::ObjectIdentifier;
use der::Decode;
use sha2::{Digest, Sha256};
use shuin_books::organisation::BookError;
use shuin_core::issuance::{CaProfile, IssuerIdentity};
use shuin_core::x509::name::NameBuilder;
use shuin_core::{Clock, RandomSource, Role, Serial};
use shuin_keys::activation::SealConfig;
use shuin_keys::config::KeyBackendConfig;
use shuin_keys::{KeyAttributes, KeyError, KeyGenerator, KeyRef, KeySpec, Signer};
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::StoreError;
use std::sync::Arc;
use std::time::Duration;

/// Why the CA could not be bootstrapped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootstrapError {
    /// A step could not be recorded in the ledger; nothing after it happened.
    #[error("ledger: {0}")]
    Ledger(#[source] StoreError),
    /// A key backend operation failed.
    #[error("{what}: {source}")]
    Key {
        /// What was being done.
        what: String,
        /// The key error.
        #[source]
        source: KeyError,
    },
    /// A generated key breaks the issuer key policy (DESIGN.md section 7).
    #[error("refusing the {label} key: {source}")]
    KeyPolicy {
        /// `root`, `issuing` or `operator-ca`.
        label: &'static str,
        /// The failing attribute.
        #[source]
        source: KeyError,
    },
    /// A name, a template or an encoding could not be made.
    #[error("{what}: {source}")]
    Encoding {
        /// What was being made.
        what: &'static str,
        /// The DER error.
        #[source]
        source: der::Error,
    },
    /// The random source failed.
    #[error("random: {0}")]
    Random(#[source] shuin_core::random::RandomError),
    /// A CA certificate's TBS fails lint; nothing was signed.
    #[error("the {label} CA certificate fails lint: {findings}")]
    Lint {
        /// Which CA.
        label: String,
        /// The findings, as listed by the linter.
        findings: String,
    },
    /// A signature the key just made does not verify with its public key: the
    /// certificate is not used.
    #[error("the signature on the {label} CA certificate does not verify")]
    InvalidSignature {
        /// Which CA.
        label: String,
    },
    /// The root's first CRL could not be made.
    #[error("root CRL: {0}")]
    RootCrl(#[source] RevocationError),
    /// The operator CA, or an operator's enrolment, failed.
    #[error("{what}: {source}")]
    OperatorCa {
        /// What was being done (`operator CA`, `--first-admin-csr`, ...).
        what: &'static str,
        /// The operator CA's error.
        #[source]
        source: OperatorCaError,
    },
    /// The organisation book could not be read or written.
    #[error("{0}")]
    Books(#[source] BookError),
}

/// Where the keys are made: the backend, its attribute reader (PKCS#11; `None` for the
/// software backend), and how a role is labelled in it.
pub struct KeyPlace<'a> {
    /// The backend.
    pub keys: &'a dyn KeyGenerator,
    /// The attribute reader, when the backend reports attributes.
    pub attributes: Option<&'a dyn KeyAttributes>,
    /// The describer, when the backend describes keys otherwise (AWS KMS).
    pub describer: Option<&'a dyn shuin_keys::KeyFactsReader>,
    /// The backend's label for a role (`root` -> `shuin-root` on a token).
    pub label: &'a dyn Fn(&str) -> String,
}

/// What the new CA is to be.
pub struct BootstrapPlan<'a> {
    /// The organisation name in the CA names.
    pub ca_name: &'a str,
    /// The public base URL, without a trailing slash.
    pub base_url: &'a str,
    /// The certificate policy of the issuing CA.
    pub policy_oid: ObjectIdentifier,
    /// The root key's type.
    pub root_key: KeySpec,
    /// The issuing key's type.
    pub issuing_key: KeySpec,
    /// The lifetime of the root's CRLs (and of the operator CA's).
    pub root_crl_lifetime: Duration,
    /// The operator CA's first operators.
    pub operators: OperatorCaPlan<'a>,
}

/// What bootstrap made.
pub struct Bootstrapped {
    /// The root key's URI.
    pub root_key: KeyRef,
    /// The issuing key's URI.
    pub issuing_key: KeyRef,
    /// The operator CA key's URI.
    pub operator_ca_key: KeyRef,
    /// The self-signed root certificate.
    pub root_der: Vec<u8>,
    /// The issuing CA certificate, signed by the root.
    pub issuing_der: Vec<u8>,
    /// The self-signed operator CA certificate.
    pub operator_ca_der: Vec<u8>,
    /// The operators enrolled, in order.
    pub enrolled: Vec<Enrolled>,
}

impl Bootstrapped {
    /// The certificate files an instance keeps, relative to its directory, with their
    /// certificates.
    pub fn certificate_files(&self) -> [(&'static str, &[u8]); 3] {
        [
            ("ca/root.pem", &self.root_der),
            ("ca/issuing.pem", &self.issuing_der),
            ("ca/operator-ca.pem", &self.operator_ca_der),
        ]
    }

    /// The `[ca]` section of the instance this made: its keys, its certificate files
    /// ([`Bootstrapped::certificate_files`]) and subscriber certificates valid for five
    /// years. With a `seal` the PIN comes from the custodians' shares, so the section
    /// names no PIN file.
    pub fn ca_section(
        &self,
        mut key_backend: KeyBackendConfig,
        policy_oid: &str,
        seal: Option<SealConfig>,
    ) -> CaSection {
        if let (Some(_), KeyBackendConfig::Pkcs11 { pin_file, .. }) = (&seal, &mut key_backend) {
            *pin_file = None;
        }
        let [root, issuing, operator_ca] = self.certificate_files().map(|(file, _)| file);
        CaSection {
            key_backend,
            root_key: self.root_key.to_string(),
            issuing_key: self.issuing_key.to_string(),
            root_certificate: root.into(),
            issuing_certificate: issuing.into(),
            policy_oid: policy_oid.to_owned(),
            subscriber_validity_days: crate::config::DEFAULT_VALIDITY_DAYS,
            seal,
            operator_ca_key: Some(self.operator_ca_key.to_string()),
            operator_ca_certificate: Some(operator_ca.into()),
        }
    }

    /// Writes [`Bootstrapped::certificate_files`] as PEM under `dir`.
    pub fn write_certificates(&self, dir: &std::path::Path) -> Result<(), CertificateFileError> {
        for (file, der) in self.certificate_files() {
            let failed = |source| CertificateFileError { file, source };
            let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der)
                .map_err(|e| failed(std::io::Error::other(e.to_string())))?;
            std::fs::write(dir.join(file), pem).map_err(failed)?;
        }
        Ok(())
    }
}

/// A CA certificate file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {source}")]
pub struct CertificateFileError {
    /// The file, relative to the instance directory.
    pub file: &'static str,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

fn ledger_entry(
    kind: &str,
    by: &Actor,
    subjects: Vec<String>,
    payload: serde_json::Value,
) -> EntryDraft {
    EntryDraft {
        book: Book::Facility,
        kind: kind.into(),
        actor: by.clone(),
        subjects,
        payload,
        evidence: vec![],
    }
}

/// Generates one key, recorded before and after, with its attributes recorded and
/// checked against the issuer key policy.
async fn generate_key(
    store: &dyn CaStore,
    place: &KeyPlace<'_>,
    label: &'static str,
    spec: KeySpec,
    by: &Actor,
    now: std::time::SystemTime,
) -> Result<(KeyRef, Arc<dyn Signer>), BootstrapError> {
    let append = |draft| async move {
        store
            .append(draft, now)
            .await
            .map_err(BootstrapError::Ledger)
    };
    let subject = format!("key:{label}");
    append(ledger_entry(
        "key.generating",
        by,
        vec![subject.clone()],
        serde_json::json!({"label": label, "spec": format!("{spec:?}"), "backend": place.keys.info()}),
    ))
    .await?;
    let key = place
        .keys
        .generate(&(place.label)(label), spec)
        .map_err(|source| BootstrapError::Key {
            what: format!("generating the {label} key"),
            source,
        })?;
    let signer = place
        .keys
        .signer(&key)
        .map_err(|source| BootstrapError::Key {
            what: format!("loading the {label} key"),
            source,
        })?;
    append(ledger_entry(
        "key.generated",
        by,
        vec![subject.clone()],
        serde_json::json!({"uri": key.as_str(), "public_key_sha256": hex::encode(Sha256::digest(signer.public_key_der()))}),
    ))
    .await?;
    // What the backend says about the key, as evidence in the facility book, then the
    // policy.
    let evidence =
        crate::generated_key::read(place.attributes, place.describer, &key).map_err(|source| {
            BootstrapError::Key {
                what: format!("describing the {label} key"),
                source,
            }
        })?;
    if let Some(evidence) = evidence {
        append(ledger_entry(
            "key.attributes",
            by,
            vec![subject],
            evidence.payload(),
        ))
        .await?;
        evidence
            .verdict
            .map_err(|source| BootstrapError::KeyPolicy { label, source })?;
    }
    Ok((key, signer))
}

fn ca_name(
    organization: &str,
    common_name: &str,
    what: &'static str,
) -> Result<x509_cert::name::Name, BootstrapError> {
    NameBuilder::new()
        .country("JP")
        .and_then(|b| b.organization(organization))
        .and_then(|b| b.common_name(common_name))
        .map(|b| b.build())
        .map_err(|source| BootstrapError::Encoding { what, source })
}

fn spki(signer: &dyn Signer) -> Result<spki::SubjectPublicKeyInfoOwned, BootstrapError> {
    spki::SubjectPublicKeyInfoOwned::from_der(signer.public_key_der()).map_err(|source| {
        BootstrapError::Encoding {
            what: "public key",
            source,
        }
    })
}

/// The root and issuing keys and CA certificates of an instance.
pub struct IssuerKeys {
    pub root_key: KeyRef,
    pub issuing_key: KeyRef,
    pub root_der: Vec<u8>,
    pub issuing_der: Vec<u8>,
}

/// The operator CA and the operators enrolled at init.
pub struct OperatorSide {
    pub operator_ca_key: KeyRef,
    pub operator_ca_der: Vec<u8>,
    pub enrolled: Vec<Enrolled>,
}

/// The one-step bootstrap (the software backend in development and tests): the root and
/// issuing keys and certificates, the root's first CRL, then the operator CA. On a
/// production backend the first key ceremony makes the issuer keys instead (see
/// [`operator_side`] and [`first_root_crl`]).
pub async fn bootstrap(
    store: Arc<dyn CaStore>,
    place: &KeyPlace<'_>,
    plan: &BootstrapPlan<'_>,
    by: &Actor,
    clock: &dyn Clock,
    rng: &dyn RandomSource,
) -> Result<Bootstrapped, BootstrapError> {
    let (issuer, root_signer) = issuer_keys(store.as_ref(), place, plan, by, clock, rng).await?;
    first_root_crl(
        store.clone(),
        &root_signer,
        &issuer.root_der,
        plan.root_crl_lifetime,
        clock,
    )
    .await?;
    let operators = operator_side(store.as_ref(), place, plan, by, clock, rng).await?;
    Ok(Bootstrapped {
        root_key: issuer.root_key,
        issuing_key: issuer.issuing_key,
        operator_ca_key: operators.operator_ca_key,
        root_der: issuer.root_der,
        issuing_der: issuer.issuing_der,
        operator_ca_der: operators.operator_ca_der,
        enrolled: operators.enrolled,
    })
}

/// Generates the root and issuing keys and makes their CA certificates (one-step path).
async fn issuer_keys(
    store: &dyn CaStore,
    place: &KeyPlace<'_>,
    plan: &BootstrapPlan<'_>,
    by: &Actor,
    clock: &dyn Clock,
    rng: &dyn RandomSource,
) -> Result<(IssuerKeys, Arc<dyn Signer>), BootstrapError> {
    let now = clock.now();
    let (root_key, root_signer) =
        generate_key(store, place, "root", plan.root_key, by, now).await?;
    let (issuing_key, issuing_signer) =
        generate_key(store, place, "issuing", plan.issuing_key, by, now).await?;
    let root_name = ca_name(
        plan.ca_name,
        &format!("{} Root CA", plan.ca_name),
        "root name",
    )?;
    let issuing_name = ca_name(
        plan.ca_name,
        &format!("{} Issuing CA", plan.ca_name),
        "issuing CA name",
    )?;
    let years = |n: u64| Duration::from_secs(n * 365 * 86_400);
    let root_template = CaProfile::root(
        root_name.clone(),
        spki(root_signer.as_ref())?,
        Serial::random(rng).map_err(BootstrapError::Random)?,
        now,
        years(20),
    )
    .map_err(|source| BootstrapError::Encoding {
        what: "root template",
        source,
    })?;
    let root_der =
        sign_ca_certificate(store, &root_template, root_signer.as_ref(), "root", by, now).await?;
    let root_identity = IssuerIdentity {
        name: root_name,
        key_id: shuin_core::x509::extensions::key_identifier(
            &root_template.subject_public_key_info,
        ),
    };
    let base = plan.base_url;
    let issuing_template = CaProfile::issuing(
        &root_identity,
        issuing_name,
        spki(issuing_signer.as_ref())?,
        Serial::random(rng).map_err(BootstrapError::Random)?,
        now,
        years(10),
        plan.policy_oid,
        &format!("{base}/repository/root.crl"),
        &format!("{base}/repository/root.crt"),
    )
    .map_err(|source| BootstrapError::Encoding {
        what: "issuing CA template",
        source,
    })?;
    let issuing_der = sign_ca_certificate(
        store,
        &issuing_template,
        root_signer.as_ref(),
        "issuing",
        by,
        now,
    )
    .await?;
    Ok((
        IssuerKeys {
            root_key,
            issuing_key,
            root_der,
            issuing_der,
        },
        root_signer,
    ))
}

/// The root's first CRL, signed while the root key is at hand (later: `shuin crl --root`).
pub async fn first_root_crl(
    store: Arc<dyn CaStore>,
    root_signer: &Arc<dyn Signer>,
    root_der: &[u8],
    lifetime: Duration,
    clock: &dyn Clock,
) -> Result<(), BootstrapError> {
    let root =
        x509_cert::Certificate::from_der(root_der).map_err(|source| BootstrapError::Encoding {
            what: "root certificate",
            source,
        })?;
    let root_identity = IssuerIdentity {
        name: root.tbs_certificate.subject.clone(),
        key_id: shuin_core::x509::extensions::key_identifier(
            &root.tbs_certificate.subject_public_key_info,
        ),
    };
    publish_crl(
        store,
        clock,
        CrlScope {
            name: "root",
            signer: root_signer,
            issuer: &root_identity,
            lifetime,
        },
        CrlContents {
            extra_extensions: Vec::new(),
            filter: EntryFilter::Nothing,
            number_floor: 0,
        },
    )
    .await
    .map_err(BootstrapError::RootCrl)?;
    Ok(())
}

/// Generates the operator CA key, makes its certificate and enrols the first operators.
pub async fn operator_side(
    store: &dyn CaStore,
    place: &KeyPlace<'_>,
    plan: &BootstrapPlan<'_>,
    by: &Actor,
    clock: &dyn Clock,
    rng: &dyn RandomSource,
) -> Result<OperatorSide, BootstrapError> {
    let now = clock.now();
    let (operator_ca_key, signer) =
        generate_key(store, place, "operator-ca", KeySpec::EcP256, by, now).await?;
    let (operator_ca_der, enrolled) = operator_ca(
        store,
        signer,
        plan.ca_name,
        &plan.operators,
        plan.root_crl_lifetime,
        rng,
        now,
    )
    .await?;
    Ok(OperatorSide {
        operator_ca_key,
        operator_ca_der,
        enrolled,
    })
}

/// The roles given to the first admin besides `ca_admin` on a development instance.
pub const DEVELOPMENT_ADMIN_ROLES: &[Role] = &[Role::Lra, Role::ResponsiblePerson];

#[cfg(test)]
mod tests;
