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
use shuin_store::SettingsStore;
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

/// The lease one driver holds while it acts, so that two servers on one store never
/// carry the procedure out at the same time.
pub const TERMINATION_LEASE: &str = "ca.termination";

/// How long the lease is taken for, renewed at every tick (0.5 s): a process killed
/// while holding it holds the procedure up for at most this long.
const LEASE_FOR: Duration = Duration::from_secs(10);

/// How many of the newest entries are searched for an entry a stop may have written
/// already (see [`TerminationState::pending`]).
const TAIL: u64 = 2_000;

/// Carries the procedure out, through the CA and the two ports.
pub struct TerminationDriver {
    ca: Arc<CaService>,
    store: Arc<dyn CaStore>,
    notices: Arc<dyn TerminationNotices>,
    hand_over: Arc<dyn HandOver>,
    holder: String,
}

impl std::fmt::Debug for TerminationDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TerminationDriver")
    }
}

impl TerminationDriver {
    /// Wires the driver; `holder` names this process for the lease.
    pub fn new(
        ca: Arc<CaService>,
        notices: Arc<dyn TerminationNotices>,
        hand_over: Arc<dyn HandOver>,
        holder: String,
    ) -> Self {
        let store = Arc::clone(ca.store());
        Self {
            ca,
            store,
            notices,
            hand_over,
            holder,
        }
    }

    /// One step of the procedure, if one was started: latches the CA, then does the
    /// current phase (or one batch of it) and returns the state after it. While another
    /// process holds the lease, it only reads.
    pub async fn tick(&self) -> Result<Option<TerminationState>, TerminationError> {
        let Some(mut state) = state(self.store.as_ref()).await? else {
            return Ok(None);
        };
        let lifetime = Duration::from_secs(u64::from(state.plan.final_crl_days) * 86_400);
        let final_reached = matches!(
            state.phase,
            TerminationPhase::FinalCrl | TerminationPhase::HandOver | TerminationPhase::Completed
        );
        self.ca.latch_termination(final_reached.then_some(lifetime));
        if state.phase == TerminationPhase::Completed {
            return Ok(Some(state));
        }
        let now = self.ca.clock_handle().now();
        let held = self
            .store
            .take_lease(TERMINATION_LEASE, &self.holder, now, now + LEASE_FOR)
            .await
            .map_err(unavailable)?;
        if !held {
            return Ok(Some(state));
        }
        let interrupted = state.pending.take();
        let step = Step {
            driver: self,
            interrupted,
            now,
        };
        match state.phase {
            TerminationPhase::Started => {
                let payload = serde_json::json!({"ceremony": state.plan.ceremony_id, "plan": state.plan, "started_at": state.started_at});
                step.append_once(
                    &mut state,
                    Book::Organization,
                    "termination.started",
                    payload,
                )
                .await?;
                state.phase = TerminationPhase::Revoking;
            }
            TerminationPhase::Revoking => {
                if self.revoke_batch(&mut state).await? {
                    self.notify_all(&mut state).await?;
                    let payload = serde_json::json!({"ceremony": state.plan.ceremony_id, "revoked": state.revoked, "notices": state.notices});
                    step.append_once(&mut state, Book::Revocation, "termination.revoked", payload)
                        .await?;
                    state.phase = TerminationPhase::FinalCrl;
                }
            }
            TerminationPhase::FinalCrl => {
                self.ca.latch_termination(Some(lifetime));
                let (number, next_update) = match step
                    .written("termination.final_crl", &state)
                    .await?
                {
                    // Signed and ledgered before a stop: not signed again.
                    Some(entry) => (
                        entry.payload["crl_number"].as_u64(),
                        entry.payload["next_update"].as_str().map(str::to_owned),
                    ),
                    None => {
                        let crl = self.ca.issue_crl().await.map_err(unavailable)?;
                        let next_update = shuin_core::timefmt::rfc3339(crl.next_update);
                        let payload = serde_json::json!({"ceremony": state.plan.ceremony_id, "crl_number": crl.number, "this_update": shuin_core::timefmt::rfc3339(crl.this_update), "next_update": next_update});
                        step.append_fresh(
                            &mut state,
                            Book::Revocation,
                            "termination.final_crl",
                            payload,
                        )
                        .await?;
                        (Some(crl.number), Some(next_update))
                    }
                };
                state.final_crl_number = number;
                state.final_crl_next_update = next_update;
                state.phase = TerminationPhase::HandOver;
            }
            TerminationPhase::HandOver => {
                state.hand_over =
                    Some(match step.written("termination.completed", &state).await? {
                        // Written and ledgered before a stop.
                        Some(entry) => entry.payload["hand_over"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        None => self.hand_over(&step, &mut state).await?,
                    });
                state.phase = TerminationPhase::Completed;
            }
            TerminationPhase::Completed => {}
        }
        state.pending = None;
        save(self.store.as_ref(), &state).await?;
        Ok(Some(state))
    }

    /// Writes the hand-over export between `termination.hand_over_started` (record
    /// before effect: the books say that a copy of them and of the evidence is being
    /// written) and `termination.completed`; returns where.
    async fn hand_over(
        &self,
        step: &Step<'_>,
        state: &mut TerminationState,
    ) -> Result<String, TerminationError> {
        let name = format!("termination-{}", state.plan.ceremony_id);
        let payload = serde_json::json!({"ceremony": state.plan.ceremony_id, "name": name});
        step.append_once(
            state,
            Book::Organization,
            "termination.hand_over_started",
            payload,
        )
        .await?;
        let (place, summary) = self.hand_over.write(&name).await.map_err(unavailable)?;
        let payload = serde_json::json!({"ceremony": state.plan.ceremony_id, "revoked": state.revoked, "notices": state.notices, "final_crl_number": state.final_crl_number, "hand_over": place, "export": summary});
        step.append_fresh(state, Book::Organization, "termination.completed", payload)
            .await?;
        Ok(place)
    }

    /// Revokes up to [`REVOKE_BATCH`] valid certificates and queues their notices;
    /// true when none is left.
    async fn revoke_batch(&self, state: &mut TerminationState) -> Result<bool, TerminationError> {
        let batch = u32::try_from(REVOKE_BATCH).unwrap_or(u32::MAX);
        let serials = self
            .store
            .issued_unrevoked(batch)
            .await
            .map_err(unavailable)?;
        if serials.is_empty() {
            return Ok(true);
        }
        for serial in serials {
            let order = RevocationOrder {
                serial: serial.clone(),
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
            // Progress for `shuin status`; the counts are taken from the store at the
            // end of the phase.
            state.revoked += 1;
            if self
                .notices
                .queue(&serial, revoked_at, &state.plan)
                .await
                .map_err(TerminationError::Unavailable)?
            {
                state.notices += 1;
            }
        }
        save(self.store.as_ref(), state).await?;
        Ok(false)
    }

    /// Queues the notices a stop may have left out (the port skips those queued
    /// already), and counts what the termination revoked from the store.
    async fn notify_all(&self, state: &mut TerminationState) -> Result<(), TerminationError> {
        let revoked: Vec<_> = self
            .store
            .revocations()
            .await
            .map_err(unavailable)?
            .into_iter()
            .filter(|r| r.decided_by == TERMINATION_ACTOR)
            .collect();
        for revocation in &revoked {
            self.notices
                .queue(&revocation.serial, revocation.revoked_at, &state.plan)
                .await
                .map_err(TerminationError::Unavailable)?;
        }
        // Every certificate the termination revoked now has its notice.
        state.revoked = u64::try_from(revoked.len()).unwrap_or(u64::MAX);
        state.notices = state.revoked;
        Ok(())
    }
}

/// One tick's writing of the procedure's entries.
struct Step<'a> {
    driver: &'a TerminationDriver,
    /// The entry that was being written when the last tick stopped, if it did.
    interrupted: Option<String>,
    now: SystemTime,
}

impl Step<'_> {
    /// The entry `kind` of this termination, if a stopped tick wrote it already.
    async fn written(
        &self,
        kind: &str,
        state: &TerminationState,
    ) -> Result<Option<shuin_ledger::Entry>, TerminationError> {
        if self.interrupted.as_deref() != Some(kind) {
            return Ok(None);
        }
        let store = self.driver.store.as_ref();
        let size = store
            .ledger_head()
            .await
            .map_err(unavailable)?
            .map_or(0, |head| head.size);
        let rows = store
            .ledger_rows_from(size.saturating_sub(TAIL))
            .await
            .map_err(unavailable)?;
        for row in rows.iter().rev() {
            let entry = shuin_ledger::Entry::from_canonical(&row.canonical)
                .map_err(|e| unavailable(e.to_string()))?;
            if entry.kind == kind && entry.payload["ceremony"] == state.plan.ceremony_id.as_str() {
                return Ok(Some(entry));
            }
        }
        Ok(None)
    }

    /// Writes the entry unless a stopped tick wrote it already.
    async fn append_once(
        &self,
        state: &mut TerminationState,
        book: Book,
        kind: &str,
        payload: serde_json::Value,
    ) -> Result<(), TerminationError> {
        if self.written(kind, state).await?.is_some() {
            return Ok(());
        }
        self.append_fresh(state, book, kind, payload).await
    }

    /// Marks the entry pending in the saved state, then writes it.
    async fn append_fresh(
        &self,
        state: &mut TerminationState,
        book: Book,
        kind: &str,
        payload: serde_json::Value,
    ) -> Result<(), TerminationError> {
        state.pending = Some(kind.to_owned());
        save(self.driver.store.as_ref(), state).await?;
        self.driver
            .store
            .append(
                EntryDraft {
                    book,
                    kind: kind.into(),
                    actor: actor(),
                    subjects: vec!["business".into()],
                    payload,
                    evidence: vec![],
                },
                self.now,
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "termination_tests.rs"]
mod tests;
