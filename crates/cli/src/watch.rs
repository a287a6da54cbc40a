//! Background upkeep of a running instance: revocations made by any process reach OCSP
//! and the published CRL within about a second; CRLs are re-issued well before
//! nextUpdate; OCSP responses are pre-signed and refreshed at half their lifetime; the
//! ledger's tiles follow the latest checkpoint (whichever process signed it).

use crate::runtime::{refresh_crls, Instance};
use std::time::Duration;

/// How often the loop looks.
pub(crate) const TICK: Duration = Duration::from_millis(500);

/// Runs until `stop` says so (or its sender is gone), between two rounds: a round is
/// never cut in the middle (a checkpoint half made, a CRL signed but not published).
pub(crate) async fn run(instance: &Instance, mut stop: tokio::sync::watch::Receiver<bool>) {
    let statuses = shuin_ca::ocsp_responder::StatusWatch;
    // Publishes the certificates now and each CRL that refresh_crls puts in the
    // repository, in tasks of its own; dropped (stopped) with this loop.
    let _publishing = crate::publishers::start(instance);
    let mut ticker = tokio::time::interval(TICK);
    let mut ticks: u64 = 0;
    // The next tick at which approved applications are looked at, and the current wait.
    let mut resume_at: u64 = 1;
    let mut resume_wait = RESUME_EVERY_TICKS;
    let mut tiles_failure = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        ticks = ticks.wrapping_add(1);
        catch_up_tiles(instance, &mut tiles_failure).await;
        // The J-LIS follow-up and the notice outbox (flagging works while sealed).
        crate::registration_cmd::upkeep(instance).await;
        // Sealed: nothing here can be signed until the custodians unseal the CA.
        let Some(parts) = instance.seal.parts() else {
            continue;
        };
        // Revocations and certificates issued by any process reach the OCSP statuses.
        statuses.check(&parts.ocsp, instance.store.as_ref()).await;
        // At once: a status that changed has no answer until this round signs it.
        presign_ocsp(&parts.ocsp).await;
        // A termination in progress goes on before anything is resumed or issued.
        crate::termination::upkeep(instance, &parts).await;
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
            // Fail closed: a refusal that could not be recorded, or a head not kept.
            if e.is_fatal() {
                std::process::exit(70);
            }
        }
    }
}

/// Writes the OCSP answers signed since the last round, and signs those the store lists
/// as missing or past half their lifetime (a round).
async fn presign_ocsp(ocsp: &std::sync::Arc<shuin_ca::OcspService>) {
    let signed = ocsp.upkeep(20_000).await;
    if signed > 0 {
        tracing::debug!(signed, "pre-signed OCSP responses");
    }
}

/// Grows the ledger's tiles to the latest checkpoint (no key needed: while sealed too); a
/// failure is logged once until it changes or clears, and retried after
/// `shuin_repo::tiles::RETRY_AFTER_FAILURE`.
async fn catch_up_tiles(instance: &Instance, last_failure: &mut Option<String>) {
    if instance.state.tiles.backing_off() {
        return;
    }
    match instance.state.tiles.catch_up().await {
        Ok(_) => {
            if last_failure.take().is_some() {
                tracing::info!("the ledger tiles caught up again");
            }
        }
        Err(e) => {
            let failure = e.to_string();
            if last_failure.as_deref() != Some(failure.as_str()) {
                tracing::error!(error = %failure, "the ledger tiles cannot catch up");
                *last_failure = Some(failure);
            }
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
    let (store, now) = (instance.store.as_ref(), shuin_core::SystemClock.now());
    let lifetime = instance.config.revocation.root_crl_lifetime();
    let refreshed = operator_ca.refresh_crl_from_books(gate, store, lifetime, now);
    match refreshed.await {
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

/// Interrupted cycles are looked at every ten seconds (see `resume_approved`).
const RESUME_EVERY_TICKS: u64 = 20;

/// Reconciles stale reservations and accepted revocations (`shuin_ca::reconcile`), then
/// completes interrupted applications from the books (`shuin_ra::resume_approved`).
/// True when the CA failed.
async fn resume_approved(instance: &Instance, ca: &shuin_ca::CaService) -> bool {
    ca.reconcile_logged().await;
    instance.state.ra.resume_and_supersede().await
}
