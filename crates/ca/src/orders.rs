//! The CA's side of the order stream of a split deployment (`shuin_core::orders`,
//! DESIGN.md section 10): the batches a CA link took from an RA node are carried out here,
//! each order at most once whatever the retries.
//!
//! - Record before effect: `orders.received` (the RA node, each order's id and the
//!   SHA-256 of its JSON) is in the CA's books before any order of the batch is carried
//!   out. If it cannot be written, every order is answered retryable and nothing happens.
//! - Idempotent: an issuance order whose application already has a certificate for the
//!   same key is answered with that certificate, never issued again; an open reservation
//!   is answered retryable (reconciliation settles it); a revocation already made is
//!   answered with its time.

use sha2::{Digest, Sha256};
use shuin_core::issuance::{IssuanceError, IssuedCertificate, Issuer};
use shuin_core::orders::{Answered, Order, OrderDesk, OrderOutcome};
use shuin_core::revocation::{RevocationDone, RevocationPortError, RevocationRequest, Revoker};
use shuin_core::Clock;
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{CertificateReader, CertificateState, CrlStore, LedgerStore, RevocationStore};
use std::sync::Arc;

/// What the CA's desk reads and writes.
pub trait OrderBooks: CertificateReader + LedgerStore + RevocationStore + CrlStore {}
impl<T: CertificateReader + LedgerStore + RevocationStore + CrlStore> OrderBooks for T {}

/// The CA's record of the answers an RA node refused to keep (docs/ledger.md).
pub const ORDERS_NOT_KEPT: &str = "orders.not_kept";

/// The CA as it records its orders.
fn ca_link_actor() -> Actor {
    Actor {
        name: "shuin-ca".into(),
        role: "system".into(),
        zone: "high_security".into(),
    }
}

/// Carries out the orders of one RA node.
#[derive(Clone)]
pub struct CaOrderDesk {
    issuer: Arc<dyn Issuer>,
    revoker: Arc<dyn Revoker>,
    books: Arc<dyn OrderBooks>,
    clock: Arc<dyn Clock>,
    chain_der: Vec<Vec<u8>>,
    ra_node: String,
}

impl CaOrderDesk {
    /// The desk for orders from `ra_node` (as the books name it), issuing with `issuer`
    /// (the chain above its certificates is `chain_der`) and revoking with `revoker`.
    pub fn new(
        issuer: Arc<dyn Issuer>,
        revoker: Arc<dyn Revoker>,
        books: Arc<dyn OrderBooks>,
        clock: Arc<dyn Clock>,
        chain_der: Vec<Vec<u8>>,
        ra_node: String,
    ) -> Self {
        CaOrderDesk {
            issuer,
            revoker,
            books,
            clock,
            chain_der,
            ra_node,
        }
    }

    /// Writes `orders.received` for the batch.
    async fn receive(&self, orders: &[Order]) -> Result<(), shuin_store::StoreError> {
        let listed: Vec<_> = orders
            .iter()
            .map(|order| {
                let json = serde_json::to_vec(order).unwrap_or_default();
                serde_json::json!({"order": order.id(), "sha256": hex::encode(Sha256::digest(&json))})
            })
            .collect();
        let draft = EntryDraft {
            book: Book::Application,
            kind: "orders.received".into(),
            actor: ca_link_actor(),
            subjects: vec![format!("ra_node:{}", self.ra_node)],
            payload: serde_json::json!({"from": self.ra_node, "orders": listed}),
            evidence: vec![],
        };
        self.books.append(draft, self.clock.now()).await.map(|_| ())
    }

    async fn carry_one(&self, order: Order) -> OrderOutcome {
        match order {
            Order::Issue(wire) => {
                let Ok(order) = wire.to_port() else {
                    return malformed();
                };
                let result = match self.issued_before(&order).await {
                    Ok(Some(answer)) => answer,
                    Ok(None) => self.issuer.issue(order).await,
                    Err(e) => Err(e),
                };
                OrderOutcome::of_issuance(&result)
            }
            Order::Revoke(wire) => {
                let Ok(request) = wire.to_port() else {
                    return malformed();
                };
                let result = match self.revoker.revoke(request.clone()).await {
                    Err(RevocationPortError::AlreadyRevoked { revoked_at }) => {
                        self.revoked_before(&request, revoked_at).await
                    }
                    other => other,
                };
                OrderOutcome::of_revocation(&result)
            }
        }
    }

    /// A revocation found made already: this order's own, carried out by an earlier try
    /// whose answer did not reach the node (the same reason, author and invalidity
    /// date), is answered as done, with the CA's newest CRL; another's stays
    /// `AlreadyRevoked`.
    async fn revoked_before(
        &self,
        request: &RevocationRequest,
        revoked_at: std::time::SystemTime,
    ) -> Result<RevocationDone, RevocationPortError> {
        let already = Err(RevocationPortError::AlreadyRevoked { revoked_at });
        let unavailable =
            |e: shuin_store::StoreError| RevocationPortError::Unavailable(Box::new(e));
        let Some(record) = self
            .books
            .revocation(&request.serial)
            .await
            .map_err(unavailable)?
        else {
            return already;
        };
        let same = record.reason == request.reason
            && record.decided_by == request.decided_by
            && record.invalidity_date == request.invalidity_date;
        if !same {
            return already;
        }
        let crl = self.books.latest_crl("ca").await.map_err(unavailable)?;
        Ok(RevocationDone {
            revoked_at: record.revoked_at,
            // A CRL number is never 0 (that says "revoked by another"), so one the CA has
            // not kept yet reads as 1.
            crl_number: crl.map_or(1, |c| c.number.max(1)),
        })
    }

    /// The answer an earlier try already gave for this application's key, if any.
    async fn issued_before(
        &self,
        order: &shuin_core::issuance::IssuanceOrder,
    ) -> Result<Option<Result<IssuedCertificate, IssuanceError>>, IssuanceError> {
        let fingerprint = shuin_core::key_policy::key_fingerprint(&order.spki_der);
        let certificates = self
            .books
            .certificates_of_application(&order.application_id)
            .await
            .map_err(|e| IssuanceError::Unavailable(Box::new(e)))?;
        let same_key = certificates
            .into_iter()
            .filter(|c| c.key_fingerprint == fingerprint);
        for certificate in same_key {
            match (certificate.state, certificate.der) {
                (CertificateState::Issued, Some(der)) => {
                    return Ok(Some(Ok(IssuedCertificate {
                        serial: certificate.serial,
                        certificate_der: der,
                        chain_der: self.chain_der.clone(),
                    })))
                }
                (CertificateState::Reserved, _) => {
                    return Ok(Some(Err(IssuanceError::Unavailable(
                        "an earlier try of this order is still open; reconciliation settles it"
                            .into(),
                    ))))
                }
                _ => {}
            }
        }
        Ok(None)
    }
}

fn malformed() -> OrderOutcome {
    OrderOutcome::Refused {
        code: "malformed_order".into(),
        detail: "the order cannot be read".into(),
        retryable: false,
    }
}

#[async_trait::async_trait]
impl OrderDesk for CaOrderDesk {
    /// `orders.not_kept`: what the RA node refused of the CA's answers (logged if the
    /// books cannot take it).
    async fn not_kept(&self, refused: &[(String, String)]) {
        if refused.is_empty() {
            return;
        }
        let listed: Vec<_> = refused
            .iter()
            .map(|(order, code)| serde_json::json!({"order": order, "code": code}))
            .collect();
        let draft = EntryDraft {
            book: Book::Application,
            kind: ORDERS_NOT_KEPT.into(),
            actor: ca_link_actor(),
            subjects: vec![format!("ra_node:{}", self.ra_node)],
            payload: serde_json::json!({"from": self.ra_node, "answers": listed}),
            evidence: vec![],
        };
        if let Err(e) = self.books.append(draft, self.clock.now()).await {
            tracing::error!(error = %e, "answers the RA node did not keep cannot be recorded");
        }
    }

    async fn carry_out(&self, orders: Vec<Order>) -> Vec<Answered> {
        if let Err(e) = self.receive(&orders).await {
            tracing::error!(error = %e, "the CA's books cannot record a batch of orders; none is carried out");
            let outcome = OrderOutcome::Refused {
                code: "ca_unavailable".into(),
                detail: "the CA's books cannot record the batch".into(),
                retryable: true,
            };
            return orders
                .iter()
                .map(|order| Answered {
                    id: order.id(),
                    outcome: outcome.clone(),
                })
                .collect();
        }
        // Concurrently: the key backend signs several at once (its sessions), and one
        // slow order does not hold the others of the batch.
        let mut running = tokio::task::JoinSet::new();
        let ids: Vec<String> = orders.iter().map(Order::id).collect();
        for order in orders {
            let desk = self.clone();
            running.spawn(async move {
                let id = order.id();
                Answered {
                    id,
                    outcome: desk.carry_one(order).await,
                }
            });
        }
        let mut answers = Vec::with_capacity(ids.len());
        while let Some(done) = running.join_next().await {
            if let Ok(answered) = done {
                answers.push(answered);
            }
        }
        // A task that failed abnormally leaves its order unanswered: its claim runs out
        // and the RA hands it out again.
        answers.sort_by_key(|a| ids.iter().position(|id| *id == a.id));
        answers
    }
}

#[cfg(test)]
#[path = "orders_tests.rs"]
mod tests;
