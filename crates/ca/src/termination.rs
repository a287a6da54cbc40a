//! Business termination (認証業務の廃止, docs/termination.md). M custodians approve a
//! termination ceremony (`terminate_business` step; `termination.approved` is in the
//! facility book with `ceremony.completed`); [`start`] then records the plan in the
//! setting [`TERMINATION_SETTING`], which stops the business at once (the RA refuses
//! applications; the CA issues nothing). The running server's upkeep calls
//! [`TerminationDriver::tick`], which carries the procedure out phase by phase, each
//! ledgered and kept in the setting, so that it resumes where it stood after any stop:
//!
//! 1. `termination.started`;
//! 2. every valid certificate revoked with cessationOfOperation (`revocation.accepted`,
//!    actor [`TERMINATION_ACTOR`]) and a notice queued to its holder, in batches; then
//!    `termination.revoked`;
//! 3. the final CRLs, whose nextUpdate covers the retention period
//!    (`termination.final_crl`); every CRL after them keeps that lifetime;
//! 4. the hand-over export of the books and evidence (`termination.completed`).

use crate::issuance::{CaService, CaStore};
use crate::revocation::{RevocationError, RevocationOrder};
use shuin_core::revocation::RevocationReason;
use shuin_core::termination::{
    HandOver, TerminationNotices, TerminationPhase, TerminationPlan, TerminationState,
    TERMINATION_ACTOR, TERMINATION_SETTING,
};
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{CertificateState, SettingsStore};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How many certificates one tick revokes at most (the upkeep stays responsive).
pub const REVOKE_BATCH: usize = 500;

/// Why the procedure could not go on (it is retried at the next tick).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TerminationError {
    /// A termination is already under way or done.
    #[error("the business is already being terminated (ceremony {0})")]
    AlreadyTerminating(String),
    /// The setting holds something unreadable.
    #[error("the termination state is unreadable: {0}")]
    State(String),
    /// Storage, ledger or key trouble.
    #[error("unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn unavailable(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> TerminationError {
    TerminationError::Unavailable(e.into())
}

fn actor() -> Actor {
    Actor {
        name: TERMINATION_ACTOR.into(),
        role: "system".into(),
        zone: "high_security".into(),
    }
}

/// The procedure's state, if a termination was started.
pub async fn state<S: SettingsStore + ?Sized>(
    store: &S,
) -> Result<Option<TerminationState>, TerminationError> {
    let Some(text) = store
        .setting(TERMINATION_SETTING)
        .await
        .map_err(unavailable)?
    else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| TerminationError::State(e.to_string()))
}

async fn save<S: SettingsStore + ?Sized>(
    store: &S,
    state: &TerminationState,
) -> Result<(), TerminationError> {
    let text = serde_json::to_string(state).map_err(unavailable)?;
    store
        .set_setting(TERMINATION_SETTING, &text)
        .await
        .map_err(unavailable)
}

/// Starts the procedure the ceremony `plan.ceremony_id` approved: from now on the
/// business is stopped. Refused if a termination was started before.
pub async fn start<S: SettingsStore + ?Sized>(
    store: &S,
    plan: TerminationPlan,
    now: SystemTime,
) -> Result<TerminationState, TerminationError> {
    if let Some(existing) = state(store).await? {
        return Err(TerminationError::AlreadyTerminating(
            existing.plan.ceremony_id,
        ));
    }
    let started = TerminationState::new(plan, now);
    save(store, &started).await?;
    Ok(started)
}

/// The termination a completed ceremony's record approved, if it has a
/// `terminate_business` step.
pub fn approved_plan(record: &crate::ceremony::Record) -> Option<TerminationPlan> {
    record.statement.steps.iter().find_map(|step| match step {
        crate::ceremony::StatementStep::TerminateBusiness(step) => Some(TerminationPlan {
            ceremony_id: record.statement.ceremony_id.clone(),
            reason: step.reason.clone(),
            successor: step.successor.clone(),
            final_crl_days: step.final_crl_days,
        }),
        _ => None,
    })
}

/// Carries the procedure out, through the CA and the two ports.
pub struct TerminationDriver {
    ca: Arc<CaService>,
    store: Arc<dyn CaStore>,
    settings: Arc<dyn SettingsStore>,
    notices: Arc<dyn TerminationNotices>,
    hand_over: Arc<dyn HandOver>,
}

impl std::fmt::Debug for TerminationDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TerminationDriver")
    }
}

impl TerminationDriver {
    /// Wires the driver.
    pub fn new(
        ca: Arc<CaService>,
        settings: Arc<dyn SettingsStore>,
        notices: Arc<dyn TerminationNotices>,
        hand_over: Arc<dyn HandOver>,
    ) -> Self {
        let store = Arc::clone(ca.store());
        Self {
            ca,
            store,
            settings,
            notices,
            hand_over,
        }
    }

    /// One step of the procedure, if one was started: latches the CA, then does the
    /// current phase (or one batch of it) and returns the state after it.
    pub async fn tick(&self) -> Result<Option<TerminationState>, TerminationError> {
        let Some(mut state) = state(self.settings.as_ref()).await? else {
            return Ok(None);
        };
        let lifetime = Duration::from_secs(u64::from(state.plan.final_crl_days) * 86_400);
        let final_reached = matches!(
            state.phase,
            TerminationPhase::FinalCrl | TerminationPhase::HandOver | TerminationPhase::Completed
        );
        self.ca.latch_termination(final_reached.then_some(lifetime));
        let now = self.ca.clock_handle().now();
        match state.phase {
            TerminationPhase::Started => {
                self.append(
                    Book::Organization,
                    "termination.started",
                    serde_json::json!({"plan": state.plan, "started_at": state.started_at}),
                    now,
                )
                .await?;
                state.phase = TerminationPhase::Revoking;
            }
            TerminationPhase::Revoking => {
                if self.revoke_batch(&mut state).await? {
                    self.notify_all(&mut state).await?;
                    self.append(
                        Book::Revocation,
                        "termination.revoked",
                        serde_json::json!({"ceremony": state.plan.ceremony_id, "revoked": state.revoked, "notices": state.notices}),
                        now,
                    )
                    .await?;
                    state.phase = TerminationPhase::FinalCrl;
                }
            }
            TerminationPhase::FinalCrl => {
                self.ca.latch_termination(Some(lifetime));
                let crl = self.ca.issue_crl().await.map_err(unavailable)?;
                let next_update = shuin_core::timefmt::rfc3339(crl.next_update);
                self.append(
                    Book::Revocation,
                    "termination.final_crl",
                    serde_json::json!({"ceremony": state.plan.ceremony_id, "crl_number": crl.number, "this_update": shuin_core::timefmt::rfc3339(crl.this_update), "next_update": next_update}),
                    now,
                )
                .await?;
                state.final_crl_number = Some(crl.number);
                state.final_crl_next_update = Some(next_update);
                state.phase = TerminationPhase::HandOver;
            }
            TerminationPhase::HandOver => {
                let name = format!("termination-{}", state.plan.ceremony_id);
                let (place, summary) = self.hand_over.write(&name).await.map_err(unavailable)?;
                self.append(
                    Book::Organization,
                    "termination.completed",
                    serde_json::json!({"ceremony": state.plan.ceremony_id, "revoked": state.revoked, "notices": state.notices, "final_crl_number": state.final_crl_number, "hand_over": place, "export": summary}),
                    now,
                )
                .await?;
                state.hand_over = Some(place);
                state.phase = TerminationPhase::Completed;
            }
            TerminationPhase::Completed => return Ok(Some(state)),
        }
        save(self.settings.as_ref(), &state).await?;
        Ok(Some(state))
    }

    async fn append(
        &self,
        book: Book,
        kind: &str,
        payload: serde_json::Value,
        now: SystemTime,
    ) -> Result<(), TerminationError> {
        self.store
            .append(
                EntryDraft {
                    book,
                    kind: kind.into(),
                    actor: actor(),
                    subjects: vec!["business".into()],
                    payload,
                    evidence: vec![],
                },
                now,
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Revokes up to [`REVOKE_BATCH`] valid certificates and queues their notices;
    /// true when none is left.
    async fn revoke_batch(&self, state: &mut TerminationState) -> Result<bool, TerminationError> {
        let issued = self
            .store
            .certificates_in_state(CertificateState::Issued)
            .await
            .map_err(unavailable)?;
        let mut done = 0;
        for certificate in issued {
            if done == REVOKE_BATCH {
                return Ok(false);
            }
            if self
                .store
                .revocation(&certificate.serial)
                .await
                .map_err(unavailable)?
                .is_some()
            {
                continue;
            }
            let order = RevocationOrder {
                serial: certificate.serial.clone(),
                reason: RevocationReason::CessationOfOperation,
                invalidity_date: None,
                actor: actor(),
                authorisation: format!("termination:{}", state.plan.ceremony_id),
            };
            let revoked_at = match self.ca.record_revocation(order).await {
                Ok(at) => at,
                // Revoked meanwhile by someone else: nothing to do.
                Err(RevocationError::AlreadyRevoked { .. }) => continue,
                Err(e) => return Err(unavailable(e)),
            };
            state.revoked += 1;
            if self
                .notices
                .queue(&certificate.serial, revoked_at, &state.plan)
                .await
                .map_err(TerminationError::Unavailable)?
            {
                state.notices += 1;
            }
            done += 1;
        }
        Ok(true)
    }

    /// Queues the notices a stop may have left out: one per certificate the termination
    /// revoked (the port skips those queued already).
    async fn notify_all(&self, state: &mut TerminationState) -> Result<(), TerminationError> {
        let issued = self
            .store
            .certificates_in_state(CertificateState::Issued)
            .await
            .map_err(unavailable)?;
        for certificate in issued {
            let revocation = self
                .store
                .revocation(&certificate.serial)
                .await
                .map_err(unavailable)?;
            let Some(revocation) = revocation.filter(|r| r.decided_by == TERMINATION_ACTOR) else {
                continue;
            };
            if self
                .notices
                .queue(&certificate.serial, revocation.revoked_at, &state.plan)
                .await
                .map_err(TerminationError::Unavailable)?
            {
                state.notices += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "termination_tests.rs"]
mod tests;
