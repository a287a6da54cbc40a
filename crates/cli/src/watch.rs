//! Background upkeep of a running instance: revocations made by any process reach OCSP
//! and the published CRL within about a second; CRLs are re-issued well before
//! nextUpdate; OCSP responses are pre-signed and refreshed at half their lifetime.

use crate::runtime::{refresh_crls, Instance};
use shuin_store::{CertificateReader, RevocationStore};
use std::time::Duration;

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
        // The J-LIS follow-up and the notice outbox (flagging works while sealed).
        crate::registration_cmd::upkeep(instance).await;
        // Sealed: nothing here can be signed until the custodians unseal the CA.
        let Some(parts) = instance.seal.parts() else {
            continue;
        };
        // Revocations and certificates issued by any process (a CLI `review approve`,
        // `revoke`) change these counters; then the OCSP statuses are reloaded.
        let generation = match (
            instance.store.revocation_generation().await,
            instance.store.issued_count().await,
        ) {
            (Ok(revoked), Ok(issued)) => Ok((revoked, issued)),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        match generation {
            Ok(generation) if last_generation != Some(generation) => {
                if let Err(e) = parts.ocsp.load(instance.store.as_ref()).await {
                    tracing::error!(error = %e, "reloading certificate statuses failed");
                    continue;
                }
                last_generation = Some(generation);
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "reading the revocation generation failed"),
        }
        if let Err(e) = refresh_crls(&parts.ca, &instance.store, &instance.state.repository).await {
            tracing::error!(error = %e, "CRL upkeep failed");
        }
        if let Err(e) = parts.checkpoints.tick().await {
            tracing::error!(error = %e, "ledger checkpoint failed");
        }
        let ocsp = parts.ocsp.clone();
        match tokio::task::spawn_blocking(move || ocsp.presign(20_000)).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(signed = n, "pre-signed OCSP responses"),
            Err(e) => tracing::error!(error = %e, "OCSP pre-signing task failed"),
        }
    }
}
