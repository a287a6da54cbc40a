//! Background upkeep of a running instance: revocations made by any process reach OCSP
//! and the published CRL within about a second; CRLs are re-issued well before
//! nextUpdate; OCSP responses are pre-signed and refreshed at half their lifetime.

use crate::runtime::{refresh_crls, Instance};
use shuin_ca::{CaService, OcspService};
use shuin_core::issuance::{IssuanceError, IssuanceOrder, IssuedCertificate, Issuer};
use shuin_store::RevocationStore;
use std::sync::Arc;
use std::time::Duration;

/// The CA as the RA's issuer, telling the OCSP responder about each new certificate.
pub(crate) struct IssuerWithOcsp {
    pub(crate) ca: Arc<CaService>,
    pub(crate) ocsp: Arc<OcspService>,
}

#[async_trait::async_trait]
impl Issuer for IssuerWithOcsp {
    async fn issue(&self, order: IssuanceOrder) -> Result<IssuedCertificate, IssuanceError> {
        let issued = self.ca.issue(order).await?;
        self.ocsp.add_issued(issued.serial.clone());
        Ok(issued)
    }
}

/// How often the loop looks.
pub(crate) const TICK: Duration = Duration::from_millis(500);

/// Runs until the task is dropped.
pub(crate) async fn run(instance: &Instance) {
    let mut last_generation = None;
    // Publishes the certificates now and each CRL that refresh_crls puts in the
    // repository, in tasks of its own; dropped (stopped) with this loop.
    let _publishing = crate::publishers::start(instance);
    let mut ticker = tokio::time::interval(TICK);
    loop {
        ticker.tick().await;
        match instance.store.revocation_generation().await {
            Ok(generation) if last_generation != Some(generation) => {
                if let Err(e) = instance.ocsp.load(instance.store.as_ref()).await {
                    tracing::error!(error = %e, "reloading certificate statuses failed");
                    continue;
                }
                last_generation = Some(generation);
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "reading the revocation generation failed"),
        }
        if let Err(e) =
            refresh_crls(&instance.ca, &instance.store, &instance.state.repository).await
        {
            tracing::error!(error = %e, "CRL upkeep failed");
        }
        if let Err(e) = instance.checkpoints.tick().await {
            tracing::error!(error = %e, "ledger checkpoint failed");
        }
        let ocsp = instance.ocsp.clone();
        match tokio::task::spawn_blocking(move || ocsp.presign(20_000)).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(signed = n, "pre-signed OCSP responses"),
            Err(e) => tracing::error!(error = %e, "OCSP pre-signing task failed"),
        }
    }
}
