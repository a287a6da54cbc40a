//! The seal: on an instance with M-of-N custodians (`[ca.seal]`) the CA, the OCSP
//! responder, the CRL upkeep and the ledger checkpoints start without their keys. The
//! front end, the repository and the RA run; the CA ports answer "sealed" until M valid
//! shares arrive (see [`UnsealDesk`]). Then the PIN is opened in memory (zeroized) and
//! handed to the [`Activator`], which logs into the token, checks the issuing key and
//! opens the CA parts; they are set here once, for good.
//!
//! Instances without custodians are opened unsealed and behave as before. The parts are
//! whatever the composition root opens (`P`); the sealed ports need only [`OpenedCa`].

mod split;
mod unseal;

pub use split::{Custodians, SplitError};

pub use unseal::{
    admit_issuing_key, record_key_attributes, Activator, ActivatorError, IssuingKeyError,
    SealError, UnsealAnswer, UnsealDesk,
};

use crate::ocsp::Work;
use crate::{CaService, OcspService};
use serde::{Deserialize, Serialize};
use shuin_core::issuance::{IssuanceError, IssuanceOrder, IssuedCertificate, Issuer};
use shuin_core::ocsp::OcspResponder;
use shuin_core::revocation::{RevocationDone, RevocationPortError, RevocationRequest, Revoker};
use shuin_keys::activation::{SealConfig, Share};
use std::sync::{Arc, RwLock};

/// What the sealed ports need of the opened parts.
pub trait OpenedCa: Send + Sync + 'static {
    /// The CA service (issuance, revocation, CRLs).
    fn ca(&self) -> &CaService;
    /// The OCSP responder.
    fn ocsp(&self) -> &Arc<OcspService>;
}

/// The seal state of a running instance, holding the parts `P` once unsealed.
pub struct Seal<P> {
    parts: RwLock<Option<Arc<P>>>,
    config: Option<SealConfig>,
    /// Shares accepted so far (zeroized on drop), each with the custodian who gave it;
    /// serialises unseal attempts.
    held: tokio::sync::Mutex<Vec<(Share, String)>>,
}

impl<P> Seal<P> {
    /// An instance without custodians: unsealed from the start.
    pub fn unsealed(parts: P) -> Arc<Seal<P>> {
        Arc::new(Seal {
            parts: RwLock::new(Some(Arc::new(parts))),
            config: None,
            held: tokio::sync::Mutex::new(Vec::new()),
        })
    }

    /// An instance with custodians, before any share.
    pub fn sealed(config: SealConfig) -> Arc<Seal<P>> {
        Arc::new(Seal {
            parts: RwLock::new(None),
            config: Some(config),
            held: tokio::sync::Mutex::new(Vec::new()),
        })
    }

    /// The CA parts, once unsealed.
    pub fn parts(&self) -> Option<Arc<P>> {
        self.parts.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, parts: P) {
        *self.parts.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(parts));
    }

    /// `[ca.seal]`, when the instance has custodians.
    pub fn custodians(&self) -> Option<&SealConfig> {
        self.config.as_ref()
    }

    /// The state for `shuin status` and the admin socket.
    pub async fn status(&self) -> SealStatus {
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealStatus {
    /// Whether the CA parts are still closed.
    pub sealed: bool,
    /// N, when the instance has custodians.
    pub custodians: Option<u8>,
    /// M, when the instance has custodians.
    pub threshold: Option<u8>,
    /// Shares accepted towards the next unseal.
    pub shares_held: u8,
    /// The instance id the shares must name.
    pub instance_id: Option<String>,
}

/// The seal as `shuin status` and the audit pack report it: the instance's `[ca.seal]`
/// (none: never sealed) and, when a server answered on the admin socket, its state.
pub fn status_report(seal: Option<&SealConfig>, live: Option<&SealStatus>) -> serde_json::Value {
    match seal {
        None => serde_json::json!({"custodians": null, "sealed": false}),
        Some(seal) => serde_json::json!({
            "custodians": seal.custodians,
            "threshold": seal.threshold,
            "instance_id": seal.instance_id,
            "server_running": live.is_some(),
            "sealed": live.is_none_or(|s| s.sealed),
            "shares_held": live.map(|s| s.shares_held),
        }),
    }
}

/// The CA as the RA's issuer, through the seal; tells the OCSP responder of each new
/// certificate.
pub struct SealedIssuer<P>(pub Arc<Seal<P>>);

#[async_trait::async_trait]
impl<P: OpenedCa> Issuer for SealedIssuer<P> {
    async fn issue(&self, order: IssuanceOrder) -> Result<IssuedCertificate, IssuanceError> {
        let parts = self.0.parts().ok_or(IssuanceError::Sealed)?;
        // Detached: a caller that goes away (a client disconnecting) never stops the
        // cycle between its ledger entries and its effects.
        let cycle = tokio::spawn(async move {
            // Accounted for before its row is written, so the responder never takes this
            // process's issuance for another's.
            parts.ocsp().making(Work::Issuance);
            let issued = match parts.ca().issue(order).await {
                Ok(issued) => issued,
                Err(e) => {
                    parts.ocsp().not_made(Work::Issuance);
                    return Err(e);
                }
            };
            // Its OCSP answer is signed before the certificate is handed out: the request
            // path only serves. A failure is logged; the upkeep's round signs it then.
            let (presigner, serial) = (Arc::clone(&parts), issued.serial.clone());
            let signing =
                tokio::task::spawn_blocking(move || presigner.ocsp().presign_issued(&serial));
            if signing.await.is_err() {
                parts.ocsp().look_again();
            }
            Ok(issued)
        });
        cycle
            .await
            .map_err(|_| IssuanceError::Unavailable("the issuance task failed".into()))?
    }

    fn ready(&self) -> Result<(), IssuanceError> {
        self.0.parts().map(|_| ()).ok_or(IssuanceError::Sealed)
    }
}

/// The CA as the RA's revoker, through the seal.
pub struct SealedRevoker<P>(pub Arc<Seal<P>>);

#[async_trait::async_trait]
impl<P: OpenedCa> Revoker for SealedRevoker<P> {
    async fn revoke(
        &self,
        request: RevocationRequest,
    ) -> Result<RevocationDone, RevocationPortError> {
        let parts = self.0.parts().ok_or(RevocationPortError::Sealed)?;
        // Detached, as issuance is.
        let cycle = tokio::spawn(async move {
            let (serial, reason) = (request.serial.clone(), request.reason);
            parts.ocsp().making(Work::Revocation);
            let done = match Revoker::revoke(parts.ca(), request).await {
                Ok(done) => done,
                Err(e) => {
                    parts.ocsp().not_made(Work::Revocation);
                    return Err(e);
                }
            };
            // OCSP says `revoked` before the revocation is confirmed.
            let ocsp = Arc::clone(parts.ocsp());
            ocsp.answer_revocation(serial, done.revoked_at, reason)
                .await;
            Ok(done)
        });
        cycle
            .await
            .map_err(|_| RevocationPortError::Unavailable("the revocation task failed".into()))?
    }
}

/// The OCSP responder through the seal: `tryLater` while no responder key is usable.
pub struct SealedOcsp<P>(pub Arc<Seal<P>>);

#[async_trait::async_trait]
impl<P: OpenedCa> OcspResponder for SealedOcsp<P> {
    fn freshness(&self) -> Option<shuin_core::ocsp::OcspFreshness> {
        Some(self.0.parts()?.ocsp().answer_freshness())
    }

    fn respond_from_cache(&self, request_der: &[u8]) -> Option<Arc<Vec<u8>>> {
        self.0.parts()?.ocsp().respond_from_cache(request_der)
    }

    async fn respond(&self, request_der: &[u8]) -> Vec<u8> {
        match self.0.parts() {
            Some(parts) => parts.ocsp().respond(request_der).await,
            None => shuin_core::ocsp::try_later(),
        }
    }
}

/// What the CA's links hand to the nodes they dial (`shuin_core::repository_feed`): the
/// newest stored CRL of each scope, the operator CA's too (sealed as well: they stay
/// valid to their nextUpdate),
/// and the responder's pre-signed OCSP answers once unsealed.
pub struct SealedFeed<P> {
    /// The seal.
    pub seal: Arc<Seal<P>>,
    /// Where the CRLs are.
    pub store: Arc<dyn shuin_store::CrlStore>,
    /// The CRL scopes handed over: the issuing CA's layout, `root` and `operator-ca`.
    pub scopes: Vec<String>,
}

impl<P> SealedFeed<P> {
    /// The feed of `layout`'s CRLs, the root's and the operator CA's.
    pub fn new(
        seal: Arc<Seal<P>>,
        store: Arc<dyn shuin_store::CrlStore>,
        layout: &crate::CrlLayout,
    ) -> Self {
        SealedFeed {
            seal,
            store,
            scopes: feed_scopes(layout),
        }
    }
}

/// The CRL scopes the feed hands to nodes: `layout`'s (`ca`, `ca-delta`, `ca-pN`), then
/// `root` and `operator-ca`.
pub fn feed_scopes(layout: &crate::CrlLayout) -> Vec<String> {
    let mut scopes: Vec<String> = layout.kinds().into_iter().map(|k| k.scope()).collect();
    scopes.push("root".into());
    scopes.push(crate::operator_ca::OPERATOR_CRL_SCOPE.into());
    scopes
}

#[async_trait::async_trait]
impl<P: OpenedCa> shuin_core::repository_feed::RepositoryFeed for SealedFeed<P> {
    async fn crls(&self) -> Vec<shuin_core::repository_feed::FeedCrl> {
        let mut crls = Vec::new();
        for scope in &self.scopes {
            match self.store.latest_crl(scope).await {
                Ok(Some(crl)) => crls.push(shuin_core::repository_feed::FeedCrl {
                    scope: crl.scope,
                    number: crl.number,
                    der: crl.der,
                }),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, scope, "a CRL cannot be read for the nodes"),
            }
        }
        crls
    }

    async fn ocsp_after(
        &self,
        epoch: u64,
        through: u64,
        max: usize,
    ) -> Option<shuin_core::repository_feed::OcspDelta> {
        let parts = self.seal.parts()?;
        Some(parts.ocsp().answers_after(epoch, through, max).await)
    }
}

#[cfg(test)]
mod tests;
