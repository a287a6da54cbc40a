//! The issuance cycle: reserve the serial, build and lint the TBS, ledger
//! `certificate.signing` with the TBS hash, sign, store, ledger `certificate.issued`.
//! If the ledger cannot be written, nothing is signed.

use async_trait::async_trait;
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use shuin_core::issuance::{
    IssuanceError, IssuanceOrder, IssuedCertificate, Issuer, IssuerIdentity, SubscriberProfile,
};
use shuin_core::key_policy::key_fingerprint;
use shuin_core::lint::lint_tbs;
use shuin_core::x509::template::{assemble_certificate, tbs_der};
use shuin_core::{Clock, RandomSource, Serial};
use shuin_keys::Signer;
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{
    CertificateRecord, CertificateState, CertificateWriter, ConflictKind, CrlStore, InstanceLock,
    LedgerStore, OcspAnswerStore, RevocationStore, SettingsStore, StoreError,
};
use std::sync::Arc;
use x509_cert::Certificate;

/// What the CA's storage must offer (the instance lock: reconciliation runs in one
/// process at a time).
pub trait CaStore:
    CertificateWriter
    + LedgerStore
    + RevocationStore
    + CrlStore
    + OcspAnswerStore
    + InstanceLock
    + SettingsStore
{
}
impl<
        T: CertificateWriter
            + LedgerStore
            + RevocationStore
            + CrlStore
            + OcspAnswerStore
            + InstanceLock
            + SettingsStore,
    > CaStore for T
{
}

/// CA settings beyond the profile.
#[derive(Debug, Clone)]
pub struct CaSettings {
    /// thisUpdate to nextUpdate of the issuing CA's CRL.
    pub crl_lifetime: std::time::Duration,
    /// Partitions and delta CRLs.
    pub crl_layout: crate::revocation::CrlLayout,
}

/// The issuing CA certificate and the root above it.
#[derive(Debug, Clone)]
pub struct IssuerChain {
    /// DER of the issuing CA certificate.
    pub issuing_der: Vec<u8>,
    /// DER of the root certificate.
    pub root_der: Vec<u8>,
}

/// The CA service.
pub struct CaService {
    signer: Arc<dyn Signer>,
    chain: IssuerChain,
    identity: IssuerIdentity,
    profile: SubscriberProfile,
    store: Arc<dyn CaStore>,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn RandomSource>,
    settings: CaSettings,
    crl_lock: tokio::sync::Mutex<()>,
    /// How far reconciliation has read the books, and what it still watches.
    books: tokio::sync::Mutex<crate::reconcile::BookCursor>,
    /// Set once the business is terminated (`crate::termination`): nothing is issued,
    /// and CRLs get the final CRL's lifetime once it is known.
    terminated: std::sync::Mutex<Option<Termination>>,
}

/// What the CA knows of a termination in progress.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Termination {
    /// The final CRL's lifetime, once the final CRL phase is reached.
    pub(crate) final_crl_lifetime: Option<std::time::Duration>,
}

impl std::fmt::Debug for CaService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaService")
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> IssuanceError {
    IssuanceError::Unavailable(Box::new(e))
}

pub(crate) fn ca_actor() -> Actor {
    Actor {
        name: "shuin-ca".into(),
        role: "system".into(),
        zone: "high_security".into(),
    }
}

impl CaService {
    /// Wires the CA. Checks that the signer's key is the issuing certificate's key.
    pub fn new(
        signer: Arc<dyn Signer>,
        chain: IssuerChain,
        profile: SubscriberProfile,
        store: Arc<dyn CaStore>,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn RandomSource>,
        settings: CaSettings,
    ) -> Result<Self, IssuanceError> {
        let issuing = Certificate::from_der(&chain.issuing_der)
            .map_err(|e| IssuanceError::Profile(format!("issuing certificate: {e}")))?;
        let spki_der = issuing
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| IssuanceError::Profile(e.to_string()))?;
        if spki_der != signer.public_key_der() {
            return Err(IssuanceError::Profile(
                "the issuer key does not match the issuing CA certificate".into(),
            ));
        }
        let identity = IssuerIdentity {
            name: issuing.tbs_certificate.subject.clone(),
            key_id: shuin_core::x509::extensions::key_identifier(
                &issuing.tbs_certificate.subject_public_key_info,
            ),
        };
        Ok(Self {
            signer,
            chain,
            identity,
            profile,
            store,
            clock,
            rng,
            settings,
            crl_lock: tokio::sync::Mutex::new(()),
            books: tokio::sync::Mutex::new(crate::reconcile::BookCursor::default()),
            terminated: std::sync::Mutex::new(None),
        })
    }

    fn termination(&self) -> Option<Termination> {
        *self
            .terminated
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Latches the termination (see `crate::termination`): from now on nothing is
    /// issued; with `final_crl_lifetime`, every CRL gets that lifetime.
    pub(crate) fn latch_termination(&self, final_crl_lifetime: Option<std::time::Duration>) {
        let mut latched = self
            .terminated
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *latched = Some(Termination { final_crl_lifetime });
    }

    /// Whether the business is terminated: latched in this process, or started by any
    /// process (the store's setting, read until it is seen once).
    pub async fn is_terminated(&self) -> Result<bool, IssuanceError> {
        if self.termination().is_some() {
            return Ok(true);
        }
        let started = self
            .store
            .setting(shuin_core::termination::TERMINATION_SETTING)
            .await
            .map_err(unavailable)?
            .is_some();
        if started {
            self.latch_termination(None);
        }
        Ok(started)
    }

    pub(crate) fn crl_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.crl_lock
    }

    pub(crate) fn books(&self) -> &tokio::sync::Mutex<crate::reconcile::BookCursor> {
        &self.books
    }

    pub(crate) fn crl_lifetime(&self) -> std::time::Duration {
        self.termination()
            .and_then(|t| t.final_crl_lifetime)
            .unwrap_or(self.settings.crl_lifetime)
    }

    /// How the issuing CA's CRLs are laid out.
    pub fn crl_layout(&self) -> &crate::revocation::CrlLayout {
        &self.settings.crl_layout
    }

    pub(crate) fn signer(&self) -> &Arc<dyn Signer> {
        &self.signer
    }

    /// The issuing CA's name and key identifier.
    pub fn identity(&self) -> &IssuerIdentity {
        &self.identity
    }

    /// DER of the issuing CA certificate.
    pub fn issuing_der(&self) -> &[u8] {
        &self.chain.issuing_der
    }

    /// The clock the CA uses.
    pub fn clock_handle(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.clock)
    }

    /// The random source the CA uses.
    pub fn rng(&self) -> &Arc<dyn RandomSource> {
        &self.rng
    }

    /// The chain above subscriber certificates, issuing CA first.
    pub fn chain_der(&self) -> Vec<Vec<u8>> {
        vec![self.chain.issuing_der.clone(), self.chain.root_der.clone()]
    }

    pub(crate) fn store(&self) -> &Arc<dyn CaStore> {
        &self.store
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    async fn reserve(
        &self,
        order: &IssuanceOrder,
    ) -> Result<(Serial, x509_cert::TbsCertificate, Vec<u8>), IssuanceError> {
        let fingerprint = key_fingerprint(&order.spki_der);
        for _ in 0..4 {
            let now = self.clock.now();
            let serial = Serial::random(self.rng.as_ref()).map_err(unavailable)?;
            let template = self
                .profile
                .template(&self.identity, order, serial.clone(), now)?;
            let tbs = template
                .to_tbs(self.signer.algorithm())
                .map_err(|e| IssuanceError::Profile(e.to_string()))?;
            let findings = lint_tbs(&tbs);
            if !findings.is_empty() {
                let text = findings
                    .iter()
                    .map(|f| format!("{}: {}", f.id, f.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                return Err(IssuanceError::Lint(text));
            }
            let tbs_bytes = tbs_der(&tbs).map_err(|e| IssuanceError::Profile(e.to_string()))?;
            let record = CertificateRecord {
                serial: serial.clone(),
                application_id: order.application_id.clone(),
                key_fingerprint: fingerprint.clone(),
                tbs_sha256: hex::encode(Sha256::digest(&tbs_bytes)),
                state: CertificateState::Reserved,
                not_before: template.not_before,
                not_after: template.not_after,
                der: None,
            };
            match self.store.reserve(&record).await {
                Ok(()) => return Ok((serial, tbs, tbs_bytes)),
                Err(StoreError::Conflict(ConflictKind::Key)) => {
                    return Err(IssuanceError::KeyReused)
                }
                Err(StoreError::Conflict(ConflictKind::Serial)) => continue,
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(IssuanceError::Profile(
            "could not reserve a unique serial".into(),
        ))
    }

    async fn abandon(&self, serial: &Serial, why: &str) {
        if let Err(e) = self.store.mark_undelivered(serial).await {
            tracing::error!(serial = %serial, error = %e, "could not mark a reservation undelivered; reconciliation will");
        }
        let draft = EntryDraft {
            book: Book::Application,
            kind: "certificate.undelivered".into(),
            actor: ca_actor(),
            subjects: vec![format!("serial:{serial}")],
            payload: serde_json::json!({"why": why}),
            evidence: vec![],
        };
        if let Err(e) = self.store.append(draft, self.clock.now()).await {
            tracing::error!(serial = %serial, error = %e, "could not ledger an abandoned reservation");
        }
    }
}

#[async_trait]
impl Issuer for CaService {
    async fn issue(&self, order: IssuanceOrder) -> Result<IssuedCertificate, IssuanceError> {
        if self.is_terminated().await? {
            return Err(IssuanceError::Terminated);
        }
        let (serial, tbs, tbs_bytes) = self.reserve(&order).await?;
        // A termination started while reserving: the reservation is given up, so no
        // certificate can appear after the termination has revoked them all (it waits
        // for open reservations before it ends revoking).
        if self.is_terminated().await? {
            self.abandon(
                &serial,
                "the business was terminated while the serial was reserved",
            )
            .await;
            return Err(IssuanceError::Terminated);
        }
        let tbs_sha256 = hex::encode(Sha256::digest(&tbs_bytes));
        let signing = EntryDraft {
            book: Book::Application,
            kind: "certificate.signing".into(),
            actor: ca_actor(),
            subjects: vec![
                format!("application:{}", order.application_id),
                format!("serial:{serial}"),
            ],
            payload: serde_json::json!({
                "serial": serial.to_hex(),
                "tbs_sha256": tbs_sha256,
                "approver": order.approver,
                "signature_algorithm": self.signer.algorithm().name(),
            }),
            evidence: vec![format!("sha256:{tbs_sha256}")],
        };
        if let Err(e) = self.store.append(signing, self.clock.now()).await {
            self.abandon(&serial, "the ledger could not record certificate.signing")
                .await;
            return Err(unavailable(e));
        }
        let signer = Arc::clone(&self.signer);
        let message = tbs_bytes.clone();
        let signature = tokio::task::spawn_blocking(move || signer.sign(&message))
            .await
            .map_err(|_| IssuanceError::Unavailable("the signing task failed".into()))?;
        let signature = match signature {
            Ok(s) => s,
            Err(e) => {
                self.abandon(&serial, "the issuer key failed to sign").await;
                return Err(unavailable(e));
            }
        };
        let certificate = assemble_certificate(tbs, &signature)
            .map_err(|e| IssuanceError::Profile(e.to_string()))?;
        let der = certificate
            .to_der()
            .map_err(|e| IssuanceError::Profile(e.to_string()))?;
        // A signature that does not verify under the issuing key is never stored.
        shuin_core::signature::verify(
            self.signer.public_key_der(),
            self.signer.algorithm().algorithm_identifier().oid,
            &tbs_bytes,
            &signature,
        )
        .map_err(|_| {
            IssuanceError::Unavailable("the issuer key produced an invalid signature".into())
        })?;
        self.store
            .complete(&serial, &der, self.clock.now())
            .await
            .map_err(unavailable)?;
        let issued = EntryDraft {
            book: Book::Application,
            kind: "certificate.issued".into(),
            actor: ca_actor(),
            subjects: vec![
                format!("application:{}", order.application_id),
                format!("serial:{serial}"),
            ],
            payload: serde_json::json!({"serial": serial.to_hex()}),
            evidence: vec![format!("sha256:{}", hex::encode(Sha256::digest(&der)))],
        };
        // Until this entry is durable the certificate is not handed out; reconciliation
        // at start-up writes it if the process stops here.
        self.store
            .append(issued, self.clock.now())
            .await
            .map_err(unavailable)?;
        Ok(IssuedCertificate {
            serial,
            certificate_der: der,
            chain_der: self.chain_der(),
        })
    }
}
