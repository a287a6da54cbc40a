#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use super::*;

fn issuance() -> IssuanceOrder {
    IssuanceOrder {
        application_id: "app-1".into(),
        subject_name: "YAMADA Taro".into(),
        spki_der: vec![0x30, 0x03, 0x01, 0x02, 0x03],
        not_after_cap: UNIX_EPOCH + Duration::from_secs(2_000_000_000),
        approver: Approver {
            name: "Responsible Person".into(),
            role: "responsible_person".into(),
            automatic: true,
        },
    }
}

fn revocation() -> RevocationRequest {
    RevocationRequest {
        serial: Serial::from_hex("7f01").unwrap(),
        reason: RevocationReason::KeyCompromise,
        invalidity_date: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        decided_by: "holder".into(),
        role: "subscriber".into(),
        authorisation: "subscriber_key".into(),
    }
}

#[test]
fn orders_survive_their_json_form() {
    for order in [Order::issue(&issuance()), Order::revoke(&revocation())] {
        let text = serde_json::to_string(&order).unwrap();
        let back: Order = serde_json::from_str(&text).unwrap();
        assert_eq!(back, order);
    }
    let Order::Issue(issue) = Order::issue(&issuance()) else {
        unreachable!()
    };
    assert_eq!(issue.to_port().unwrap(), issuance());
    let Order::Revoke(revoke) = Order::revoke(&revocation()) else {
        unreachable!()
    };
    assert_eq!(revoke.to_port().unwrap(), revocation());
}

#[test]
fn retries_name_the_same_order() {
    assert_eq!(Order::issue(&issuance()).id(), "issue:app-1");
    assert_eq!(Order::issue(&issuance()).id(), issue_id("app-1"));
    let serial = Serial::from_hex("7f01").unwrap();
    assert_eq!(Order::revoke(&revocation()).id(), revoke_id(&serial));
}

#[test]
fn malformed_orders_are_refused_not_guessed() {
    let text = r#"{"kind":"issue","application_id":"a","subject_name":"s","spki_der":"zz","not_after_cap":1,"approver":{"name":"n","role":"lra","automatic":false}}"#;
    let Order::Issue(order) = serde_json::from_str::<Order>(text).unwrap() else {
        unreachable!()
    };
    assert!(order.to_port().is_err());
    let extra = r#"{"kind":"revoke","serial":"01","reason":"keyCompromise","decided_by":"d","role":"r","authorisation":"a","extra":1}"#;
    assert!(serde_json::from_str::<Order>(extra).is_err());
    let bad_serial = r#"{"kind":"revoke","serial":"-1","reason":"keyCompromise","decided_by":"d","role":"r","authorisation":"a"}"#;
    let Order::Revoke(order) = serde_json::from_str::<Order>(bad_serial).unwrap() else {
        unreachable!()
    };
    assert!(order.to_port().is_err());
}

#[test]
fn outcomes_map_back_to_the_ports_answers() {
    let issued = IssuedCertificate {
        serial: Serial::from_hex("0a0b").unwrap(),
        certificate_der: vec![1, 2, 3],
        chain_der: vec![vec![4], vec![5, 6]],
    };
    let outcome = OrderOutcome::of_issuance(&Ok(issued.clone()));
    assert_eq!(outcome.to_issuance().unwrap(), issued);
    assert!(outcome.to_revocation().is_err());

    let sealed = OrderOutcome::of_issuance(&Err(IssuanceError::Sealed));
    assert!(sealed.retryable());
    assert!(matches!(sealed.to_issuance(), Err(IssuanceError::Sealed)));
    let reused = OrderOutcome::of_issuance(&Err(IssuanceError::KeyReused));
    assert!(!reused.retryable());
    assert!(matches!(
        reused.to_issuance(),
        Err(IssuanceError::KeyReused)
    ));
    let storage = OrderOutcome::of_issuance(&Err(IssuanceError::Unavailable("disk".into())));
    assert!(storage.retryable());
    assert!(matches!(
        storage.to_issuance(),
        Err(IssuanceError::Unavailable(_))
    ));

    let at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let already =
        OrderOutcome::of_revocation(&Err(RevocationPortError::AlreadyRevoked { revoked_at: at }));
    assert_eq!(already.to_revocation().unwrap().revoked_at, at);
    let unknown = OrderOutcome::of_revocation(&Err(RevocationPortError::UnknownSerial));
    assert!(!unknown.retryable());
    assert!(matches!(
        unknown.to_revocation(),
        Err(RevocationPortError::UnknownSerial)
    ));
}

#[test]
fn an_answer_reads_flat() {
    let answered = Answered {
        id: "revoke:01".into(),
        outcome: OrderOutcome::Revoked {
            revoked_at: 5,
            crl_number: 7,
        },
    };
    let value = serde_json::to_value(&answered).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"id": "revoke:01", "outcome": "revoked", "revoked_at": 5, "crl_number": 7})
    );
    assert_eq!(serde_json::from_value::<Answered>(value).unwrap(), answered);
}
