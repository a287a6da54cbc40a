#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use shuin_core::issuance::Approver;
use shuin_core::revocation::RevocationReason;
use shuin_core::{FixedClock, Serial};
use shuin_store::sqlite::SqliteStore;
use shuin_store::CertificateReader;
use shuin_testkit::{CardSpec, SimulatedJlisCa, TestCard};

/// The time of these tests (the nodes' clocks start there).
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(NOW)
}

const NOW: u64 = 1_900_000_000;

/// A CA and a certificate it issued (the simulated J-LIS CA stands in for the issuing CA).
fn ca_and_card(now: SystemTime) -> (SimulatedJlisCa, TestCard) {
    let ca = SimulatedJlisCa::generate(now).unwrap();
    let spec = CardSpec::signing("山田　太郎", "1990-01-02", "東京都千代田区", now);
    let card = ca.issue_card(&spec).unwrap();
    (ca, card)
}

fn spki_of(card: &TestCard) -> Vec<u8> {
    use der::{Decode, Encode};
    let cert = x509_cert::Certificate::from_der(&card.cert_der).unwrap();
    cert.tbs_certificate
        .subject_public_key_info
        .to_der()
        .unwrap()
}

fn serial_of(card: &TestCard) -> Serial {
    Serial::from_magnitude(&card.serial().unwrap()).unwrap()
}

fn order(application: &str, spki_der: Vec<u8>) -> IssuanceOrder {
    IssuanceOrder {
        application_id: application.into(),
        subject_name: "YAMADA Taro".into(),
        spki_der,
        not_after_cap: now() + Duration::from_secs(86_400 * 365),
        approver: Approver {
            name: "責任者".into(),
            role: "responsible_person".into(),
            automatic: true,
        },
    }
}

fn issued(card: &TestCard) -> OrderOutcome {
    OrderOutcome::of_issuance(&Ok(IssuedCertificate {
        serial: serial_of(card),
        certificate_der: card.cert_der.clone(),
        chain_der: vec![],
    }))
}

struct Node {
    store: Arc<SqliteStore>,
    clock: Arc<FixedClock>,
    queue: Arc<QueuedCa<SqliteStore>>,
    desk: OrderDesk<SqliteStore>,
}

async fn node(issuing_der: &[u8], wait: Duration) -> Node {
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let clock = Arc::new(FixedClock::at_unix(NOW));
    let link = Arc::new(CaLink::default());
    let queue = QueuedCa::new(store.clone(), clock.clone(), link.clone(), wait);
    let desk = OrderDesk::new(store.clone(), clock.clone(), link, issuing_der.to_vec());
    Node {
        store,
        clock,
        queue: Arc::new(queue),
        desk,
    }
}

async fn kinds(store: &SqliteStore) -> Vec<String> {
    let rows = store.ledger_rows().await.unwrap();
    rows.iter()
        .map(|row| {
            let entry: serde_json::Value = serde_json::from_slice(&row.canonical).unwrap();
            entry["kind"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn an_order_waits_for_the_ca_and_its_certificate_is_checked_and_kept() {
    let (ca, card) = ca_and_card(now());
    let node = node(ca.cert_der(), Duration::from_secs(10)).await;
    let issuing = {
        let queue = node.queue.clone();
        let order = order("app-1", spki_of(&card));
        tokio::spawn(async move { queue.issue(order).await })
    };
    let batch = node
        .desk
        .take("ca-1", false, 10, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(batch.orders.len(), 1);
    assert_eq!(batch.orders[0].id(), "issue:app-1");
    let answered = Answered {
        id: batch.orders[0].id(),
        outcome: issued(&card),
    };
    assert!(node.desk.answer(vec![answered]).await.unwrap().is_empty());
    let certificate = issuing.await.unwrap().unwrap();
    assert_eq!(certificate.certificate_der, card.cert_der);
    let copy = node
        .store
        .certificate(&serial_of(&card))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(copy.der.as_deref(), Some(card.cert_der.as_slice()));
    assert_eq!(copy.application_id, "app-1");
    assert!(node
        .store
        .key_in_use(&shuin_core::key_policy::key_fingerprint(&spki_of(&card)))
        .await
        .unwrap());
    assert_eq!(
        kinds(&node.store).await,
        ["order.queued", "orders.answered"]
    );
}

#[tokio::test]
async fn a_certificate_that_is_not_the_orders_is_not_kept() {
    let now = now();
    let (ca, card) = ca_and_card(now);
    let (other_ca, foreign) = ca_and_card(now);
    let other_key = ca
        .issue_card(&CardSpec::signing(
            "佐藤　花子",
            "1985-04-01",
            "大阪府",
            now,
        ))
        .unwrap();
    let node = node(ca.cert_der(), Duration::from_millis(200)).await;
    node.store
        .queue_order(&Order::issue(&order("app-2", spki_of(&card))), now)
        .await
        .unwrap();
    // Another CA's certificate, and this CA's certificate for another key.
    let _ = other_ca;
    for wrong in [&foreign, &other_key] {
        let answered = Answered {
            id: "issue:app-2".into(),
            outcome: issued(wrong),
        };
        let not_kept = node.desk.answer(vec![answered]).await.unwrap();
        assert_eq!(not_kept[0].code, "certificate_not_for_order");
    }
    let state = node
        .store
        .order("issue:app-2")
        .await
        .unwrap()
        .unwrap()
        .state;
    assert_eq!(
        state,
        OrderState::Pending,
        "the order still waits for its certificate"
    );
    assert!(node
        .store
        .certificate(&serial_of(&other_key))
        .await
        .unwrap()
        .is_none());
    assert!(
        kinds(&node.store).await.is_empty(),
        "nothing refused is ledgered as answered"
    );
    // Answers to orders it never queued, or a second answer, are not kept either.
    let unknown = Answered {
        id: "issue:nobody".into(),
        outcome: issued(&card),
    };
    assert_eq!(
        node.desk.answer(vec![unknown]).await.unwrap()[0].code,
        "unknown_order"
    );
    let right = Answered {
        id: "issue:app-2".into(),
        outcome: issued(&card),
    };
    assert!(node
        .desk
        .answer(vec![right.clone()])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        node.desk.answer(vec![right]).await.unwrap()[0].code,
        "already_answered"
    );
}

#[tokio::test]
async fn an_order_nobody_takes_is_retryable_and_stays_queued_once() {
    let (ca, card) = ca_and_card(now());
    let node = node(ca.cert_der(), Duration::from_millis(50)).await;
    for _ in 0..2 {
        let answer = node.queue.issue(order("app-3", spki_of(&card))).await;
        assert!(
            matches!(answer, Err(IssuanceError::Unavailable(_))),
            "{answer:?}"
        );
    }
    let depth = node.store.queue_depth(node.clock.now()).await.unwrap();
    assert_eq!(depth.queued, 1, "a retry names the same order");
}

#[tokio::test]
async fn readiness_follows_what_the_ca_link_said_and_when() {
    let (ca, _) = ca_and_card(now());
    let node = node(ca.cert_der(), Duration::from_millis(50)).await;
    assert!(matches!(
        node.queue.ready(),
        Err(IssuanceError::Unavailable(_))
    ));
    node.desk.take("ca", true, 1, Duration::ZERO).await.unwrap();
    assert!(matches!(node.queue.ready(), Err(IssuanceError::Sealed)));
    node.desk
        .take("ca", false, 1, Duration::ZERO)
        .await
        .unwrap();
    assert!(node.queue.ready().is_ok());
    node.clock.advance(LINK_SILENCE);
    assert!(matches!(
        node.queue.ready(),
        Err(IssuanceError::Unavailable(_))
    ));
}

#[tokio::test]
async fn a_revocation_goes_through_the_queue_and_a_mismatched_answer_is_refused() {
    let (ca, card) = ca_and_card(now());
    let node = node(ca.cert_der(), Duration::from_secs(10)).await;
    let request = RevocationRequest {
        serial: serial_of(&card),
        reason: RevocationReason::KeyCompromise,
        invalidity_date: None,
        decided_by: "holder".into(),
        role: "subscriber".into(),
        authorisation: "subscriber_key".into(),
    };
    let revoking = {
        let queue = node.queue.clone();
        tokio::spawn(async move { queue.revoke(request).await })
    };
    let batch = node
        .desk
        .take("ca", false, 10, Duration::from_secs(5))
        .await
        .unwrap();
    let id = batch.orders[0].id();
    let wrong = Answered {
        id: id.clone(),
        outcome: issued(&card),
    };
    assert_eq!(
        node.desk.answer(vec![wrong]).await.unwrap()[0].code,
        "outcome_not_for_order"
    );
    let revoked = Answered {
        id,
        outcome: OrderOutcome::Revoked {
            revoked_at: 1_900_000_000,
            crl_number: 7,
        },
    };
    assert!(node.desk.answer(vec![revoked]).await.unwrap().is_empty());
    let done = revoking.await.unwrap().unwrap();
    assert_eq!(done.crl_number, 7);
    // The answer's entry says why and on whose authority (the holders' notices read it).
    let answered = crate::test_world::entries_of_kind(node.store.as_ref(), "orders.answered").await;
    let listed = &answered.last().unwrap().payload["answers"][0];
    assert_eq!(listed["reason"], "keyCompromise");
    assert_eq!(listed["authorisation"], "subscriber_key");
    // Asked again (by an LRA, with another reason): revoked already, and nothing queued
    // that would take the earlier outcome for this one's.
    let again = RevocationRequest {
        serial: serial_of(&card),
        reason: RevocationReason::AffiliationChanged,
        invalidity_date: None,
        decided_by: "LRA".into(),
        role: "lra".into(),
        authorisation: "operator".into(),
    };
    let queued_before = crate::test_world::entries_of_kind(node.store.as_ref(), "order.queued")
        .await
        .len();
    assert!(matches!(
        node.queue.revoke(again).await,
        Err(RevocationPortError::AlreadyRevoked { .. })
    ));
    let queued = crate::test_world::entries_of_kind(node.store.as_ref(), "order.queued")
        .await
        .len();
    assert_eq!(queued, queued_before);
    // The holder's own request again (its answer came late, say): that order's outcome.
    let same = RevocationRequest {
        serial: serial_of(&card),
        reason: RevocationReason::KeyCompromise,
        invalidity_date: None,
        decided_by: "holder".into(),
        role: "subscriber".into(),
        authorisation: "subscriber_key".into(),
    };
    assert_eq!(node.queue.revoke(same).await.unwrap().crl_number, 7);
}

#[test]
fn an_outcome_reaches_only_a_waiter_in_this_process_and_once() {
    let link = CaLink::default();
    let outcome = OrderOutcome::Refused {
        code: "ca_sealed".into(),
        detail: "sealed".into(),
        retryable: true,
    };
    // Nobody waits: nothing is kept (no growth for answers meant for another node).
    link.deliver("issue:a", &outcome);
    assert!(link.delivered("issue:a").is_none());
    link.await_outcome("issue:a");
    assert!(link.delivered("issue:a").is_none(), "not answered yet");
    link.deliver("issue:a", &outcome);
    assert_eq!(link.delivered("issue:a"), Some(outcome.clone()));
    assert!(link.delivered("issue:a").is_none(), "handed over once");
    link.await_outcome("issue:b");
    link.stop_awaiting("issue:b");
    link.deliver("issue:b", &outcome);
    assert!(link.delivered("issue:b").is_none());
}
