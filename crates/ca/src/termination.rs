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
use shuin_store::{CertificateState, KeyedDraft, SettingsStore};
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

/// How long the lease is taken for. It is renewed at every tick (0.5 s), before every
/// entry and every few revocations; a tick that cannot renew it stops. A process killed
/// while holding it holds the procedure up for at most this long.
const LEASE_FOR: Duration = Duration::from_secs(30);

/// How many revocations go between two renewals of the lease.
const RENEW_EVERY: usize = 20;

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

    /// Takes or renews the lease; false while another process holds it.
    async fn renew(&self) -> Result<bool, TerminationError> {
        let now = self.ca.clock_handle().now();
        self.store
            .take_lease(TERMINATION_LEASE, &self.holder, now, now + LEASE_FOR)
            .await
            .map_err(unavailable)
    }

    /// Renews the lease, or stops the tick when another process took it.
    async fn keep(&self) -> Result<(), TerminationError> {
        if self.renew().await? {
            Ok(())
        } else {
            Err(unavailable(
                "the termination lease was taken by another process mid-tick",
            ))
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
        if state.phase == TerminationPhase::Completed || !self.renew().await? {
            return Ok(Some(state));
        }
        match state.phase {
            TerminationPhase::Started => {
                let payload = serde_json::json!({"ceremony": state.plan.ceremony_id, "plan": state.plan, "started_at": state.started_at});
                self.append_once(&state, Book::Organization, "termination.started", payload)
                    .await?;
                state.phase = TerminationPhase::Revoking;
            }
            TerminationPhase::Revoking => {
                if self.revoke_batch(&mut state).await? {
                    self.notify_all(&mut state).await?;
                    let payload = serde_json::json!({"ceremony": state.plan.ceremony_id, "revoked": state.revoked, "notices": state.notices});
                    self.append_once(&state, Book::Revocation, "termination.revoked", payload)
                        .await?;
                    state.phase = TerminationPhase::FinalCrl;
                }
            }
            TerminationPhase::FinalCrl => {
                self.ca.latch_termination(Some(lifetime));
                // Signed once: the number is kept before the entry is written, so a stop
                // in between does not sign again.
                if state.final_crl_number.is_none() {
                    let crl = self.ca.issue_crl().await.map_err(unavailable)?;
                    state.final_crl_number = Some(crl.number);
                    state.final_crl_this_update =
                        Some(shuin_core::timefmt::rfc3339(crl.this_update));
                    state.final_crl_next_update =
                        Some(shuin_core::timefmt::rfc3339(crl.next_update));
                    save(self.store.as_ref(), &state).await?;
                }
                let payload = serde_json::json!({"ceremony": state.plan.ceremony_id, "crl_number": state.final_crl_number, "this_update": state.final_crl_this_update, "next_update": state.final_crl_next_update});
                self.append_once(&state, Book::Revocation, "termination.final_crl", payload)
                    .await?;
                state.phase = TerminationPhase::HandOver;
            }
            TerminationPhase::HandOver => {
                self.hand_over(&mut state).await?;
                state.phase = TerminationPhase::Completed;
            }
            TerminationPhase::Completed => {}
        }
        // A tick that lost the lease meanwhile does not overwrite the newer state.
        self.keep().await?;
        save(self.store.as_ref(), &state).await?;
        Ok(Some(state))
    }

    /// Writes the entry `kind` of this termination once: keyed by the ceremony and the
    /// kind, so that the append after a stop is skipped if the first one was written.
    async fn append_once(
        &self,
        state: &TerminationState,
        book: Book,
        kind: &str,
        payload: serde_json::Value,
    ) -> Result<(), TerminationError> {
        self.keep().await?;
        let key = format!("termination:{}:{kind}", state.plan.ceremony_id);
        self.store
            .append_batch(
                vec![KeyedDraft {
                    key: Some(key),
                    draft: EntryDraft {
                        book,
                        kind: kind.into(),
                        actor: actor(),
                        subjects: vec!["business".into()],
                        payload,
                        evidence: vec![],
                    },
                }],
                self.ca.clock_handle().now(),
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Writes the hand-over export between `termination.hand_over_started` (record
    /// before effect: the books say that a copy of them and of the evidence is being
    /// written) and `termination.completed`; returns where.
    async fn hand_over(&self, state: &mut TerminationState) -> Result<(), TerminationError> {
        // Written once: where and what are kept before the last entry, so a stop in
        // between does not write the export again (the entry then matches it).
        if state.hand_over.is_none() {
            // Named after the ceremony (unique on an instance, and already a file name).
            let name = state.plan.ceremony_id.clone();
            let payload = serde_json::json!({"ceremony": state.plan.ceremony_id, "name": name});
            self.append_once(
                state,
                Book::Organization,
                "termination.hand_over_started",
                payload,
            )
            .await?;
            let (place, summary) = self.hand_over.write(&name).await.map_err(unavailable)?;
            state.hand_over = Some(place);
            state.hand_over_summary = Some(summary);
            self.keep().await?;
            save(self.store.as_ref(), state).await?;
        }
        let payload = serde_json::json!({"ceremony": state.plan.ceremony_id, "revoked": state.revoked, "notices": state.notices, "final_crl_number": state.final_crl_number, "hand_over": state.hand_over, "export": state.hand_over_summary});
        self.append_once(state, Book::Organization, "termination.completed", payload)
            .await
    }

    /// Revokes up to [`REVOKE_BATCH`] valid certificates after the state's cursor and
    /// queues their notices; true when none is left: a pass from the cursor found none,
    /// then a pass over all of them did too (a certificate an issuance in flight
    /// completed meanwhile may sort before the cursor), and no reservation is open.
    async fn revoke_batch(&self, state: &mut TerminationState) -> Result<bool, TerminationError> {
        let batch = u32::try_from(REVOKE_BATCH).unwrap_or(u32::MAX);
        let after = state
            .cursor
            .as_deref()
            .and_then(shuin_core::Serial::from_hex);
        // The pass from the start looks at open reservations first: an issuance that
        // completes after this look shows in the pass; one that reserves after it sees
        // the termination and gives its reservation up.
        if after.is_none() {
            let open = self
                .store
                .certificates_in_state(CertificateState::Reserved)
                .await
                .map_err(unavailable)?;
            if !open.is_empty() {
                return Ok(false);
            }
        }
        let serials = self
            .store
            .issued_unrevoked(after.as_ref(), batch)
            .await
            .map_err(unavailable)?;
        if serials.is_empty() {
            if state.cursor.take().is_some() {
                // From the start once more before the phase may end.
                save(self.store.as_ref(), state).await?;
                return Ok(false);
            }
            return Ok(true);
        }
        for (index, serial) in serials.into_iter().enumerate() {
            if index % RENEW_EVERY == 0 {
                self.keep().await?;
            }
            state.cursor = Some(serial.to_hex());
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
        for (index, revocation) in revoked.iter().enumerate() {
            if index % RENEW_EVERY == 0 {
                self.keep().await?;
            }
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

#[cfg(test)]
#[path = "termination_tests.rs"]
mod tests;
