//! Revocation and CRL signing (RFC 5280 section 5). A revocation is written to the
//! revocation book before it is stored, and a CRL's TBS hash before it is signed.

use crate::issuance::{ca_actor, CaService, CaStore};
use der::Encode;
use sha2::{Digest, Sha256};
use shuin_core::issuance::IssuerIdentity;
use shuin_core::revocation::RevocationReason;
use shuin_core::x509::crl::{assemble_crl, CrlTemplate, RevokedEntry};
use shuin_core::Clock;
use shuin_core::Serial;
use shuin_keys::Signer;
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{CertificateState, ConflictKind, CrlRecord, RevocationRecord, StoreError};
use std::sync::Arc;
use std::time::Duration;
use std::time::SystemTime;

/// Why a revocation or CRL was not made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// No certificate with that serial was issued by this CA.
    #[error("no issued certificate has serial {0}")]
    UnknownSerial(String),
    /// Already revoked.
    #[error("certificate {serial} was already revoked at {revoked_at}")]
    AlreadyRevoked {
        /// The serial.
        serial: String,
        /// When (RFC 3339).
        revoked_at: String,
    },
    /// Ledger, storage or key trouble (retryable); nothing was made visible.
    #[error("unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> RevocationError {
    RevocationError::Unavailable(Box::new(e))
}

/// A revocation request that has been authorised.
#[derive(Debug, Clone)]
pub struct RevocationOrder {
    /// The certificate.
    pub serial: Serial,
    /// Why.
    pub reason: RevocationReason,
    /// When the key was compromised, if known.
    pub invalidity_date: Option<SystemTime>,
    /// Who decided (ledger actor).
    pub actor: Actor,
    /// How the request was authorised (`operator`, `subscriber_key`, `jpki`, ...).
    pub authorisation: String,
}

/// The result of a revocation.
#[derive(Debug, Clone)]
pub struct Revoked {
    /// When it took effect.
    pub revoked_at: SystemTime,
    /// The number of the CRL that lists it.
    pub crl_number: u64,
}

impl CaService {
    /// Revokes a certificate and issues a new CRL.
    pub async fn revoke(&self, order: RevocationOrder) -> Result<Revoked, RevocationError> {
        let serial_hex = order.serial.to_hex();
        let certificate = self
            .store()
            .certificate(&order.serial)
            .await
            .map_err(unavailable)?;
        if !certificate.is_some_and(|c| c.state == CertificateState::Issued) {
            return Err(RevocationError::UnknownSerial(serial_hex));
        }
        if let Some(existing) = self
            .store()
            .revocation(&order.serial)
            .await
            .map_err(unavailable)?
        {
            return Err(RevocationError::AlreadyRevoked {
                serial: serial_hex,
                revoked_at: shuin_core::timefmt::rfc3339(existing.revoked_at),
            });
        }
        let now = self.clock().now();
        let record = RevocationRecord {
            serial: order.serial.clone(),
            revoked_at: now,
            reason: order.reason,
            invalidity_date: order.invalidity_date,
            decided_by: order.actor.name.clone(),
        };
        // Record before effect: the revocation book first.
        self.store()
            .append(
                EntryDraft {
                    book: Book::Revocation,
                    kind: "revocation.accepted".into(),
                    actor: order.actor.clone(),
                    subjects: vec![format!("serial:{serial_hex}")],
                    payload: serde_json::json!({
                        "serial": serial_hex,
                        "reason": order.reason.name(),
                        "invalidity_date": order.invalidity_date.map(shuin_core::timefmt::rfc3339),
                        "authorisation": order.authorisation,
                    }),
                    evidence: vec![],
                },
                now,
            )
            .await
            .map_err(unavailable)?;
        match self.store().revoke(&record).await {
            Ok(()) => {}
            Err(StoreError::Conflict(ConflictKind::Revoked)) => {
                let existing = self
                    .store()
                    .revocation(&order.serial)
                    .await
                    .map_err(unavailable)?;
                return Err(RevocationError::AlreadyRevoked {
                    serial: serial_hex,
                    revoked_at: existing
                        .map(|r| shuin_core::timefmt::rfc3339(r.revoked_at))
                        .unwrap_or_default(),
                });
            }
            Err(StoreError::NotFound) => return Err(RevocationError::UnknownSerial(serial_hex)),
            Err(e) => return Err(unavailable(e)),
        }
        let crl = self.issue_crl().await?;
        Ok(Revoked {
            revoked_at: now,
            crl_number: crl.number,
        })
    }

    /// Signs and stores a new full CRL of the issuing CA.
    pub async fn issue_crl(&self) -> Result<CrlRecord, RevocationError> {
        let _serialised = self.crl_lock().lock().await;
        let entries = self
            .store()
            .revocations()
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|r| RevokedEntry {
                serial: r.serial,
                revoked_at: r.revoked_at,
                reason: Some(r.reason.crl_reason()),
                invalidity_date: r.invalidity_date,
            })
            .collect::<Vec<_>>();
        publish_crl(
            self.store().as_ref(),
            self.clock().as_ref(),
            CrlScope {
                name: "ca",
                signer: self.signer(),
                issuer: self.identity(),
                lifetime: self.crl_lifetime(),
            },
            entries,
        )
        .await
    }
}

/// Which CRL: its scope name, and the key and identity that sign it.
#[derive(Debug)]
pub struct CrlScope<'a> {
    /// `ca` or `root`.
    pub name: &'a str,
    /// The CA's key.
    pub signer: &'a Arc<dyn Signer>,
    /// The CA's name and key identifier.
    pub issuer: &'a IssuerIdentity,
    /// thisUpdate to nextUpdate.
    pub lifetime: Duration,
}

/// Numbers, records (`crl.signing` with the TBS hash), signs, stores and records
/// (`crl.issued`) a CRL. Used for the issuing CA and, offline, for the root.
pub async fn publish_crl(
    store: &dyn CaStore,
    clock: &dyn Clock,
    scope: CrlScope<'_>,
    entries: Vec<RevokedEntry>,
) -> Result<CrlRecord, RevocationError> {
    for _ in 0..3 {
        let now = clock.now();
        let number = store
            .next_crl_number(scope.name)
            .await
            .map_err(unavailable)?;
        let count = entries.len();
        let template = CrlTemplate {
            issuer: scope.issuer.name.clone(),
            issuer_key_id: scope.issuer.key_id.clone(),
            this_update: now,
            next_update: now + scope.lifetime,
            number,
            entries: entries.clone(),
        };
        let tbs = template
            .to_tbs(scope.signer.algorithm())
            .map_err(unavailable)?;
        let tbs_der = tbs.to_der().map_err(unavailable)?;
        let tbs_sha256 = hex::encode(Sha256::digest(&tbs_der));
        let subject = format!("crl:{}:{number}", scope.name);
        store
            .append(
                EntryDraft {
                    book: Book::Revocation,
                    kind: "crl.signing".into(),
                    actor: ca_actor(),
                    subjects: vec![subject.clone()],
                    payload: serde_json::json!({"scope": scope.name, "crl_number": number, "entries": count, "tbs_sha256": tbs_sha256}),
                    evidence: vec![format!("sha256:{tbs_sha256}")],
                },
                now,
            )
            .await
            .map_err(unavailable)?;
        let signer = Arc::clone(scope.signer);
        let signature = tokio::task::spawn_blocking(move || signer.sign(&tbs_der))
            .await
            .map_err(|_| RevocationError::Unavailable("the CRL signing task failed".into()))?
            .map_err(unavailable)?;
        let der = assemble_crl(tbs, &signature)
            .and_then(|crl| crl.to_der())
            .map_err(unavailable)?;
        let record = CrlRecord {
            scope: scope.name.to_owned(),
            number,
            this_update: template.this_update,
            next_update: template.next_update,
            der,
        };
        match store.put_crl(&record).await {
            Ok(()) => {}
            // Another process took the number: sign again with the next one.
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(unavailable(e)),
        }
        store
            .append(
                EntryDraft {
                    book: Book::Revocation,
                    kind: "crl.issued".into(),
                    actor: ca_actor(),
                    subjects: vec![subject],
                    payload: serde_json::json!({
                        "scope": scope.name,
                        "crl_number": number,
                        "next_update": shuin_core::timefmt::rfc3339(record.next_update),
                    }),
                    evidence: vec![format!(
                        "sha256:{}",
                        hex::encode(Sha256::digest(&record.der))
                    )],
                },
                now,
            )
            .await
            .map_err(unavailable)?;
        return Ok(record);
    }
    Err(RevocationError::Unavailable(
        "could not obtain a unique CRL number".into(),
    ))
}

#[async_trait::async_trait]
impl shuin_core::revocation::Revoker for CaService {
    async fn revoke(
        &self,
        request: shuin_core::revocation::RevocationRequest,
    ) -> Result<shuin_core::revocation::RevocationDone, shuin_core::revocation::RevocationPortError>
    {
        use shuin_core::revocation::RevocationPortError as PortError;
        let order = RevocationOrder {
            serial: request.serial,
            reason: request.reason,
            invalidity_date: request.invalidity_date,
            actor: Actor {
                name: request.decided_by,
                role: request.role,
                zone: "secure".into(),
            },
            authorisation: request.authorisation,
        };
        match CaService::revoke(self, order).await {
            Ok(done) => Ok(shuin_core::revocation::RevocationDone {
                revoked_at: done.revoked_at,
                crl_number: done.crl_number,
            }),
            Err(RevocationError::UnknownSerial(_)) => Err(PortError::UnknownSerial),
            Err(RevocationError::AlreadyRevoked { revoked_at, .. }) => {
                Err(PortError::AlreadyRevoked {
                    revoked_at: shuin_core::timefmt::parse_rfc3339(&revoked_at)
                        .unwrap_or(std::time::UNIX_EPOCH),
                })
            }
            Err(e) => Err(PortError::Unavailable(Box::new(e))),
        }
    }
}
