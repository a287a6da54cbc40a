//! The termination procedure on a software CA and an in-memory store, with fake notice
//! and hand-over ports: every valid certificate revoked with cessationOfOperation and
//! noticed once, the final CRL's lifetime, each phase ledgered, nothing issued after,
//! and a failed hand-over resumed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::test_ca::{fixture, kinds, order};
use shuin_core::issuance::{IssuanceError, Issuer};
use shuin_core::termination::PortError;
use shuin_core::{Clock, Serial};
use shuin_store::{CertificateWriter, CrlStore, InstanceLock, RevocationStore};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

#[derive(Default)]
struct Notices(Mutex<BTreeSet<String>>);

#[async_trait::async_trait]
impl TerminationNotices for Notices {
    async fn queue(
        &self,
        serial: &Serial,
        _: SystemTime,
        _: &TerminationPlan,
    ) -> Result<bool, PortError> {
        Ok(self.0.lock().unwrap().insert(serial.to_hex()))
    }
}

/// Fails the first `failures` writes.
struct HandOverFake {
    failures: AtomicU32,
    written: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl HandOver for HandOverFake {
    async fn write(&self, name: &str) -> Result<(String, serde_json::Value), PortError> {
        if self.failures.load(Ordering::SeqCst) > 0 {
            self.failures.fetch_sub(1, Ordering::SeqCst);
            return Err("the disk is full".into());
        }
        self.written.lock().unwrap().push(name.to_owned());
        Ok((
            format!("/handover/{name}"),
            serde_json::json!({"entries": 1}),
        ))
    }
}

/// A driver whose ports always work.
fn plain_driver(ca: Arc<CaService>) -> TerminationDriver {
    let hand_over = Arc::new(HandOverFake {
        failures: AtomicU32::new(0),
        written: Mutex::new(Vec::new()),
    });
    TerminationDriver::new(ca, Arc::new(Notices::default()), hand_over, "test".into())
}

fn plan() -> TerminationPlan {
    TerminationPlan {
        ceremony_id: "end-1".into(),
        reason: "事業の廃止".into(),
        successor: Some("後継 株式会社".into()),
        final_crl_days: 3650,
    }
}

#[tokio::test]
async fn termination_revokes_everything_signs_a_final_crl_and_hands_over() {
    let f = fixture().await;
    let ca = Arc::new(f.ca);
    let mut serials = Vec::new();
    for id in ["a", "b", "c"] {
        serials.push(ca.issue(order(id)).await.unwrap().serial);
    }
    // One revoked before: it keeps its own reason and gets no notice.
    ca.revoke(RevocationOrder {
        serial: serials[0].clone(),
        reason: RevocationReason::KeyCompromise,
        invalidity_date: None,
        actor: Actor {
            name: "LRA 一郎".into(),
            role: "lra".into(),
            zone: "secure".into(),
        },
        authorisation: "operator".into(),
    })
    .await
    .unwrap();
    let notices = Arc::new(Notices::default());
    let hand_over = Arc::new(HandOverFake {
        failures: AtomicU32::new(1),
        written: Mutex::new(Vec::new()),
    });
    let driver = TerminationDriver::new(
        ca.clone(),
        notices.clone(),
        hand_over.clone(),
        "test".into(),
    );
    assert!(
        driver.tick().await.unwrap().is_none(),
        "nothing to do before start"
    );
    let now = f.clock.now();
    start(f.store.as_ref(), plan(), now).await.unwrap();
    // Stopped at once, before any tick latched this CA: it reads the store.
    let refused = ca.issue(order("late")).await.unwrap_err();
    assert!(matches!(refused, IssuanceError::Terminated));
    let again = start(f.store.as_ref(), plan(), now).await.unwrap_err();
    assert!(matches!(again, TerminationError::AlreadyTerminating(_)));

    let mut phases = Vec::new();
    let mut failed = 0;
    for _ in 0..10 {
        match driver.tick().await {
            Ok(state) => {
                let state = state.unwrap();
                phases.push(state.phase);
                if state.phase == TerminationPhase::Completed {
                    break;
                }
            }
            // The hand-over fails once; the next tick resumes it.
            Err(e) => {
                assert!(e.to_string().contains("disk is full"), "{e}");
                failed += 1;
            }
        }
    }
    assert_eq!(failed, 1);
    assert_eq!(
        phases,
        [
            TerminationPhase::Revoking,
            // One batch, a pass from the cursor that finds none left, then one from the
            // start that finds none either.
            TerminationPhase::Revoking,
            TerminationPhase::Revoking,
            TerminationPhase::FinalCrl,
            TerminationPhase::HandOver,
            TerminationPhase::Completed
        ]
    );
    let finished = state(f.store.as_ref()).await.unwrap().unwrap();
    assert_eq!(finished.revoked, 2);
    assert_eq!(finished.notices, 2);
    assert_eq!(finished.hand_over.as_deref(), Some("/handover/end-1"));
    assert_eq!(*hand_over.written.lock().unwrap(), ["end-1"]);

    for (index, serial) in serials.iter().enumerate() {
        let revocation = f.store.revocation(serial).await.unwrap().unwrap();
        let expected = if index == 0 {
            RevocationReason::KeyCompromise
        } else {
            RevocationReason::CessationOfOperation
        };
        assert_eq!(revocation.reason, expected);
    }
    let noticed: Vec<String> = notices.0.lock().unwrap().iter().cloned().collect();
    let mut expected: Vec<String> = serials[1..].iter().map(Serial::to_hex).collect();
    expected.sort();
    assert_eq!(noticed, expected);

    // The final CRL lists all three and is valid for final_crl_days.
    let crl = f.store.latest_crl("ca").await.unwrap().unwrap();
    assert_eq!(Some(crl.number), finished.final_crl_number);
    assert_eq!(
        crl.next_update.duration_since(crl.this_update).unwrap(),
        Duration::from_secs(3650 * 86_400)
    );
    let kinds = kinds(&f.store).await;
    let position = |kind: &str| kinds.iter().position(|k| k == kind).unwrap();
    assert!(position("termination.started") < position("termination.revoked"));
    assert!(position("termination.revoked") < position("termination.final_crl"));
    assert!(position("termination.final_crl") < position("termination.completed"));

    // Nothing is issued any more, and later ticks change nothing.
    let refused = ca.issue(order("d")).await.unwrap_err();
    assert!(matches!(refused, IssuanceError::Terminated));
    let count = kinds.len();
    driver.tick().await.unwrap();
    assert_eq!(crate::test_ca::kinds(&f.store).await.len(), count);
}

#[tokio::test]
async fn a_new_driver_resumes_where_the_setting_stands() {
    let f = fixture().await;
    let ca = Arc::new(f.ca);
    let serial = ca.issue(order("a")).await.unwrap().serial;
    let now = f.clock.now();
    start(f.store.as_ref(), plan(), now).await.unwrap();
    let notices = Arc::new(Notices::default());
    let hand_over = Arc::new(HandOverFake {
        failures: AtomicU32::new(0),
        written: Mutex::new(Vec::new()),
    });
    let first = TerminationDriver::new(
        ca.clone(),
        notices.clone(),
        hand_over.clone(),
        "test".into(),
    );
    first.tick().await.unwrap();
    // Revoked in the books and the store, then the process stopped before the notice:
    // a fresh driver (a restarted server) queues it when it finishes revoking.
    ca.record_revocation(RevocationOrder {
        serial: serial.clone(),
        reason: RevocationReason::CessationOfOperation,
        invalidity_date: None,
        actor: actor(),
        authorisation: "termination:end-1".into(),
    })
    .await
    .unwrap();
    let restarted = TerminationDriver::new(ca, notices.clone(), hand_over, "test".into());
    let state = restarted.tick().await.unwrap().unwrap();
    assert_eq!(state.phase, TerminationPhase::FinalCrl);
    assert_eq!(state.notices, 1);
    assert!(notices.0.lock().unwrap().contains(&serial.to_hex()));
}

#[tokio::test]
async fn an_entry_written_before_a_stop_is_not_written_again() {
    let f = fixture().await;
    let ca = Arc::new(f.ca);
    ca.issue(order("a")).await.unwrap();
    start(f.store.as_ref(), plan(), f.clock.now())
        .await
        .unwrap();
    let driver = plain_driver(ca.clone());
    driver.tick().await.unwrap();
    // As if the process had stopped after writing termination.started but before
    // saving the next phase: the state still says Started.
    let mut stopped = state(f.store.as_ref()).await.unwrap().unwrap();
    stopped.phase = TerminationPhase::Started;
    save(f.store.as_ref(), &stopped).await.unwrap();
    let mut last = None;
    for _ in 0..10 {
        last = driver.tick().await.unwrap();
    }
    let last = last.unwrap();
    assert_eq!(last.phase, TerminationPhase::Completed);
    assert_eq!(last.revoked, 1, "counted from the store");
    let kinds = kinds(&f.store).await;
    for kind in [
        "termination.started",
        "termination.revoked",
        "termination.final_crl",
        "termination.hand_over_started",
        "termination.completed",
    ] {
        assert_eq!(
            kinds.iter().filter(|k| *k == kind).count(),
            1,
            "{kind}: {kinds:?}"
        );
    }
}

#[tokio::test]
async fn another_holder_of_the_lease_keeps_this_driver_idle() {
    let f = fixture().await;
    let ca = Arc::new(f.ca);
    ca.issue(order("a")).await.unwrap();
    let now = f.clock.now();
    start(f.store.as_ref(), plan(), now).await.unwrap();
    assert!(f
        .store
        .take_lease(
            TERMINATION_LEASE,
            "other",
            now,
            now + Duration::from_secs(60)
        )
        .await
        .unwrap());
    let driver = plain_driver(ca);
    let idle = driver.tick().await.unwrap().unwrap();
    assert_eq!(idle.phase, TerminationPhase::Started);
    assert!(!kinds(&f.store)
        .await
        .iter()
        .any(|k| k == "termination.started"));
}

#[tokio::test]
async fn an_open_reservation_holds_the_revocation_phase_open() {
    let f = fixture().await;
    let ca = Arc::new(f.ca);
    let now = f.clock.now();
    f.store
        .reserve(&shuin_store::CertificateRecord {
            serial: Serial::from_hex("7e01").unwrap(),
            application_id: "in-flight".into(),
            key_fingerprint: "key-in-flight".into(),
            tbs_sha256: "00".repeat(32),
            state: shuin_store::CertificateState::Reserved,
            not_before: now,
            not_after: now + Duration::from_secs(86_400),
            der: None,
        })
        .await
        .unwrap();
    start(f.store.as_ref(), plan(), now).await.unwrap();
    let driver = plain_driver(ca);
    for _ in 0..5 {
        driver.tick().await.unwrap();
    }
    let waiting = state(f.store.as_ref()).await.unwrap().unwrap();
    assert_eq!(
        waiting.phase,
        TerminationPhase::Revoking,
        "waits for the issuance in flight"
    );
    f.store
        .mark_undelivered(&Serial::from_hex("7e01").unwrap())
        .await
        .unwrap();
    let done = driver.tick().await.unwrap().unwrap();
    assert_eq!(done.phase, TerminationPhase::FinalCrl);
}
