#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::test_ca::{fixture, kinds, order};
use shuin_core::issuance::IssuanceOrder;
use shuin_core::orders::IssueOrder;
use shuin_core::revocation::{RevocationReason, RevocationRequest};
use shuin_core::Serial;
use shuin_store::sqlite::SqliteStore;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The test CA's store, and a desk for orders from `ra-1` carried out by it.
async fn desk() -> (Arc<SqliteStore>, CaOrderDesk) {
    let crate::test_ca::Fixture { ca, store, clock } = fixture().await;
    let ca = Arc::new(ca);
    let chain = ca.chain_der();
    let desk = CaOrderDesk::new(ca.clone(), ca, store.clone(), clock, chain, "ra-1".into());
    (store, desk)
}

fn revoke(serial: &Serial) -> Order {
    Order::revoke(&RevocationRequest {
        serial: serial.clone(),
        reason: RevocationReason::KeyCompromise,
        invalidity_date: None,
        decided_by: "holder".into(),
        role: "subscriber".into(),
        authorisation: "subscriber_key".into(),
    })
}

fn count(kinds: &[String], kind: &str) -> usize {
    kinds.iter().filter(|k| *k == kind).count()
}

#[tokio::test]
async fn an_order_is_issued_once_whatever_the_retries() {
    let (store, desk) = desk().await;
    let wire = Order::issue(&order("app-1"));
    let first = desk.carry_out(vec![wire.clone()]).await;
    let OrderOutcome::Issued { serial, .. } = &first[0].outcome else {
        panic!("{first:?}")
    };
    assert_eq!(first[0].id, "issue:app-1");
    let again = desk.carry_out(vec![wire]).await;
    assert_eq!(again, first, "a retry gets the same certificate");
    let kinds = kinds(&store).await;
    assert_eq!(count(&kinds, "orders.received"), 2, "{kinds:?}");
    assert_eq!(count(&kinds, "certificate.issued"), 1, "{kinds:?}");
    let serial = Serial::from_hex(serial).unwrap();
    assert_eq!(
        store
            .certificates_of_application("app-1")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.certificate(&serial).await.unwrap().unwrap().state,
        CertificateState::Issued
    );
}

#[tokio::test]
async fn a_batch_is_carried_out_concurrently_and_answered_in_order() {
    let (store, desk) = desk().await;
    let orders: Vec<Order> = (0..5)
        .map(|i| Order::issue(&order(&format!("app-{i}"))))
        .collect();
    let ids: Vec<String> = orders.iter().map(Order::id).collect();
    let answers = desk.carry_out(orders).await;
    assert_eq!(
        answers.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
        ids
    );
    assert!(answers
        .iter()
        .all(|a| matches!(a.outcome, OrderOutcome::Issued { .. })));
    assert_eq!(
        count(&kinds(&store).await, "orders.received"),
        1,
        "one entry per batch"
    );
}

#[tokio::test]
async fn a_revocation_order_revokes_and_a_repeat_answers_its_outcome() {
    let (_, desk) = desk().await;
    let issued = desk.carry_out(vec![Order::issue(&order("app-r"))]).await;
    let OrderOutcome::Issued { serial, .. } = &issued[0].outcome else {
        panic!("{issued:?}")
    };
    let serial = Serial::from_hex(serial).unwrap();
    let first = desk.carry_out(vec![revoke(&serial)]).await;
    let OrderOutcome::Revoked {
        revoked_at,
        crl_number,
    } = first[0].outcome
    else {
        panic!("{first:?}")
    };
    assert!(crl_number > 0, "the revocation is on a new CRL");
    // The same order again (its answer was lost): done, with the CRL that lists it.
    let again = desk.carry_out(vec![revoke(&serial)]).await;
    assert_eq!(
        again[0].outcome,
        OrderOutcome::Revoked {
            revoked_at,
            crl_number
        }
    );
    // Another's revocation of it (another reason or author): revoked already, CRL 0.
    let by_lra = Order::revoke(&RevocationRequest {
        serial: serial.clone(),
        reason: RevocationReason::AffiliationChanged,
        invalidity_date: None,
        decided_by: "LRA".into(),
        role: "lra".into(),
        authorisation: "operator".into(),
    });
    let other = desk.carry_out(vec![by_lra]).await;
    assert_eq!(
        other[0].outcome,
        OrderOutcome::Revoked {
            revoked_at,
            crl_number: 0
        }
    );
    let unknown = desk
        .carry_out(vec![revoke(&Serial::from_hex("7777").unwrap())])
        .await;
    assert!(
        matches!(&unknown[0].outcome, OrderOutcome::Refused { code, retryable: false, .. } if code == "unknown_serial"),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn a_malformed_order_is_refused_for_good() {
    let (store, desk) = desk().await;
    let Order::Issue(mut wire) = Order::issue(&order("app-m")) else {
        unreachable!()
    };
    wire.spki_der = "not hex".into();
    let answers = desk.carry_out(vec![Order::Issue(wire)]).await;
    assert!(
        matches!(&answers[0].outcome, OrderOutcome::Refused { code, retryable: false, .. } if code == "malformed_order"),
        "{answers:?}"
    );
    assert_eq!(count(&kinds(&store).await, "certificate.signing"), 0);
}

/// Counts issuances it is asked for, and refuses them.
#[derive(Default)]
struct Counting(AtomicUsize);

#[async_trait::async_trait]
impl Issuer for Counting {
    async fn issue(&self, _: IssuanceOrder) -> Result<IssuedCertificate, IssuanceError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err(IssuanceError::Sealed)
    }
}

#[tokio::test]
async fn nothing_is_carried_out_when_the_books_cannot_record_the_batch() {
    let crate::test_ca::Fixture { ca, clock, .. } = fixture().await;
    let books = Arc::new(SqliteStore::in_memory().await.unwrap());
    books.close().await;
    let issuer = Arc::new(Counting::default());
    let desk = CaOrderDesk::new(
        issuer.clone(),
        Arc::new(ca),
        books,
        clock,
        vec![],
        "ra-1".into(),
    );
    let wire = IssueOrder {
        application_id: "app-x".into(),
        ..match Order::issue(&order("app-x")) {
            Order::Issue(wire) => wire,
            Order::Revoke(_) => unreachable!(),
        }
    };
    let answers = desk.carry_out(vec![Order::Issue(wire)]).await;
    assert!(answers[0].outcome.retryable(), "{answers:?}");
    assert_eq!(
        issuer.0.load(Ordering::SeqCst),
        0,
        "no order was carried out"
    );
}

#[tokio::test]
async fn answers_the_node_refused_are_recorded() {
    let (store, desk) = desk().await;
    desk.not_kept(&[]).await;
    assert_eq!(count(&kinds(&store).await, ORDERS_NOT_KEPT), 0);
    let refused = [(
        "issue:app-9".to_owned(),
        "certificate_not_for_order".to_owned(),
    )];
    desk.not_kept(&refused).await;
    let kinds = kinds(&store).await;
    assert_eq!(count(&kinds, ORDERS_NOT_KEPT), 1, "{kinds:?}");
}
