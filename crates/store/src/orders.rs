//! The order queue of an RA node in a split deployment (`shuin_core::orders`, DESIGN.md
//! section 10): approved issuance and revocation orders wait here until the CA dials in
//! and takes them, and their outcomes are kept for the RA to hand back.
//!
//! Table `orders`: one row per order id (`issue:<application>`, `revoke:<serial>`), so a
//! retry names the same row and an order is never queued twice. A row is `queued`, then
//! `claimed` by one CA link until its claim runs out (a claim that runs out is taken
//! again: the CA carries an order out at most once whatever the retries), then `done`
//! with its outcome. A done order whose outcome is retryable (a sealed CA, storage
//! trouble) is queued again when the RA retries it; any other outcome is final.

use async_trait::async_trait;
use shuin_core::orders::{Answered, Order, OrderOutcome};
use std::time::SystemTime;

use crate::StoreError;

/// Where an order stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderState {
    /// Waiting for the CA (queued, or claimed by a CA link).
    Pending,
    /// Carried out or refused.
    Done(OrderOutcome),
}

/// An order with where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOrder {
    /// The order as queued.
    pub order: Order,
    /// Where it stands.
    pub state: OrderState,
}

/// An outcome to keep, and the copy of the certificate it brings (an issued order's):
/// the record (its state is ignored: the copy is kept issued) and the DER.
#[derive(Debug, Clone, Copy)]
pub struct AnswerToKeep<'a> {
    /// The outcome.
    pub answered: &'a Answered,
    /// The certificate copy, for an issued order.
    pub certificate: Option<(&'a crate::CertificateRecord, &'a [u8])>,
    /// The revocation, for a revoked order: recorded when the store holds the
    /// certificate and no revocation of it (so the node's holders see it, in a
    /// disclosure for one).
    pub revocation: Option<&'a crate::RevocationRecord>,
}

/// Counts of the queue, for status and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Orders not yet claimed (or whose claim ran out).
    pub queued: u64,
    /// Orders claimed by a CA link now.
    pub claimed: u64,
}

/// The queue.
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// Queues `order` at `now`. An order already pending stays as it is; a done one is
    /// queued again only if its outcome was retryable.
    async fn queue_order(&self, order: &Order, now: SystemTime) -> Result<(), StoreError>;
    /// Claims at most `limit` orders for `holder` until `until`, oldest first: queued
    /// ones, and claimed ones whose claim ran out by `now`.
    async fn claim_orders(
        &self,
        holder: &str,
        limit: u32,
        now: SystemTime,
        until: SystemTime,
    ) -> Result<Vec<Order>, StoreError>;
    /// Keeps the outcome of an order not yet done. False when it was already done (the
    /// first outcome stands) or is unknown.
    async fn answer_order(&self, answered: &Answered, now: SystemTime) -> Result<bool, StoreError>;
    /// Keeps a batch of outcomes, each as [`OrderStore::answer_order`], with the copies of
    /// the certificates they bring (a copy kept before stays), all in one transaction:
    /// nothing of the batch is kept unless all of it is. Returns, per answer, whether
    /// its order was pending until now.
    async fn keep_answers(
        &self,
        answers: &[AnswerToKeep<'_>],
        now: SystemTime,
    ) -> Result<Vec<bool>, StoreError>;
    /// The order `id` and where it stands; `None` if it was never queued.
    async fn order(&self, id: &str) -> Result<Option<StoredOrder>, StoreError>;
    /// The queue's depth at `now`.
    async fn queue_depth(&self, now: SystemTime) -> Result<QueueDepth, StoreError>;
}

/// An order's JSON column, read back.
pub(crate) fn order_of(body: &str) -> Result<Order, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("order: {e}")))
}

/// An outcome's JSON column, read back.
pub(crate) fn outcome_of(text: &str) -> Result<OrderOutcome, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("order outcome: {e}")))
}

/// A value as its JSON column.
pub(crate) fn json_of<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("order: {e}")))
}
