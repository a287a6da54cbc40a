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
    let mut ticks: u64 = 0;
    // The next tick at which approved applications are looked at, and the current wait.
    let mut resume_at: u64 = 1;
    let mut resume_wait = RESUME_EVERY_TICKS;
    loop {
        ticker.tick().await;
        ticks = ticks.wrapping_add(1);
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
            // Unchanged but for certificates this process issued (and already told the
            // responder of): no reload, which would read every serial ever issued.
            Ok((revoked, issued))
                if last_generation.is_some_and(|(last_revoked, last_issued): (u64, u64)| {
                    revoked == last_revoked
                        && Some(issued) == last_issued.checked_add(parts.ocsp.added_since_load())
                }) => {}
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
        if ticks >= resume_at {
            // Every ten seconds; after a CA failure the wait doubles up to ten minutes.
            resume_wait = if resume_approved(instance, &parts.ca).await {
                (resume_wait * 2).min(RESUME_EVERY_TICKS * 60)
            } else {
                RESUME_EVERY_TICKS
            };
            resume_at = ticks + resume_wait;
        }
        if ticks % OPERATOR_CRL_EVERY_TICKS == 1 {
            refresh_operator_crl(instance, &parts).await;
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

/// The operator CA's CRL is looked at every five minutes.
const OPERATOR_CRL_EVERY_TICKS: u64 = 600;

/// Re-issues the operator CA's CRL before it runs out, and publishes it.
async fn refresh_operator_crl(instance: &Instance, parts: &crate::seal::CaParts) {
    use shuin_core::Clock;
    let (Some(operator_ca), Some(gate)) = (&parts.operator_ca, &instance.gate) else {
        return;
    };
    let refreshed = async {
        let roster = gate
            .roster(instance.store.as_ref())
            .await
            .map_err(|e| e.to_string())?;
        operator_ca
            .refresh_crl(
                instance.store.as_ref(),
                &roster,
                instance.config.revocation.root_crl_lifetime(),
                shuin_core::SystemClock.now(),
            )
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    match refreshed {
        Ok(Some(crl)) => {
            instance
                .state
                .repository
                .publish_other_crl(shuin_ca::operator_ca::OPERATOR_CRL_SCOPE, crl.into());
        }
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "operator CRL upkeep failed"),
    }
}

/// Approved applications are looked at every ten seconds (see `shuin_ra::resume_approved`).
const RESUME_EVERY_TICKS: u64 = 20;

/// Issues applications left `approved` by a sealed or failing CA, and supersedes the
/// certificate a resumed reissue replaces (`shuin_ra::resume_and_supersede`). True when
/// the CA failed.
async fn resume_approved(instance: &Instance, ca: &shuin_ca::CaService) -> bool {
    use shuin_core::{Clock, OsRandom};
    let now = shuin_core::SystemClock.now();
    shuin_ra::resume_and_supersede(instance.store.as_ref(), ca, &OsRandom, now).await
}
