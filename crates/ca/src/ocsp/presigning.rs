//! Signing the answers: at issuance, at revocation, and in rounds scheduled from the
//! store (answers missing or signed for another status, answers past half their
//! lifetime); and writing them to the store.

use super::memory::Answer;
use super::{status_of, OcspError, OcspService};
use crate::issuance::CaStore;
use der::Encode;
use shuin_core::ocsp::{self, OcspFreshness, Status};
use shuin_core::Serial;
use shuin_store::{OcspToSign, PresignedAnswer, StoreError};
use std::sync::Arc;
use std::time::SystemTime;

/// Answers signed on one blocking task, and written to the store in one transaction.
const CHUNK: u32 = 1_000;

/// The kept answers are counted again every this many rounds (about 10 s).
const COUNT_EVERY_ROUNDS: u64 = 20;

/// Every this many rounds (about 20 minutes) memory lets its answers go and the store
/// is looked through, whatever the counts said: what anything missed is bounded.
const LOOK_AGAIN_EVERY_ROUNDS: u64 = 2_400;

/// Work this process makes on certificates, accounted for before it is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// A certificate issued.
    Issuance,
    /// A certificate revoked.
    Revocation,
}

/// Where an answer comes from, for what memory keeps of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// A certificate issued or revoked here: held in memory, the newest asked for.
    Here,
    /// A round's look through the store: held only if an older answer was.
    Round,
}

impl OcspService {
    /// Takes the store's counts as what the responder has accounted for and schedules a
    /// look through the store for certificates without an answer for their status (the
    /// first round signs them), then counts the kept answers.
    pub async fn load(&self, store: &dyn CaStore) -> Result<(), OcspError> {
        let issued = store.issued_count().await?;
        let revoked = store.revocation_generation().await?;
        {
            let mut state = self.write();
            state.accounted = (
                state.accounted.0.max(issued),
                state.accounted.1.max(revoked),
            );
            state.restart_scan();
        }
        self.count_answers().await;
        Ok(())
    }

    /// Accounts for an issuance or revocation this process is about to make, before its
    /// row is written: so the store never counts this process's work before the
    /// responder does, and whatever the store counts beyond is another process's
    /// ([`crate::ocsp_responder::StatusWatch`]). Taken back with
    /// [`OcspService::not_made`] when it failed; counting one too few only makes the
    /// responder look through the store once more.
    pub fn making(&self, work: Work) {
        let mut state = self.write();
        match work {
            Work::Issuance => state.accounted.0 += 1,
            Work::Revocation => state.accounted.1 += 1,
        }
    }

    /// Takes back what [`OcspService::making`] accounted for: the work failed.
    pub fn not_made(&self, work: Work) {
        let mut state = self.write();
        match work {
            Work::Issuance => state.accounted.0 = state.accounted.0.saturating_sub(1),
            Work::Revocation => state.accounted.1 = state.accounted.1.saturating_sub(1),
        }
    }

    /// The certificates issued and revoked that the responder has accounted for.
    pub fn accounted(&self) -> (u64, u64) {
        self.read().accounted
    }

    /// Schedules a look through the store (a signing task that failed unseen).
    pub fn look_again(&self) {
        self.write().restart_scan();
    }

    /// Another process issued or revoked (the store's counts `stored` went beyond what
    /// is accounted for): every answer in memory may be stale, so memory lets them go
    /// (after writing what was not written yet), and the next round looks through the
    /// store for what has no answer for its status.
    pub async fn changed_elsewhere(&self, stored: (u64, u64)) {
        self.flush_all().await;
        let mut state = self.write();
        state.held.clear();
        // What could not be written may say `good` of a certificate revoked elsewhere:
        // the look through the store (or the refresh) finds it again.
        state.unwritten.keep_revoked();
        state.recent.changed_elsewhere();
        state.restart_scan();
        state.accounted = (
            state.accounted.0.max(stored.0),
            state.accounted.1.max(stored.1),
        );
    }

    /// Signs the answer of a certificate just issued here, unless memory has one, so
    /// that the request path only serves. Blocking: run it off the async workers.
    /// Returns whether it signed.
    pub fn presign_issued(&self, serial: &Serial) -> bool {
        if self.in_memory(serial).is_some() {
            return false;
        }
        let read_at = self.read().recent.now();
        match self.sign_one(serial, Status::Good) {
            Ok(answer) => self.keep(serial.clone(), answer, read_at, Source::Here),
            Err(e) => {
                tracing::error!(error = %e, "could not pre-sign the OCSP answer of a new certificate");
                self.write().restart_scan();
                false
            }
        }
    }

    /// Signs the `revoked` answer of a certificate this process just revoked (its row is
    /// written), before the revocation is confirmed to whoever asked for it: from then on
    /// OCSP says what the CRL says. Any `good` answer in memory is let go first, so
    /// while the new one is signed (or, if signing fails, until a round signs it) the
    /// request path answers from the store, which serves no `good` answer for a revoked
    /// certificate (`tryLater`). Blocking: run it off the async workers. Returns whether
    /// it signed.
    pub fn presign_revoked(
        &self,
        serial: &Serial,
        at: SystemTime,
        reason: shuin_core::revocation::RevocationReason,
    ) -> bool {
        // Whole seconds, as the store keeps them.
        let at = shuin_core::clock::truncate_to_seconds(at);
        {
            let mut state = self.write();
            state.recent.revoked(serial.clone());
            state.held.remove(serial);
            state.unwritten.remove(serial);
        }
        let status = Status::Revoked {
            at,
            reason: Some(reason),
        };
        match self.sign_one(serial, status) {
            Ok(answer) => self.keep(serial.clone(), answer, 0, Source::Here),
            Err(e) => {
                tracing::error!(error = %e, "could not sign the OCSP answer of a revocation");
                self.write().restart_scan();
                false
            }
        }
    }

    /// [`OcspService::presign_revoked`] on a blocking thread, then the answer written to
    /// the store (so the nodes' feed and other processes have it): what a revocation
    /// that took effect awaits before it is confirmed. A failure is logged; the rounds
    /// catch up then.
    pub async fn answer_revocation(
        self: Arc<Self>,
        serial: Serial,
        at: SystemTime,
        reason: shuin_core::revocation::RevocationReason,
    ) {
        let signer = Arc::clone(&self);
        let signing =
            tokio::task::spawn_blocking(move || signer.presign_revoked(&serial, at, reason));
        if signing.await.is_err() {
            tracing::error!("the task signing a revocation's OCSP answer failed");
            self.look_again();
        }
        self.flush_all().await;
    }

    /// One round, at most `budget` answers signed: what is not written yet is written;
    /// then, when a look through the store is due, the certificates without an answer
    /// for their status are signed; then the answers past half their lifetime, found by
    /// the store's index. Returns how many were signed. Failures are logged: what was
    /// not signed or written is at the next round.
    pub async fn upkeep(self: &Arc<Self>, budget: usize) -> usize {
        let mut signed = 0;
        let round = {
            let mut state = self.write();
            state.rounds += 1;
            if state.rounds.is_multiple_of(LOOK_AGAIN_EVERY_ROUNDS) {
                state.held.clear();
                state.restart_scan();
            }
            state.rounds
        };
        if self.flush_all().await {
            let mut spent = 0;
            // A look that fails does not hold the refresh back.
            self.scan(budget, &mut spent, &mut signed).await;
            self.refresh(budget, &mut spent, &mut signed).await;
        }
        // Counted when answers were written since (as often as the store's counts are
        // read each round), and every ten seconds anyway.
        let written = std::mem::take(&mut self.write().written_since_count);
        if written || round % COUNT_EVERY_ROUNDS == 1 {
            self.count_answers().await;
        }
        signed
    }

    /// The look through the store, when one is due, in chunks while `spent` is within
    /// `budget`.
    async fn scan(self: &Arc<Self>, budget: usize, spent: &mut usize, signed: &mut usize) {
        while *spent < budget {
            let Some((after, generation, read_at)) = self.scan_position() else {
                break;
            };
            let rows = match self.store.ocsp_unanswered(after.as_ref(), CHUNK).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!(error = %e, "looking for certificates without an OCSP answer failed");
                    self.write().pause_scan();
                    return;
                }
            };
            let done = rows.len() < usize::try_from(CHUNK).unwrap_or(usize::MAX);
            let last = rows.last().map(|r| r.serial.clone());
            *spent += rows.len();
            let (kept, failed) = self.sign_rows(rows, read_at).await;
            *signed += kept;
            {
                let mut state = self.write();
                state.advance_scan(generation, if done { None } else { last });
                // What could not be signed is looked for again, after a pause.
                if failed {
                    state.restart_scan();
                    state.pause_scan();
                    return;
                }
            }
            if !self.flush_all().await {
                return;
            }
        }
    }

    /// Signs again the answers past half their lifetime, found by the store's index, in
    /// chunks while `spent` is within `budget`. What could not be signed or written
    /// stays due, for the next round.
    async fn refresh(self: &Arc<Self>, budget: usize, spent: &mut usize, signed: &mut usize) {
        let refresh_after = self.settings.response_lifetime / 2;
        while *spent < budget {
            let produced_by = self.clock.now() - refresh_after;
            let read_at = self.read().recent.now();
            let rows = match self.store.ocsp_due(produced_by, CHUNK).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!(error = %e, "looking for OCSP answers to refresh failed");
                    return;
                }
            };
            let done = rows.len() < usize::try_from(CHUNK).unwrap_or(usize::MAX);
            *spent += rows.len();
            let (kept, failed) = self.sign_rows(rows, read_at).await;
            *signed += kept;
            if !self.flush_all().await || failed || done {
                return;
            }
        }
    }

    /// Writes what memory signed and has not written yet, in batches, one writer at a
    /// time; whether it could. A failure is logged; the answers stay in memory until
    /// the next round.
    pub(super) async fn flush_all(&self) -> bool {
        let pending = self.read().unwritten.len();
        let batches = pending / usize::try_from(CHUNK).unwrap_or(1) + 2;
        for _ in 0..batches {
            match self.flush().await {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "writing OCSP answers to the store failed");
                    return false;
                }
            }
        }
        true
    }

    /// Writes one batch; how many.
    async fn flush(&self) -> Result<usize, StoreError> {
        let _one_writer = self.writing.lock().await;
        let batch = self
            .read()
            .unwritten
            .batch(usize::try_from(CHUNK).unwrap_or(usize::MAX));
        if batch.is_empty() {
            return Ok(0);
        }
        let rows: Vec<PresignedAnswer> = batch
            .iter()
            .map(|(serial, answer)| PresignedAnswer {
                serial: serial.clone(),
                der: answer.der.as_ref().clone(),
                revoked: answer.revoked,
                produced_at: answer.produced_at,
            })
            .collect();
        self.store.put_ocsp_answers(&rows).await?;
        let mut state = self.write();
        state.unwritten.written(&batch);
        state.written_since_count = true;
        Ok(batch.len())
    }

    /// Counts the kept answers for [`OcspService::answer_freshness`].
    pub(super) async fn count_answers(&self) {
        match self.store.ocsp_answer_count().await {
            Ok((kept, oldest)) => {
                let mut state = self.write();
                state.freshness = OcspFreshness {
                    signed: kept,
                    waiting: state.accounted.0.saturating_sub(kept),
                    earliest_next_update: oldest.map(|t| t + self.settings.response_lifetime),
                };
            }
            Err(e) => tracing::warn!(error = %e, "counting the kept OCSP answers failed"),
        }
    }

    /// Where the look through the store is, if one is due, and the read's number.
    fn scan_position(&self) -> Option<(Option<Serial>, u64, u64)> {
        let state = self.read();
        if state.rounds < state.scan_paused_until {
            return None;
        }
        let after = state.scan.clone()?;
        Some((after, state.scan_generation, state.recent.now()))
    }

    /// Signs `rows` on a blocking thread and keeps each; how many were kept, and whether
    /// any could not be signed.
    async fn sign_rows(self: &Arc<Self>, rows: Vec<OcspToSign>, read_at: u64) -> (usize, bool) {
        if rows.is_empty() {
            return (0, false);
        }
        let asked = rows.len();
        let signer = Arc::clone(self);
        let signing = tokio::task::spawn_blocking(move || {
            rows.into_iter()
                .filter_map(|row| {
                    let status = status_of(row.revoked);
                    match signer.sign_one(&row.serial, status) {
                        Ok(answer) => Some((row.serial, answer)),
                        Err(e) => {
                            tracing::error!(error = %e, "could not pre-sign an OCSP response");
                            None
                        }
                    }
                })
                .collect::<Vec<_>>()
        });
        let signed = match signing.await {
            Ok(signed) => signed,
            Err(e) => {
                tracing::error!(error = %e, "the OCSP pre-signing task failed");
                return (0, true);
            }
        };
        let failed = signed.len() < asked;
        let kept = signed
            .into_iter()
            .filter(|(serial, answer)| {
                self.keep(serial.clone(), answer.clone(), read_at, Source::Round)
            })
            .count();
        (kept, failed)
    }

    /// Keeps an answer signed from a read of statuses made at `read_at`, unless it says
    /// `good` of a certificate revoked here since (then the look through the store
    /// starts again, and finds what is still to be signed). Whether it was kept.
    pub(super) fn keep(
        &self,
        serial: Serial,
        answer: Answer,
        read_at: u64,
        source: Source,
    ) -> bool {
        let mut state = self.write();
        // A new certificate's answer is signed without a read: any revocation of it
        // remembered here came after.
        let stale = match source {
            Source::Here => state.recent.mentions(&serial),
            Source::Round => state.recent.stale(read_at, &serial),
        };
        if !answer.revoked && stale {
            state.restart_scan();
            return false;
        }
        if source == Source::Here || state.held.contains(&serial) {
            state.held.insert(serial.clone(), Arc::clone(&answer.der));
        }
        // A new certificate's answer counts at once (the next count, from the store,
        // includes it once written).
        if source == Source::Here && !answer.revoked {
            let next_update = answer.produced_at + self.settings.response_lifetime;
            state.freshness.count(Some(next_update));
        }
        state.unwritten.insert(serial, answer);
        true
    }

    /// Signs one certificate's answer, produced now.
    pub(super) fn sign_one(&self, serial: &Serial, status: Status) -> Result<Answer, OcspError> {
        let now = self.clock.now();
        let cert_id = self
            .issuer
            .cert_id(serial)
            .map_err(|e| OcspError::Responder(e.to_string()))?;
        let bad = |e: der::Error| OcspError::Responder(e.to_string());
        let next = now + self.settings.response_lifetime;
        let single = ocsp::single_response(cert_id, status, now, next).map_err(bad)?;
        let data = ocsp::response_data(&self.responder, now, vec![single]).map_err(bad)?;
        let tbs = data.to_der().map_err(bad)?;
        let signature = self
            .signer
            .sign(&tbs)
            .map_err(|e| OcspError::Responder(e.to_string()))?;
        let der =
            ocsp::assemble_response(data, self.signer.algorithm(), &signature, &self.responder)
                .map_err(bad)?;
        Ok(Answer {
            der: Arc::new(der),
            revoked: matches!(status, Status::Revoked { .. }),
            produced_at: now,
        })
    }
}

impl super::State {
    /// Schedules a look through the store from its start.
    fn restart_scan(&mut self) {
        self.scan = Some(None);
        self.scan_generation += 1;
    }

    /// Holds the look back for a few rounds after a failure (a store or key backend
    /// that fails now would fail at every round).
    fn pause_scan(&mut self) {
        self.scan_paused_until = self.rounds + COUNT_EVERY_ROUNDS;
    }

    /// Moves the look on to after `last` (`None`: it is done), unless it was started
    /// again meanwhile.
    fn advance_scan(&mut self, generation: u64, last: Option<Serial>) {
        if self.scan_generation == generation {
            self.scan = last.map(Some);
        }
    }
}
