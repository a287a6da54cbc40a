//! The RA's side of the order stream of a split deployment (`shuin_core::orders`, DESIGN.md
//! section 10). The CA listens on no network port: an RA node queues approved orders in
//! its store ([`QueuedCa`] is its `Issuer` and `Revoker`), the CA dials in and takes them
//! in batches ([`OrderDesk::take`]), and hands the outcomes back ([`OrderDesk::answer`]).
//!
//! - Record before effect: `order.queued` is in the RA's books before the order can be
//!   taken, and `orders.answered` before an outcome is kept or a certificate handed on.
//! - A certificate coming back is checked before anything uses it: issued by the issuing
//!   CA (name and signature) for the key of the order. A link that answers anything else
//!   is refused and logged; the order stays pending.
//! - Orders are idempotent (`issue:<application>`, `revoke:<serial>`): a retry after any
//!   failure names the same order, so the CA never issues twice.
//! - The CA's word that the business is terminated comes with the takes
//!   ([`PeerOrders::keep_termination`]): ledgered (`termination.received`) and then kept,
//!   after which the node refuses applications as the CA does (`business_terminated`).

use crate::application::system_actor;
use shuin_core::issuance::{IssuanceError, IssuanceOrder, IssuedCertificate, Issuer};
use shuin_core::orders::{Answered, Batch, Order, OrderOutcome};
use shuin_core::revocation::{RevocationDone, RevocationPortError, RevocationRequest, Revoker};
use shuin_core::Clock;
use shuin_ledger::{Book, EntryDraft};
use shuin_store::{
    AnswerToKeep, CertificateWriter, CrlRecord, CrlStore, LedgerStore, OrderState, OrderStore,
    SettingsStore, StoreError,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// What an RA node's store must offer the order stream (and its peer listener's copy of
/// the operator CA's CRL).
pub trait OrderQueueStore:
    OrderStore + LedgerStore + CertificateWriter + CrlStore + SettingsStore
{
}
impl<T: OrderStore + LedgerStore + CertificateWriter + CrlStore + SettingsStore> OrderQueueStore
    for T
{
}

/// The node's record that the CA terminated the business (docs/termination.md).
pub const TERMINATION_RECEIVED: &str = "termination.received";
/// The node's record of a batch of the CA's answers to its orders.
pub const ORDERS_ANSWERED: &str = "orders.answered";

/// A CA that has not taken orders for this long counts as gone.
pub const LINK_SILENCE: Duration = Duration::from_secs(10);
/// How long a claim lasts before another take may have the order again.
pub const CLAIM_FOR: Duration = Duration::from_secs(30);
/// How often a waiting applicant looks in the store for an outcome that did not reach
/// this process (another RA node on the same store kept it).
pub const STORE_POLL: Duration = Duration::from_millis(250);

/// What this RA node knows of the CA link: when a CA last took orders and whether it said
/// it was sealed, and wake-ups for both sides of this process.
#[derive(Debug, Default)]
pub struct CaLink {
    last: Mutex<Option<(SystemTime, bool)>>,
    queued: tokio::sync::Notify,
    answered: tokio::sync::Notify,
    /// The outcomes awaited in this process, by order id: filled when the answer reaches
    /// this process, so that a waiting applicant needs no query to learn it.
    awaited: Mutex<HashMap<String, Option<OrderOutcome>>>,
}

impl CaLink {
    /// A CA took orders at `at`, sealed or not.
    pub fn seen(&self, at: SystemTime, sealed: bool) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((at, sealed));
    }

    /// Someone in this process waits for the outcome of order `id`.
    fn await_outcome(&self, id: &str) {
        self.awaited_map().insert(id.to_owned(), None);
    }

    /// The outcome of order `id` reached this process (kept only if someone waits).
    fn deliver(&self, id: &str, outcome: &OrderOutcome) {
        if let Some(slot) = self.awaited_map().get_mut(id) {
            *slot = Some(outcome.clone());
        }
    }

    /// The outcome delivered for `id`, if any; the wait ends with it.
    fn delivered(&self, id: &str) -> Option<OrderOutcome> {
        let mut awaited = self.awaited_map();
        let outcome = awaited.get_mut(id)?.take()?;
        awaited.remove(id);
        Some(outcome)
    }

    /// Nobody waits for `id` any more.
    fn stop_awaiting(&self, id: &str) {
        self.awaited_map().remove(id);
    }

    fn awaited_map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<OrderOutcome>>> {
        self.awaited.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether orders can be carried out now: `Sealed` when the CA said so, unavailable
    /// when no CA has taken orders for [`LINK_SILENCE`].
    pub fn ready(&self, now: SystemTime) -> Result<(), IssuanceError> {
        let last = *self.last.lock().unwrap_or_else(|p| p.into_inner());
        match last {
            Some((at, sealed)) if now.duration_since(at).unwrap_or_default() < LINK_SILENCE => {
                if sealed {
                    Err(IssuanceError::Sealed)
                } else {
                    Ok(())
                }
            }
            _ => Err(IssuanceError::Unavailable(
                "no CA has taken orders from this RA node lately (the CA link is down)".into(),
            )),
        }
    }
}

/// The RA node's `Issuer` and `Revoker`: queues the order and waits for its outcome.
pub struct QueuedCa<S> {
    store: Arc<S>,
    clock: Arc<dyn Clock>,
    link: Arc<CaLink>,
    wait: Duration,
}

#[async_trait::async_trait]
impl<S: OrderQueueStore + 'static> shuin_core::orders::OrderQueueReport for QueuedCa<S> {
    async fn depth(&self) -> Result<(u64, u64), String> {
        let depth = self.store.queue_depth(self.clock.now()).await;
        depth
            .map(|d| (d.queued, d.claimed))
            .map_err(|e| e.to_string())
    }
}

impl<S: OrderQueueStore> QueuedCa<S> {
    /// Waits up to `wait` for each outcome; past it the order stays queued and the caller
    /// gets a retryable answer (the resume loop completes the application later).
    pub fn new(store: Arc<S>, clock: Arc<dyn Clock>, link: Arc<CaLink>, wait: Duration) -> Self {
        QueuedCa {
            store,
            clock,
            link,
            wait,
        }
    }

    /// Ledgers and queues `order`, then waits for its outcome.
    async fn carry(&self, order: Order, subject: String) -> Result<OrderOutcome, StoreError> {
        let id = order.id();
        let draft = EntryDraft {
            book: Book::Application,
            kind: "order.queued".into(),
            actor: system_actor(),
            subjects: vec![subject],
            payload: serde_json::json!({"order": id}),
            evidence: vec![],
        };
        let now = self.clock.now();
        self.store.append(draft, now).await?;
        self.link.await_outcome(&id);
        let waited = async {
            self.store.queue_order(&order, now).await?;
            self.link.queued.notify_waiters();
            self.outcome_of(&id).await
        }
        .await;
        self.link.stop_awaiting(&id);
        waited
    }

    /// The outcome as it reaches this process, or as the store has it (an earlier try's
    /// answer, or one that reached another RA node on the same store), looked up at once
    /// and then every [`STORE_POLL`].
    async fn outcome_of(&self, id: &str) -> Result<OrderOutcome, StoreError> {
        let deadline = tokio::time::Instant::now() + self.wait;
        let mut next_look = tokio::time::Instant::now();
        loop {
            let answered = self.link.answered.notified();
            if let Some(outcome) = self.link.delivered(id) {
                return Ok(outcome);
            }
            if tokio::time::Instant::now() >= next_look {
                if let Some(stored) = self.store.order(id).await? {
                    if let OrderState::Done(outcome) = stored.state {
                        return Ok(outcome);
                    }
                }
                next_look = tokio::time::Instant::now() + STORE_POLL;
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(OrderOutcome::Refused {
                    code: "ca_unavailable".into(),
                    detail: format!(
                        "the CA has not answered within {:?}; the order stays queued",
                        self.wait
                    ),
                    retryable: true,
                });
            }
            tokio::select! {
                () = answered => {}
                () = tokio::time::sleep_until(next_look.min(deadline)) => {}
            }
        }
    }
}

#[async_trait::async_trait]
impl<S: OrderQueueStore + 'static> Issuer for QueuedCa<S> {
    async fn issue(&self, order: IssuanceOrder) -> Result<IssuedCertificate, IssuanceError> {
        let subject = format!("application:{}", order.application_id);
        let outcome = self
            .carry(Order::issue(&order), subject)
            .await
            .map_err(|e| IssuanceError::Unavailable(Box::new(e)))?;
        outcome.to_issuance()
    }

    fn ready(&self) -> Result<(), IssuanceError> {
        self.link.ready(self.clock.now())
    }
}

#[async_trait::async_trait]
impl<S: OrderQueueStore + 'static> Revoker for QueuedCa<S> {
    async fn revoke(
        &self,
        request: RevocationRequest,
    ) -> Result<RevocationDone, RevocationPortError> {
        let unavailable = |e: StoreError| RevocationPortError::Unavailable(Box::new(e));
        // A certificate whose revocation order was carried out already (by its holder,
        // an LRA or the J-LIS follow-up) is revoked already: another request, with its
        // own reason, is not merged into that one. The same request again (after an
        // answer that did not come in time) gets that order's outcome.
        let order = Order::revoke(&request);
        let id = shuin_core::orders::revoke_id(&request.serial);
        let mut another_pending = false;
        if let Some(stored) = self.store.order(&id).await.map_err(unavailable)? {
            if let OrderState::Done(outcome @ OrderOutcome::Revoked { revoked_at, .. }) =
                &stored.state
            {
                if stored.order == order {
                    return match outcome.to_revocation() {
                        // It found the certificate revoked by another, as then.
                        Ok(done) if done.crl_number == 0 => {
                            Err(RevocationPortError::AlreadyRevoked {
                                revoked_at: done.revoked_at,
                            })
                        }
                        other => other,
                    };
                }
                return Err(RevocationPortError::AlreadyRevoked {
                    revoked_at: shuin_core::orders::from_unix(*revoked_at)
                        .map_err(|e| RevocationPortError::Unavailable(e.0.into()))?,
                });
            }
            // Another request's order of this certificate is on its way: this one waits
            // for its outcome, which is not this request's (its reason, its author).
            another_pending = stored.state == OrderState::Pending && stored.order != order;
        }
        let subject = format!("serial:{}", request.serial);
        let outcome = self.carry(order, subject).await.map_err(unavailable)?;
        match outcome.to_revocation() {
            // The CA found it revoked already, or another request's order revoked it.
            Ok(done) if done.crl_number == 0 || another_pending => {
                Err(RevocationPortError::AlreadyRevoked {
                    revoked_at: done.revoked_at,
                })
            }
            other => other,
        }
    }
}

/// Why an answer from the CA link was not kept.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotKept {
    /// The order.
    pub id: String,
    /// `unknown_order`, `certificate_not_for_order`, `already_answered`.
    pub code: &'static str,
}

/// The peer side of the queue: what the CA link calls.
pub struct OrderDesk<S> {
    store: Arc<S>,
    clock: Arc<dyn Clock>,
    link: Arc<CaLink>,
    /// DER of the issuing CA certificate, which every certificate coming back must name.
    issuing_der: Vec<u8>,
    /// The operator CA certificate and the scope its CRL is kept under.
    operator_ca: Option<(Vec<u8>, String)>,
}

impl<S: OrderQueueStore> OrderDesk<S> {
    /// The desk of an RA node whose subscriber certificates `issuing_der` issues.
    pub fn new(
        store: Arc<S>,
        clock: Arc<dyn Clock>,
        link: Arc<CaLink>,
        issuing_der: Vec<u8>,
    ) -> Self {
        OrderDesk {
            store,
            clock,
            link,
            issuing_der,
            operator_ca: None,
        }
    }

    /// Keeps the operator CA's CRLs that the CA's link hands over (signed by `ca_der`)
    /// under `scope`, where the peer listener reads them.
    pub fn with_operator_ca(mut self, ca_der: Vec<u8>, scope: &str) -> Self {
        self.operator_ca = Some((ca_der, scope.to_owned()));
        self
    }
}

/// The peer side of the queue as the CA link's transport sees it.
#[async_trait::async_trait]
pub trait PeerOrders: Send + Sync {
    /// Claims at most `max` orders for the CA link `holder`, which reports whether it is
    /// sealed; waits up to `wait` for one when none is queued.
    async fn take(
        &self,
        holder: &str,
        sealed: bool,
        max: usize,
        wait: Duration,
    ) -> Result<Batch, StoreError>;

    /// Keeps the outcomes the CA link hands back (see [`OrderDesk`]); returns the answers
    /// not kept, with why.
    async fn answer(&self, answers: Vec<Answered>) -> Result<Vec<NotKept>, StoreError>;

    /// Keeps `crl_der`, if given, as the operator CA's CRL when the operator CA signed it
    /// and its number is above the one held; returns the number held after.
    async fn operator_crl(&self, crl_der: Option<&[u8]>) -> Result<Option<u64>, StoreError>;

    /// Keeps the CA's termination record `record` (JSON, as the CA keeps it), if given
    /// and the node holds none yet: `termination.received` is ledgered first, then the
    /// node refuses applications. A record that is not JSON is refused
    /// (`Ok(false)`, logged). Returns whether the node holds one now.
    async fn keep_termination(&self, record: Option<&str>) -> Result<bool, StoreError>;
}

#[async_trait::async_trait]
impl<S: OrderQueueStore + 'static> PeerOrders for OrderDesk<S> {
    async fn take(
        &self,
        holder: &str,
        sealed: bool,
        max: usize,
        wait: Duration,
    ) -> Result<Batch, StoreError> {
        let limit = u32::try_from(max.clamp(1, shuin_core::orders::MAX_BATCH)).unwrap_or(1);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let queued = self.link.queued.notified();
            let now = self.clock.now();
            self.link.seen(now, sealed);
            let orders = self
                .store
                .claim_orders(holder, limit, now, now + CLAIM_FOR)
                .await?;
            if !orders.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(Batch { orders });
            }
            // Another node's orders show up on the next look.
            tokio::select! {
                () = queued => {}
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }

    /// Each answer is checked, the kept ones are ledgered in one entry before any takes
    /// effect, then kept with the certificates' copies in one transaction.
    async fn answer(&self, answers: Vec<Answered>) -> Result<Vec<NotKept>, StoreError> {
        let mut kept = Vec::new();
        let mut refused = Vec::new();
        for answered in answers {
            match self.check(&answered).await? {
                Ok((copy, revoked)) => kept.push((answered, copy, revoked)),
                Err(code) => refused.push(NotKept {
                    id: answered.id,
                    code,
                }),
            }
        }
        if kept.is_empty() {
            return Ok(refused);
        }
        let now = self.clock.now();
        let listed: Vec<_> = kept
            .iter()
            .map(|(a, _, r)| summary(a, r.as_ref()))
            .collect();
        let draft = EntryDraft {
            book: Book::Application,
            kind: ORDERS_ANSWERED.into(),
            actor: system_actor(),
            subjects: kept
                .iter()
                .map(|(a, _, _)| format!("order:{}", a.id))
                .collect(),
            payload: serde_json::json!({"answers": listed}),
            evidence: vec![],
        };
        self.store.append(draft, now).await?;
        let batch: Vec<AnswerToKeep<'_>> = kept
            .iter()
            .map(|(answered, copy, revoked)| AnswerToKeep {
                answered,
                certificate: copy.as_ref().map(|c| (&c.record, c.der.as_slice())),
                revocation: revoked.as_ref().and_then(|r| r.record.as_ref()),
            })
            .collect();
        let fresh = self.store.keep_answers(&batch, now).await?;
        for ((answered, _, _), fresh) in kept.into_iter().zip(fresh) {
            if fresh {
                self.link.deliver(&answered.id, &answered.outcome);
            } else {
                refused.push(NotKept {
                    id: answered.id,
                    code: "already_answered",
                });
            }
        }
        self.link.answered.notify_waiters();
        Ok(refused)
    }

    async fn keep_termination(&self, record: Option<&str>) -> Result<bool, StoreError> {
        use shuin_core::termination::TERMINATION_SETTING;
        if self.store.setting(TERMINATION_SETTING).await?.is_some() {
            return Ok(true);
        }
        let Some(record) = record else {
            return Ok(false);
        };
        let Ok(parsed) = serde_json::from_str::<serde_json::Value>(record) else {
            tracing::warn!("the CA's link sent a termination record that is not JSON; refused");
            return Ok(false);
        };
        let draft = EntryDraft {
            book: Book::Facility,
            kind: TERMINATION_RECEIVED.into(),
            actor: system_actor(),
            subjects: vec!["business:termination".into()],
            payload: serde_json::json!({"termination": parsed}),
            evidence: vec![],
        };
        // Keyed: two nodes on one store, or a stop before the setting is kept, write it
        // once.
        let keyed = shuin_store::KeyedDraft {
            key: Some(TERMINATION_RECEIVED.into()),
            draft,
        };
        self.store
            .append_batch(vec![keyed], self.clock.now())
            .await?;
        self.store.set_setting(TERMINATION_SETTING, record).await?;
        tracing::warn!("the CA terminated the certification business: this node accepts no application from now on");
        Ok(true)
    }

    async fn operator_crl(&self, crl_der: Option<&[u8]>) -> Result<Option<u64>, StoreError> {
        let Some((ca_der, scope)) = &self.operator_ca else {
            return Ok(None);
        };
        let held = self.store.latest_crl(scope).await?.map(|crl| crl.number);
        let Some(der) = crl_der else {
            return Ok(held);
        };
        let facts = match shuin_core::x509::issued::check_crl_issued_by(der, ca_der) {
            Ok(facts) => facts,
            Err(e) => {
                tracing::warn!(error = %e, "an operator CRL from the CA's link is not the operator CA's; it is not kept");
                return Ok(held);
            }
        };
        if held.is_some_and(|number| number >= facts.number) {
            return Ok(held);
        }
        let record = CrlRecord {
            scope: scope.clone(),
            number: facts.number,
            this_update: facts.this_update,
            next_update: facts.next_update,
            der: der.to_vec(),
        };
        match self.store.put_crl(&record).await {
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        tracing::info!(
            number = facts.number,
            "kept the operator CA's new CRL from the CA's link"
        );
        Ok(Some(facts.number))
    }
}

impl<S: OrderQueueStore> OrderDesk<S> {
    /// Whether `answered` answers a pending order of this node, and the certificate to copy.
    /// The answer checked against its order: the certificate's copy to keep (an issued
    /// order), and what a revocation order said (its reason and authorisation, for the
    /// entry: the holders' notices at the node read them).
    async fn check(
        &self,
        answered: &Answered,
    ) -> Result<Result<(Option<CertificateCopy>, Option<RevokeDetails>), &'static str>, StoreError>
    {
        let Some(stored) = self.store.order(&answered.id).await? else {
            return Ok(Err("unknown_order"));
        };
        if matches!(stored.state, OrderState::Done(_)) {
            return Ok(Err("already_answered"));
        }
        Ok(match (&stored.order, &answered.outcome) {
            (Order::Issue(order), OrderOutcome::Issued { .. }) => {
                let issued = answered.outcome.to_issuance();
                match issued.ok().and_then(|c| self.certificate_for(order, c)) {
                    Some(copy) => Ok((Some(copy), None)),
                    None => Err("certificate_not_for_order"),
                }
            }
            (Order::Revoke(order), OrderOutcome::Revoked { .. }) => Ok((
                None,
                Some(RevokeDetails {
                    reason: order.reason.name(),
                    authorisation: order.authorisation.clone(),
                    record: revocation_record(order, &answered.outcome),
                }),
            )),
            (_, OrderOutcome::Refused { .. }) => Ok((None, None)),
            _ => Err("outcome_not_for_order"),
        })
    }

    /// The copy of `issued` to keep, if the issuing CA issued it for the order's key.
    fn certificate_for(
        &self,
        order: &shuin_core::orders::IssueOrder,
        issued: IssuedCertificate,
    ) -> Option<CertificateCopy> {
        use der::Encode;
        let cert =
            shuin_core::x509::issued::check_issued_by(&issued.certificate_der, &self.issuing_der)
                .ok()?;
        let tbs = &cert.tbs_certificate;
        let spki = tbs.subject_public_key_info.to_der().ok()?;
        let serial = shuin_core::Serial::from_der_integer(tbs.serial_number.as_bytes())?;
        if hex::encode(&spki) != order.spki_der.to_ascii_lowercase() || serial != issued.serial {
            return None;
        }
        let tbs_der = tbs.to_der().ok()?;
        Some(CertificateCopy {
            record: shuin_store::CertificateRecord {
                serial,
                application_id: order.application_id.clone(),
                key_fingerprint: shuin_core::key_policy::key_fingerprint(&spki),
                tbs_sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&tbs_der)),
                state: shuin_store::CertificateState::Reserved,
                not_before: shuin_core::x509::time::to_system_time(&tbs.validity.not_before),
                not_after: shuin_core::x509::time::to_system_time(&tbs.validity.not_after),
                der: None,
            },
            der: issued.certificate_der,
        })
    }
}

/// A certificate from the CA, as this node keeps it.
struct CertificateCopy {
    record: shuin_store::CertificateRecord,
    der: Vec<u8>,
}

/// One answer as `orders.answered` lists it.
/// What a revocation order said, kept with its answer in `orders.answered`, and the
/// revocation the node records.
struct RevokeDetails {
    reason: &'static str,
    authorisation: String,
    record: Option<shuin_store::RevocationRecord>,
}

/// The revocation the CA carried out for `order`, as the node's store keeps it; `None`
/// when the CA found the certificate revoked already (CRL number 0: that earlier
/// revocation's reason and author are not this order's), or a time is out of range.
fn revocation_record(
    order: &shuin_core::orders::RevokeOrder,
    outcome: &OrderOutcome,
) -> Option<shuin_store::RevocationRecord> {
    let OrderOutcome::Revoked {
        revoked_at,
        crl_number,
    } = outcome
    else {
        return None;
    };
    if *crl_number == 0 {
        return None;
    }
    let invalidity_date = match order.invalidity_date {
        Some(secs) => Some(shuin_core::orders::from_unix(secs).ok()?),
        None => None,
    };
    Some(shuin_store::RevocationRecord {
        serial: shuin_core::Serial::from_hex(&order.serial)?,
        revoked_at: shuin_core::orders::from_unix(*revoked_at).ok()?,
        reason: order.reason,
        invalidity_date,
        decided_by: order.decided_by.clone(),
    })
}

fn summary(answered: &Answered, revoked: Option<&RevokeDetails>) -> serde_json::Value {
    match &answered.outcome {
        OrderOutcome::Issued { serial, .. } => {
            serde_json::json!({"order": answered.id, "outcome": "issued", "serial": serial})
        }
        OrderOutcome::Revoked { revoked_at, .. } => {
            let mut listed = serde_json::json!({"order": answered.id, "outcome": "revoked", "revoked_at": revoked_at});
            if let Some(details) = revoked {
                listed["reason"] = details.reason.into();
                listed["authorisation"] = details.authorisation.clone().into();
            }
            listed
        }
        OrderOutcome::Refused {
            code, retryable, ..
        } => {
            serde_json::json!({"order": answered.id, "outcome": "refused", "code": code, "retryable": retryable})
        }
    }
}

#[cfg(test)]
#[path = "orders_tests.rs"]
mod tests;
