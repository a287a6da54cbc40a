//! Conformance checks of [`crate::OrderStore`], run by [`crate::conformance::run`]
//! against every implementation.

use crate::conformance::{at, ensure, fail};
use crate::{
    AnswerToKeep, CertificateReader, CertificateRecord, CertificateState, OrderState, OrderStore,
    QueueDepth, RevocationRecord, RevocationStore,
};
use shuin_core::Serial;

/// Where the order `id` stands.
async fn state_of<S: OrderStore>(store: &S, id: &str) -> Result<Option<OrderState>, String> {
    let stored = store.order(id).await.map_err(|e| fail("order", e))?;
    Ok(stored.map(|stored| stored.state))
}
use shuin_core::issuance::Approver;
use shuin_core::orders::{Answered, IssueOrder, Order, OrderOutcome};

fn order(application: &str) -> Order {
    Order::Issue(IssueOrder {
        application_id: application.into(),
        subject_name: "YAMADA Taro".into(),
        spki_der: "3003010203".into(),
        not_after_cap: 2_000_000_000,
        approver: Approver {
            name: "RP".into(),
            role: "responsible_person".into(),
            automatic: true,
        },
    })
}

fn answered(id: String, retryable: bool) -> Answered {
    Answered {
        id,
        outcome: OrderOutcome::Refused {
            code: if retryable { "ca_sealed" } else { "key_reused" }.into(),
            detail: "test".into(),
            retryable,
        },
    }
}

/// Runs the order-queue checks against an empty store.
pub(crate) async fn run<S: OrderStore + CertificateReader + RevocationStore>(
    store: &S,
) -> Result<(), String> {
    claims(store).await?;
    outcomes(store).await?;
    kept_batches(store).await?;
    kept_revocations(store).await
}

fn issued(id: String, serial: &Serial) -> Answered {
    Answered {
        id,
        outcome: OrderOutcome::Issued {
            serial: serial.to_hex(),
            certificate_der: "3003020101".into(),
            chain_der: vec![],
        },
    }
}

/// A batch of outcomes is kept in one go, with the certificate copies; an outcome kept
/// before is not kept again, and a copy kept before stays.
async fn kept_batches<S: OrderStore + CertificateReader>(store: &S) -> Result<(), String> {
    let ids: Vec<String> = ["app-k1", "app-k2", "app-k3"]
        .iter()
        .map(|a| order(a).id())
        .collect();
    // The checks before leave app-q1 claimed: settled first, so that only these count.
    store
        .answer_order(&answered(order("app-q1").id(), false), at(199))
        .await
        .map_err(|e| fail("answer", e))?;
    for application in ["app-k1", "app-k2", "app-k3"] {
        store
            .queue_order(&order(application), at(200))
            .await
            .map_err(|e| fail("queue", e))?;
    }
    let taken = store
        .claim_orders("ca-a", 2, at(201), at(231))
        .await
        .map_err(|e| fail("claim", e))?;
    ensure!(
        taken == vec![order("app-k1"), order("app-k2")],
        "two claimed at once, oldest first: {taken:?}"
    );
    let serial = Serial::from_hex("7c0d01").ok_or("serial")?;
    let record = CertificateRecord {
        serial: serial.clone(),
        application_id: "app-k1".into(),
        key_fingerprint: "fp-k1".into(),
        tbs_sha256: "tbs-k1".into(),
        state: CertificateState::Reserved,
        not_before: at(100),
        not_after: at(10_000),
        der: None,
    };
    let der = [0x30u8, 0x03, 0x02, 0x01, 0x01];
    let certificate_answer = issued(ids[0].clone(), &serial);
    let refused = answered(ids[1].clone(), false);
    let batch = [
        AnswerToKeep {
            answered: &certificate_answer,
            certificate: Some((&record, &der)),
            revocation: None,
        },
        AnswerToKeep {
            answered: &refused,
            certificate: None,
            revocation: None,
        },
    ];
    let kept = store
        .keep_answers(&batch, at(202))
        .await
        .map_err(|e| fail("keep answers", e))?;
    ensure!(kept == vec![true, true], "both outcomes kept: {kept:?}");
    let copy = store
        .certificate(&serial)
        .await
        .map_err(|e| fail("certificate", e))?;
    ensure!(
        copy.as_ref().is_some_and(
            |c| c.state == CertificateState::Issued && c.der.as_deref() == Some(&der[..])
        ),
        "the copy is kept issued: {copy:?}"
    );
    let state = state_of(store, &ids[0]).await?;
    ensure!(
        state == Some(OrderState::Done(certificate_answer.outcome.clone())),
        "the order is done: {state:?}"
    );
    let third = answered(ids[2].clone(), false);
    let again = [
        AnswerToKeep {
            answered: &certificate_answer,
            certificate: Some((&record, &der)),
            revocation: None,
        },
        AnswerToKeep {
            answered: &third,
            certificate: None,
            revocation: None,
        },
    ];
    let kept = store
        .keep_answers(&again, at(203))
        .await
        .map_err(|e| fail("keep answers again", e))?;
    ensure!(
        kept == vec![false, true],
        "an order done before is not answered again; a queued one is: {kept:?}"
    );
    Ok(())
}

/// A revocation order's outcome is kept with the revocation, when the store holds the
/// certificate (the copy `kept_batches` kept) and no revocation of it yet; for a
/// certificate it does not hold, nothing is recorded.
async fn kept_revocations<S: OrderStore + RevocationStore>(store: &S) -> Result<(), String> {
    use shuin_core::orders::RevokeOrder;
    use shuin_core::revocation::RevocationReason;
    let held = Serial::from_hex("7c0d01").ok_or("serial")?;
    let unheld = Serial::from_hex("7c0d99").ok_or("serial")?;
    let revoke = |serial: &Serial| {
        Order::Revoke(RevokeOrder {
            serial: serial.to_hex(),
            reason: RevocationReason::KeyCompromise,
            invalidity_date: None,
            decided_by: "LRA".into(),
            role: "lra".into(),
            authorisation: "operator".into(),
        })
    };
    for serial in [&held, &unheld] {
        store
            .queue_order(&revoke(serial), at(300))
            .await
            .map_err(|e| fail("queue", e))?;
    }
    store
        .claim_orders("ca-r", 10, at(301), at(331))
        .await
        .map_err(|e| fail("claim", e))?;
    let record = |serial: &Serial| RevocationRecord {
        serial: serial.clone(),
        revoked_at: at(302),
        reason: RevocationReason::KeyCompromise,
        invalidity_date: None,
        decided_by: "LRA".into(),
    };
    let (held_record, unheld_record) = (record(&held), record(&unheld));
    let outcome = OrderOutcome::Revoked {
        revoked_at: 302,
        crl_number: 9,
    };
    let answers = [
        Answered {
            id: revoke(&held).id(),
            outcome: outcome.clone(),
        },
        Answered {
            id: revoke(&unheld).id(),
            outcome,
        },
    ];
    let batch = [
        AnswerToKeep {
            answered: &answers[0],
            certificate: None,
            revocation: Some(&held_record),
        },
        AnswerToKeep {
            answered: &answers[1],
            certificate: None,
            revocation: Some(&unheld_record),
        },
    ];
    let kept = store
        .keep_answers(&batch, at(303))
        .await
        .map_err(|e| fail("keep revocations", e))?;
    ensure!(kept == vec![true, true], "both outcomes kept: {kept:?}");
    let found = store
        .revocation(&held)
        .await
        .map_err(|e| fail("revocation", e))?;
    ensure!(
        found.as_ref() == Some(&held_record),
        "the held certificate's revocation is recorded: {found:?}"
    );
    let found = store
        .revocation(&unheld)
        .await
        .map_err(|e| fail("revocation", e))?;
    ensure!(
        found.is_none(),
        "nothing for a certificate not held: {found:?}"
    );
    Ok(())
}

/// Queueing is idempotent, a claim is exclusive until it runs out, oldest first.
async fn claims<S: OrderStore>(store: &S) -> Result<(), String> {
    let (first, second) = (order("app-q1"), order("app-q2"));
    store
        .queue_order(&first, at(100))
        .await
        .map_err(|e| fail("queue", e))?;
    store
        .queue_order(&second, at(101))
        .await
        .map_err(|e| fail("queue", e))?;
    store
        .queue_order(&first, at(102))
        .await
        .map_err(|e| fail("queue again", e))?;
    let depth = store
        .queue_depth(at(103))
        .await
        .map_err(|e| fail("depth", e))?;
    ensure!(
        depth
            == QueueDepth {
                queued: 2,
                claimed: 0
            },
        "two orders queued once each: {depth:?}"
    );
    let taken = store
        .claim_orders("ca-a", 1, at(103), at(133))
        .await
        .map_err(|e| fail("claim", e))?;
    ensure!(
        taken == vec![first.clone()],
        "the oldest order is claimed first: {taken:?}"
    );
    let rest = store
        .claim_orders("ca-b", 10, at(104), at(134))
        .await
        .map_err(|e| fail("claim", e))?;
    ensure!(
        rest == vec![second.clone()],
        "a claimed order is not claimed again: {rest:?}"
    );
    let depth = store
        .queue_depth(at(105))
        .await
        .map_err(|e| fail("depth", e))?;
    ensure!(
        depth
            == QueueDepth {
                queued: 0,
                claimed: 2
            },
        "both claimed: {depth:?}"
    );
    let stored = store
        .order(&first.id())
        .await
        .map_err(|e| fail("order", e))?;
    ensure!(
        stored.as_ref().map(|s| &s.order) == Some(&first),
        "the order reads back as queued"
    );
    let state = stored.map(|s| s.state);
    ensure!(
        state == Some(OrderState::Pending),
        "a claimed order is pending: {state:?}"
    );
    let again = store
        .claim_orders("ca-b", 10, at(140), at(170))
        .await
        .map_err(|e| fail("claim", e))?;
    ensure!(
        again.len() == 2,
        "claims that ran out are taken again: {again:?}"
    );
    let unknown = state_of(store, "issue:none").await?;
    ensure!(unknown.is_none(), "an order never queued is unknown");
    Ok(())
}

/// The first outcome stands; a retryable one is queued again on retry, a final one not.
async fn outcomes<S: OrderStore>(store: &S) -> Result<(), String> {
    let (sealed, reused) = (order("app-q1").id(), order("app-q2").id());
    let first = answered(sealed.clone(), true);
    ensure!(
        store
            .answer_order(&first, at(150))
            .await
            .map_err(|e| fail("answer", e))?,
        "an outcome is kept"
    );
    ensure!(
        !store
            .answer_order(&answered(sealed.clone(), false), at(151))
            .await
            .map_err(|e| fail("answer", e))?,
        "a second outcome is not kept"
    );
    let state = state_of(store, &sealed).await?;
    ensure!(
        state == Some(OrderState::Done(first.outcome.clone())),
        "the first outcome stands: {state:?}"
    );
    let final_answer = answered(reused.clone(), false);
    store
        .answer_order(&final_answer, at(152))
        .await
        .map_err(|e| fail("answer", e))?;
    store
        .queue_order(&order("app-q1"), at(160))
        .await
        .map_err(|e| fail("retry", e))?;
    store
        .queue_order(&order("app-q2"), at(160))
        .await
        .map_err(|e| fail("retry", e))?;
    let state = state_of(store, &sealed).await?;
    ensure!(
        state == Some(OrderState::Pending),
        "a retryable outcome is queued again: {state:?}"
    );
    let state = state_of(store, &reused).await?;
    ensure!(
        state == Some(OrderState::Done(final_answer.outcome)),
        "a final outcome stays: {state:?}"
    );
    let taken = store
        .claim_orders("ca-a", 10, at(161), at(191))
        .await
        .map_err(|e| fail("claim", e))?;
    ensure!(
        taken == vec![order("app-q1")],
        "only the retried order is claimable: {taken:?}"
    );
    ensure!(
        !store
            .answer_order(&answered("issue:none".into(), false), at(162))
            .await
            .map_err(|e| fail("answer", e))?,
        "an unknown order's outcome is not kept"
    );
    Ok(())
}
