//! The seal: on an instance with M-of-N custodians (`[ca.seal]`) the CA, the OCSP
//! responder, the CRL upkeep and the ledger checkpoints start without their keys. The
//! front end, the repository and the RA run; the CA ports answer "sealed" until M valid
//! shares arrive on the admin socket (`admin_socket.rs`). Then the PIN is opened in
//! memory (zeroized), the token is logged into, the issuing key's attributes are checked
//! against the policy and recorded, and the parts are set here once, for good.
//!
//! Instances without custodians are opened unsealed and behave as before.

use crate::config::InstanceConfig;
use crate::failure::{msg, Result};
use crate::seal_shares::{SealConfig, Share};
use serde::Serialize;
use shuin_ca::{CaService, OcspService};
use shuin_core::issuance::{IssuanceError, IssuanceOrder, IssuedCertificate, Issuer};
use shuin_core::ocsp::OcspResponder;
use shuin_core::revocation::{RevocationDone, RevocationPortError, RevocationRequest, Revoker};
use shuin_core::Clock;
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_repo::Repository;
use shuin_store::sqlite::SqliteStore;
use shuin_store::LedgerStore;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// What needs the issuer key's token: usable only when unsealed.
pub(crate) struct CaParts {
    pub(crate) ca: Arc<CaService>,
    pub(crate) ocsp: Arc<OcspService>,
    /// Signs ledger checkpoints (the audit key lives in the same backend).
    pub(crate) checkpoints: Arc<crate::checkpoints::CheckpointMaker>,
    /// Certifies operators' keys (absent on instances made before operator identity).
    pub(crate) operator_ca: Option<Arc<shuin_ca::OperatorCa>>,
    /// The root key, for the root's CRL on the local console.
    pub(crate) root: Arc<dyn shuin_keys::Signer>,
}

/// The seal state of a running instance.
pub(crate) struct Seal {
    parts: RwLock<Option<Arc<CaParts>>>,
    config: Option<SealConfig>,
    /// Shares accepted so far (zeroized on drop), each with the custodian who gave it;
    /// serialises unseal attempts.
    held: tokio::sync::Mutex<Vec<(Share, String)>>,
}

impl Seal {
    /// An instance without custodians: unsealed from the start.
    pub(crate) fn unsealed(parts: CaParts) -> Arc<Seal> {
        Arc::new(Seal {
            parts: RwLock::new(Some(Arc::new(parts))),
            config: None,
            held: tokio::sync::Mutex::new(Vec::new()),
        })
    }

    /// An instance with custodians, before any share.
    pub(crate) fn sealed(config: SealConfig) -> Arc<Seal> {
        Arc::new(Seal {
            parts: RwLock::new(None),
            config: Some(config),
            held: tokio::sync::Mutex::new(Vec::new()),
        })
    }

    /// The CA parts, once unsealed.
    pub(crate) fn parts(&self) -> Option<Arc<CaParts>> {
        self.parts.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, parts: CaParts) {
        *self.parts.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(parts));
    }

    /// `[ca.seal]`, when the instance has custodians.
    pub(crate) fn custodians(&self) -> Option<&SealConfig> {
        self.config.as_ref()
    }

    /// The state for `shuin status` and the admin socket.
    pub(crate) async fn status(&self) -> SealStatus {
        let held = self.held.lock().await.len();
        SealStatus {
            sealed: self.parts().is_none(),
            custodians: self.config.as_ref().map(|c| c.custodians),
            threshold: self.config.as_ref().map(|c| c.threshold),
            shares_held: u8::try_from(held).unwrap_or(u8::MAX),
            instance_id: self.config.as_ref().map(|c| c.instance_id.clone()),
        }
    }
}

/// The seal state as reported.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(crate) struct SealStatus {
    pub(crate) sealed: bool,
    pub(crate) custodians: Option<u8>,
    pub(crate) threshold: Option<u8>,
    pub(crate) shares_held: u8,
    pub(crate) instance_id: Option<String>,
}

/// The CA as the RA's issuer, through the seal; tells the OCSP responder of each new
/// certificate.
pub(crate) struct SealedIssuer(pub(crate) Arc<Seal>);

#[async_trait::async_trait]
impl Issuer for SealedIssuer {
    async fn issue(
        &self,
        order: IssuanceOrder,
    ) -> std::result::Result<IssuedCertificate, IssuanceError> {
        let parts = self.0.parts().ok_or(IssuanceError::Sealed)?;
        let issued = parts.ca.issue(order).await?;
        parts.ocsp.add_issued(issued.serial.clone());
        Ok(issued)
    }

    fn ready(&self) -> std::result::Result<(), IssuanceError> {
        self.0.parts().map(|_| ()).ok_or(IssuanceError::Sealed)
    }
}

/// The CA as the RA's revoker, through the seal.
pub(crate) struct SealedRevoker(pub(crate) Arc<Seal>);

#[async_trait::async_trait]
impl Revoker for SealedRevoker {
    async fn revoke(
        &self,
        request: RevocationRequest,
    ) -> std::result::Result<RevocationDone, RevocationPortError> {
        let parts = self.0.parts().ok_or(RevocationPortError::Sealed)?;
        Revoker::revoke(parts.ca.as_ref(), request).await
    }
}

/// The OCSP responder through the seal: `tryLater` while no responder key is usable.
pub(crate) struct SealedOcsp(pub(crate) Arc<Seal>);

impl OcspResponder for SealedOcsp {
    fn respond_from_cache(&self, request_der: &[u8]) -> Option<Arc<Vec<u8>>> {
        self.0.parts()?.ocsp.respond_from_cache(request_der)
    }

    fn respond(&self, request_der: &[u8]) -> Vec<u8> {
        match self.0.parts() {
            Some(parts) => parts.ocsp.respond(request_der),
            None => shuin_core::ocsp::try_later(),
        }
    }
}

/// Publishes the newest stored CRLs while sealed (they stay valid to their nextUpdate).
pub(crate) async fn publish_stored_crls(
    config: &InstanceConfig,
    store: &SqliteStore,
    repository: &Repository,
) -> Result<()> {
    use shuin_store::CrlStore;
    let layout = crate::runtime::crl_layout(config);
    let mut kinds = vec![shuin_ca::CrlKind::Full];
    if layout.delta_url.is_some() {
        kinds.push(shuin_ca::CrlKind::Delta);
    }
    kinds.extend((0..layout.partitions).map(shuin_ca::CrlKind::Partition));
    let published = |record: shuin_store::CrlRecord| shuin_repo::PublishedCrl {
        number: record.number,
        next_update: record.next_update,
        der: Arc::new(record.der),
    };
    for kind in kinds {
        let scope = kind.scope();
        if let Some(crl) = store
            .latest_crl(&scope)
            .await
            .map_err(|e| msg(format!("CRL: {e}")))?
        {
            match kind {
                shuin_ca::CrlKind::Full => repository.publish_ca_crl(published(crl)),
                _ => repository.publish_other_crl(&scope, published(crl)),
            };
        }
    }
    if let Some(root) = store
        .latest_crl("root")
        .await
        .map_err(|e| msg(format!("CRL: {e}")))?
    {
        repository.publish_root_crl(published(root));
    }
    Ok(())
}

/// What an unseal attempt needs: the instance and where the parts go.
pub(crate) struct UnsealDesk {
    pub(crate) dir: PathBuf,
    pub(crate) config: InstanceConfig,
    pub(crate) store: Arc<SqliteStore>,
    pub(crate) repository: Arc<Repository>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) seal: Arc<Seal>,
}

/// The answer to one unseal attempt.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(crate) struct UnsealAnswer {
    pub(crate) accepted: bool,
    pub(crate) sealed: bool,
    pub(crate) shares_held: u8,
    pub(crate) threshold: u8,
    /// `accepted`, `unsealed`, or why not: `malformed`, `foreign`, `wrong`,
    /// `duplicate`, `already_unsealed`, `not_sealed`, `activation_failed`.
    pub(crate) outcome: String,
    pub(crate) message: String,
}

impl UnsealDesk {
    async fn ledger(&self, kind: &str, actor: Actor, payload: serde_json::Value) -> Result<()> {
        self.store
            .append(
                EntryDraft {
                    book: Book::Facility,
                    kind: kind.into(),
                    actor,
                    subjects: vec!["key:issuing".into()],
                    payload,
                    evidence: vec![],
                },
                self.clock.now(),
            )
            .await
            .map(|_| ())
            .map_err(|e| msg(format!("ledger: {e}")))
    }

    /// Takes one share's text from `custodian` (who signed the unseal request). Every
    /// attempt is recorded in the facility book with the share's index, the custodian and
    /// the outcome, never the share itself. One custodian gives at most one share.
    pub(crate) async fn offer(
        &self,
        text: &str,
        custodian: &Actor,
        peer_uid: Option<u32>,
    ) -> Result<UnsealAnswer> {
        let Some(config) = self.seal.custodians().cloned() else {
            return Ok(UnsealAnswer {
                accepted: false,
                sealed: false,
                shares_held: 0,
                threshold: 0,
                outcome: "not_sealed".into(),
                message: "this instance has no custodians".into(),
            });
        };
        let mut held = self.seal.held.lock().await;
        let parsed = crate::seal_shares::parse(text);
        let index = parsed.as_ref().ok().map(|s| s.index);
        let verdict: std::result::Result<Share, (&str, String)> = match parsed {
            Err(e) => Err(("malformed", e.to_string())),
            Ok(_) if self.seal.parts().is_some() => {
                Err(("already_unsealed", "the CA is already unsealed".into()))
            }
            Ok(share) => match crate::seal_shares::check(&config, &share) {
                Err(refusal) => Err(refusal),
                Ok(()) if held.iter().any(|(h, _)| h.index == share.index) => Err((
                    "duplicate",
                    format!("share {} was already given", share.index),
                )),
                Ok(()) if held.iter().any(|(_, by)| by == &custodian.name) => Err((
                    "same_custodian",
                    format!(
                        "{} has already given a share: M shares must come from M custodians",
                        custodian.name
                    ),
                )),
                Ok(()) => Ok(share),
            },
        };
        let actor = custodian.clone();
        let share = match verdict {
            Err((outcome, message)) => {
                let count = u8::try_from(held.len()).unwrap_or(u8::MAX);
                self.ledger(
                    "seal.unseal_attempt",
                    actor,
                    serde_json::json!({"share_index": index, "outcome": "refused", "reason": outcome,
                        "detail": message, "shares_held": count, "threshold": config.threshold,
                        "instance_id": config.instance_id, "peer_uid": peer_uid}),
                )
                .await?;
                tracing::warn!(share_index = ?index, reason = outcome, "refused an unseal share: {message}");
                return Ok(UnsealAnswer {
                    accepted: false,
                    sealed: self.seal.parts().is_none(),
                    shares_held: count,
                    threshold: config.threshold,
                    outcome: outcome.into(),
                    message,
                });
            }
            Ok(share) => share,
        };
        let index = share.index;
        // Recorded before it counts: a share whose attempt cannot be ledgered is not held.
        let count = u8::try_from(held.len() + 1).unwrap_or(u8::MAX);
        self.ledger(
            "seal.unseal_attempt",
            actor.clone(),
            serde_json::json!({"share_index": index, "outcome": "accepted", "shares_held": count,
                "threshold": config.threshold, "instance_id": config.instance_id, "peer_uid": peer_uid}),
        )
        .await?;
        held.push((share, custodian.name.clone()));
        tracing::info!(
            share_index = index,
            shares_held = count,
            threshold = config.threshold,
            "accepted an unseal share"
        );
        if count < config.threshold {
            return Ok(UnsealAnswer {
                accepted: true,
                sealed: true,
                shares_held: count,
                threshold: config.threshold,
                outcome: "accepted".into(),
                message: format!(
                    "share {index} accepted; {count} of {} held, still sealed",
                    config.threshold
                ),
            });
        }
        // Threshold reached: the shares are spent whatever happens next.
        let (shares, givers): (Vec<Share>, Vec<String>) =
            std::mem::take(&mut *held).into_iter().unzip();
        match self.activate(&config, &shares).await {
            Ok(()) => {
                self.ledger(
                    "seal.unsealed",
                    actor,
                    serde_json::json!({"shares_used": shares.iter().map(|s| s.index).collect::<Vec<_>>(),
                        "custodians": givers,
                        "threshold": config.threshold, "instance_id": config.instance_id}),
                )
                .await?;
                tracing::info!("the CA is unsealed");
                Ok(UnsealAnswer {
                    accepted: true,
                    sealed: false,
                    shares_held: count,
                    threshold: config.threshold,
                    outcome: "unsealed".into(),
                    message: format!("share {index} accepted; the CA is unsealed"),
                })
            }
            Err(e) => {
                let message = format!("the shares were valid but the CA could not be activated: {e}; give the shares again once this is fixed");
                self.ledger(
                    "seal.unseal_attempt",
                    actor,
                    serde_json::json!({"share_index": index, "outcome": "refused", "reason": "activation_failed",
                        "detail": message, "shares_held": 0, "threshold": config.threshold,
                        "instance_id": config.instance_id, "peer_uid": peer_uid}),
                )
                .await?;
                tracing::error!("{message}");
                Ok(UnsealAnswer {
                    accepted: false,
                    sealed: true,
                    shares_held: 0,
                    threshold: config.threshold,
                    outcome: "activation_failed".into(),
                    message,
                })
            }
        }
    }

    /// Opens the PIN, logs into the token, checks and records the issuing key's
    /// attributes, and opens the CA, the OCSP responder and the checkpoints.
    async fn activate(&self, config: &SealConfig, shares: &[Share]) -> Result<()> {
        let pin = crate::seal_shares::open_pin(config, shares)?;
        let backend_config = self.config.ca.key_backend.clone();
        let dir = self.dir.clone();
        let opened = tokio::task::spawn_blocking(move || {
            crate::key_backend::open_with_pin(&backend_config, &dir, Some(pin))
        })
        .await
        .map_err(|e| msg(format!("opening the token: {e}")))??;
        let key = shuin_keys::KeyRef::parse(&self.config.ca.issuing_key)
            .map_err(|e| msg(format!("ca.issuing_key: {e}")))?;
        if let Some((evidence, verdict)) =
            crate::key_backend::check_issuer_key(&opened, &key, "issuing")?
        {
            self.ledger(
                "key.attributes",
                Actor {
                    name: "shuin-unseal".into(),
                    role: "system".into(),
                    zone: "high_security".into(),
                },
                serde_json::json!({"attributes": evidence, "policy_passed": verdict.is_ok(), "at": "unseal"}),
            )
            .await?;
            verdict?;
        }
        let side = crate::runtime::open_ca_with(
            &self.dir,
            self.config.clone(),
            self.store.clone(),
            opened.keys,
        )
        .await?;
        let parts = crate::runtime::open_ca_parts(side).await?;
        crate::runtime::refresh_crls(&parts.ca, &self.store, &self.repository).await?;
        self.seal.set(parts);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sealed_instance_answers_try_later_and_holds_no_parts() {
        let (config, _) = crate::seal_shares::split("pin", 3, 2, &shuin_core::OsRandom).unwrap();
        let seal = Seal::sealed(config);
        assert!(seal.parts().is_none());
        let ocsp = SealedOcsp(seal.clone());
        assert_eq!(ocsp.respond(b"anything"), shuin_core::ocsp::try_later());
        let status = seal.status().await;
        assert!(status.sealed);
        assert_eq!((status.threshold, status.shares_held), (Some(2), 0));
    }
}
