//! An RA node's record of the revocations it learns of from the CA's pushed OCSP answers
//! (docs/deployment.md "Revocations in the RA nodes' stores"): one made at the CA's
//! console, or by the termination, reaches the node's store this way, so that its
//! holders' disclosures show it and its J-LIS follow-up skips the certificate.
//!
//! What the node ordered itself is kept with the CA's answer to the order (with the
//! order's reason and author), so a certificate whose revocation order awaits its
//! answer is left to it. Everything is looked up before anything is written: a node that
//! restarts is handed every answer again.

use shuin_core::repository_feed::RevokedAtTheCa;
use shuin_core::revocation::RevocationReason;
use shuin_core::Serial;
use shuin_store::{
    CertificateReader, CertificateState, OrderState, OrderStore, RevocationRecord, RevocationStore,
    StoreError,
};
use std::sync::Arc;
use std::time::SystemTime;

/// Who the node names as having decided such a revocation.
pub const DECIDED_AT_THE_CA: &str = "the CA (as its OCSP answer says)";

/// The node's store, as the sink of the revocations its repository learns of.
pub struct NodeRevocations<S> {
    store: Arc<S>,
}

impl<S> NodeRevocations<S> {
    /// The sink writing into `store`.
    pub fn new(store: Arc<S>) -> Self {
        NodeRevocations { store }
    }
}

impl<S: CertificateReader + RevocationStore + OrderStore> NodeRevocations<S> {
    /// Whether the node should keep this revocation: it holds the certificate issued,
    /// has no revocation of it, and awaits no answer to an order of its revocation.
    async fn to_keep(&self, serial: &Serial) -> Result<bool, StoreError> {
        let held = self.store.certificate(serial).await?;
        if !held.is_some_and(|c| c.state == CertificateState::Issued) {
            return Ok(false);
        }
        if self.store.revocation(serial).await?.is_some() {
            return Ok(false);
        }
        let id = shuin_core::orders::revoke_id(serial);
        let pending = self.store.order(&id).await?;
        Ok(!pending.is_some_and(|o| o.state == OrderState::Pending))
    }
}

#[async_trait::async_trait]
impl<S> RevokedAtTheCa for NodeRevocations<S>
where
    S: CertificateReader + RevocationStore + OrderStore + 'static,
{
    async fn revoked(&self, serial: &Serial, revoked_at: SystemTime, reason: RevocationReason) {
        match self.to_keep(serial).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, serial = %serial.to_hex(), "a revocation the CA's answers say cannot be looked up");
                return;
            }
        }
        let record = RevocationRecord {
            serial: serial.clone(),
            revoked_at,
            reason,
            invalidity_date: None,
            decided_by: DECIDED_AT_THE_CA.into(),
        };
        match self.store.revoke(&record).await {
            Ok(()) => {
                tracing::info!(serial = %serial.to_hex(), "recorded a revocation the CA's answers say");
            }
            // Kept meanwhile by the answer to an order, or by another node on the store.
            Err(StoreError::Conflict(_) | StoreError::NotFound) => {}
            Err(e) => {
                tracing::warn!(error = %e, serial = %serial.to_hex(), "a revocation the CA's answers say is not recorded");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use shuin_core::issuance::Approver;
    use shuin_core::orders::{Answered, IssueOrder, Order, OrderOutcome, RevokeOrder};
    use shuin_store::sqlite::SqliteStore;
    use shuin_store::{AnswerToKeep, CertificateRecord};

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000 + secs)
    }

    /// A node store holding the certificate `serial`, issued for an order.
    async fn holding(serial: &Serial) -> Arc<SqliteStore> {
        let store = Arc::new(SqliteStore::in_memory().await.unwrap());
        let order = Order::Issue(IssueOrder {
            application_id: "app-1".into(),
            subject_name: "YAMADA Taro".into(),
            spki_der: "3003010203".into(),
            not_after_cap: 2_000_000_000,
            approver: Approver {
                name: "RP".into(),
                role: "responsible_person".into(),
                automatic: true,
            },
        });
        store.queue_order(&order, at(0)).await.unwrap();
        store.claim_orders("ca", 1, at(1), at(31)).await.unwrap();
        let record = CertificateRecord {
            serial: serial.clone(),
            application_id: "app-1".into(),
            key_fingerprint: "fp".into(),
            tbs_sha256: "tbs".into(),
            state: CertificateState::Reserved,
            not_before: at(0),
            not_after: at(100_000),
            der: None,
        };
        let answered = Answered {
            id: order.id(),
            outcome: OrderOutcome::Issued {
                serial: serial.to_hex(),
                certificate_der: "3003020101".into(),
                chain_der: vec![],
            },
        };
        let copy = AnswerToKeep {
            answered: &answered,
            certificate: Some((&record, &[0x30, 0x03, 0x02, 0x01, 0x01])),
            revocation: None,
        };
        store.keep_answers(&[copy], at(2)).await.unwrap();
        store
    }

    #[tokio::test]
    async fn a_revocation_the_cas_answers_say_is_kept_unless_an_order_awaits_its_answer() {
        let serial = Serial::from_hex("7c0d01").unwrap();
        let store = holding(&serial).await;
        let sink = NodeRevocations::new(store.clone());
        // The node's own order of its revocation awaits the CA's answer: left to it.
        let revoke = Order::Revoke(RevokeOrder {
            serial: serial.to_hex(),
            reason: RevocationReason::KeyCompromise,
            invalidity_date: None,
            decided_by: "LRA".into(),
            role: "lra".into(),
            authorisation: "operator".into(),
        });
        store.queue_order(&revoke, at(3)).await.unwrap();
        sink.revoked(&serial, at(4), RevocationReason::KeyCompromise)
            .await;
        assert!(store.revocation(&serial).await.unwrap().is_none());
        // Answered without a revocation of its own (the CA found it revoked by another):
        // what the answers say is kept.
        store.claim_orders("ca", 1, at(5), at(35)).await.unwrap();
        let answered = Answered {
            id: revoke.id(),
            outcome: OrderOutcome::Revoked {
                revoked_at: 1_800_000_004,
                crl_number: 0,
            },
        };
        let kept = AnswerToKeep {
            answered: &answered,
            certificate: None,
            revocation: None,
        };
        store.keep_answers(&[kept], at(6)).await.unwrap();
        sink.revoked(&serial, at(4), RevocationReason::CessationOfOperation)
            .await;
        let kept = store.revocation(&serial).await.unwrap().unwrap();
        assert_eq!(kept.decided_by, DECIDED_AT_THE_CA);
        assert_eq!(kept.reason, RevocationReason::CessationOfOperation);
        // Again (a node that restarted is handed every answer again): nothing changes,
        // and a certificate the node does not hold is left alone.
        sink.revoked(&serial, at(9), RevocationReason::Unspecified)
            .await;
        assert_eq!(store.revocation(&serial).await.unwrap().unwrap(), kept);
        let other = Serial::from_hex("7c0d02").unwrap();
        sink.revoked(&other, at(9), RevocationReason::Unspecified)
            .await;
        assert!(store.revocation(&other).await.unwrap().is_none());
    }
}
