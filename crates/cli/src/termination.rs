//! Business termination in the running server (docs/termination.md): the upkeep drives
//! `shuin_ca::termination` with the RA's notices and the hand-over export written here
//! (the books with a fresh checkpoint, and the evidence), under
//! `DIR/handover/ID/` (the ceremony id).

use crate::runtime::{Instance, Store};
use crate::seal::CaParts;
use shuin_core::termination::{HandOver, PortError, TerminationPhase};
use std::path::PathBuf;
use std::sync::Arc;

/// The hand-over export: `books/` (a ledger export that `shuin ledger verify --export`
/// checks) and `evidence/` (`shuin_books::handover`).
struct HandOverExport {
    dir: PathBuf,
    store: Arc<Store>,
    parts: Arc<CaParts>,
    pin: Option<shuin_ledger::AuditKeyPin>,
}

#[async_trait::async_trait]
impl HandOver for HandOverExport {
    async fn write(&self, name: &str) -> Result<(String, serde_json::Value), PortError> {
        let out = self.dir.join("handover").join(name);
        // The export ends with a checkpoint signed now, by the server's audit key.
        self.parts.checkpoints.checkpoint_now().await?;
        let key = self.parts.checkpoints.key().clone();
        let summary = shuin_books::handover::write_hand_over(
            self.store.as_ref(),
            &out,
            key,
            self.pin.as_ref(),
        )
        .await?;
        Ok((out.display().to_string(), summary))
    }
}

/// This process's name for the termination lease: random, made once.
fn lease_holder() -> &'static str {
    static HOLDER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOLDER.get_or_init(|| {
        let mut bytes = [0u8; 16];
        match shuin_core::RandomSource::fill(&shuin_core::OsRandom, &mut bytes) {
            Ok(()) => format!("serve-{}", hex::encode(bytes)),
            // Never all zeros shared with another process: the process id and the time.
            Err(_) => format!(
                "serve-pid{}-{:?}",
                std::process::id(),
                shuin_core::Clock::now(&shuin_core::SystemClock)
            ),
        }
    })
}

/// One step of a termination in progress, if any (from `watch::run`, unsealed).
pub(crate) async fn upkeep(instance: &Instance, parts: &Arc<CaParts>) {
    let hand_over = Arc::new(HandOverExport {
        dir: instance.dir.clone(),
        store: instance.store.clone(),
        parts: parts.clone(),
        pin: instance.config.ledger.pin(),
    });
    let driver = shuin_ca::termination::TerminationDriver::new(
        parts.ca.clone(),
        instance.state.ra.clone(),
        hand_over,
        lease_holder().to_owned(),
    );
    match driver.tick().await {
        Ok(Some(state)) if state.phase != TerminationPhase::Completed => {
            tracing::info!(
                phase = state.phase.as_str(),
                revoked = state.revoked,
                "termination in progress"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "termination step failed; retried at the next tick"),
    }
}
