#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use shuin_ledger::Actor;
use std::sync::Mutex;

const RP: &str = "責任者";
const CMS: &[u8] = b"signed application";
const JPKI: &str = "aaaa";

fn evidence_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn at(text: &str) -> SystemTime {
    shuin_core::timefmt::parse_rfc3339(text).unwrap()
}

fn entry(seq: u64, time: &str, kind: &str, actor: &str) -> Entry {
    Entry {
        seq,
        time: time.into(),
        book: Book::Application,
        kind: kind.into(),
        actor: Actor {
            name: actor.into(),
            role: "responsible_person".into(),
            zone: "secure".into(),
        },
        subjects: vec!["application:app1".into(), format!("jpki:{JPKI}")],
        payload: serde_json::Value::Null,
        evidence: vec![],
    }
}

/// An automatic acceptance as the RA writes it.
fn accepted(seq: u64, time: &str) -> Entry {
    let mut e = entry(seq, time, "application.accepted", RP);
    e.payload = serde_json::json!({
        "decision": "approved",
        "automatic": true,
        "rule_version": RULE_VERSION,
        "approver": RP,
        "approver_certificate_sha256": null,
        "checks": AUTOMATIC_CHECKS,
    });
    e.evidence = vec![format!("sha256:{}", evidence_hash(CMS))];
    e
}

fn issued(seq: u64, time: &str) -> Entry {
    let mut e = entry(seq, time, "certificate.issued", "shuin-ca");
    e.subjects = vec!["application:app1".into(), "serial:0a".into()];
    e.payload = serde_json::json!({"serial": "0a"});
    e
}

fn purged(seq: u64, hash: &str) -> Entry {
    let mut e = entry(
        seq,
        "2024-06-01T00:00:00Z",
        "application.evidence_purged",
        "admin",
    );
    e.subjects = vec!["application:app1".into()];
    e.payload = serde_json::json!({"evidence": [{"sha256": hash, "application": "app1"}]});
    e
}

const DECIDED: &str = "2024-01-10T10:00:00Z";

/// A verifier with a fixed answer that records the times it was asked at.
struct Fake {
    answer: Verification,
    asked_at: Mutex<Vec<SystemTime>>,
}

impl Fake {
    fn answering(answer: Verification) -> Fake {
        Fake {
            answer,
            asked_at: Mutex::new(Vec::new()),
        }
    }

    fn verified() -> Fake {
        Fake::answering(Verification::Verified {
            jpki_fingerprint: JPKI.into(),
        })
    }
}

impl EvidenceVerifier for Fake {
    fn verify(&self, _: &[u8], at: SystemTime) -> Verification {
        self.asked_at.lock().unwrap().push(at);
        self.answer.clone()
    }
}

/// The codes found for the single issuance of `entries`, with `bytes` stored under the
/// acceptance's hash and the record naming `record`.
fn codes_with(
    entries: &[Entry],
    bytes: Option<&[u8]>,
    record: Option<&str>,
    verifier: &Fake,
) -> Vec<IssuanceException> {
    let collected = collect(entries, at("2024-01-01T00:00:00Z"), RP).unwrap();
    assert_eq!(collected.issuances.len(), 1, "{collected:?}");
    let stored = Stored {
        bytes,
        record_evidence: record,
    };
    judge(&collected.issuances[0], stored, &collected.purged, verifier)
        .into_iter()
        .map(|f| f.code)
        .collect()
}

fn codes(entries: &[Entry], verifier: &Fake) -> Vec<IssuanceException> {
    let hash = evidence_hash(CMS);
    codes_with(entries, Some(CMS), Some(&hash), verifier)
}

#[test]
fn a_clean_automatic_issuance_verifies_at_the_decisions_time() {
    let verifier = Fake::verified();
    let entries = [accepted(0, DECIDED), issued(1, "2024-01-10T10:00:01Z")];
    assert_eq!(codes(&entries, &verifier), vec![]);
    assert_eq!(*verifier.asked_at.lock().unwrap(), vec![at(DECIDED)]);
}

#[test]
fn an_issuance_without_acceptance_is_reported() {
    let verifier = Fake::verified();
    assert_eq!(
        codes(&[issued(0, DECIDED)], &verifier),
        vec![IssuanceException::NoAcceptance]
    );
    // An acceptance of another application does not count.
    let mut other = accepted(0, DECIDED);
    other.subjects = vec!["application:app2".into()];
    assert_eq!(
        codes(&[other, issued(1, DECIDED)], &verifier),
        vec![IssuanceException::NoAcceptance]
    );
    // Nor does one after the issuance.
    assert_eq!(
        codes(&[issued(0, DECIDED), accepted(1, DECIDED)], &verifier),
        vec![IssuanceException::NoAcceptance]
    );
    assert!(verifier.asked_at.lock().unwrap().is_empty());
}

#[test]
fn evidence_that_is_not_named_or_not_stored_is_missing() {
    let verifier = Fake::verified();
    let mut unnamed = accepted(0, DECIDED);
    unnamed.evidence.clear();
    assert_eq!(
        codes(&[unnamed, issued(1, DECIDED)], &verifier),
        vec![IssuanceException::EvidenceMissing]
    );
    let entries = [accepted(0, DECIDED), issued(1, DECIDED)];
    assert_eq!(
        codes_with(&entries, None, None, &verifier),
        vec![IssuanceException::EvidenceMissing]
    );
}

#[test]
fn purged_evidence_is_its_own_outcome_never_a_pass() {
    let verifier = Fake::verified();
    let hash = evidence_hash(CMS);
    let entries = [accepted(0, DECIDED), issued(1, DECIDED), purged(2, &hash)];
    assert_eq!(
        codes_with(&entries, None, Some(&hash), &verifier),
        vec![IssuanceException::EvidencePurged]
    );
    // Listed but still there (a purge interrupted before deleting): it is verified.
    assert_eq!(codes(&entries, &verifier), vec![]);
}

#[test]
fn altered_evidence_is_reported() {
    let verifier = Fake::verified();
    let entries = [accepted(0, DECIDED), issued(1, DECIDED)];
    let hash = evidence_hash(CMS);
    assert_eq!(
        codes_with(&entries, Some(b"other bytes"), Some(&hash), &verifier),
        vec![IssuanceException::EvidenceAltered]
    );
    assert_eq!(
        codes_with(&entries, Some(CMS), Some("00"), &verifier),
        vec![IssuanceException::EvidenceAltered]
    );
    assert!(verifier.asked_at.lock().unwrap().is_empty());
}

#[test]
fn evidence_that_fails_verification_or_names_another_card_is_reported() {
    let entries = [accepted(0, DECIDED), issued(1, DECIDED)];
    let failing = Fake::answering(Verification::DoesNotVerify("jpki_untrusted".into()));
    assert_eq!(
        codes(&entries, &failing),
        vec![IssuanceException::EvidenceDoesNotVerify]
    );
    let other_card = Fake::answering(Verification::Verified {
        jpki_fingerprint: "bbbb".into(),
    });
    assert_eq!(
        codes(&entries, &other_card),
        vec![IssuanceException::EvidenceDoesNotVerify]
    );
    let unknown = Fake::answering(Verification::RevocationUnknown("no CRL".into()));
    assert_eq!(
        codes(&entries, &unknown),
        vec![IssuanceException::RevocationUnknownAtDecision]
    );
}

#[test]
fn an_automatic_acceptance_outside_the_rule_is_reported() {
    let verifier = Fake::verified();
    let outside = vec![IssuanceException::OutsideAutomaticRule];
    let mut version = accepted(0, DECIDED);
    version.payload["rule_version"] = "shuin-auto-approval/0".into();
    let mut checks = accepted(0, DECIDED);
    checks.payload["checks"] = serde_json::json!(["cms_signature"]);
    let mut approver = accepted(0, DECIDED);
    approver.payload["approver"] = "誰か".into();
    let mut actor = accepted(0, DECIDED);
    actor.actor.name = "誰か".into();
    let mut manual = accepted(0, DECIDED);
    manual.payload["automatic"] = false.into();
    for acceptance in [version, checks, approver, actor, manual] {
        let entries = [acceptance, issued(1, DECIDED)];
        assert_eq!(codes(&entries, &verifier), outside, "{:?}", entries[0]);
    }
}

#[test]
fn an_lra_approval_needs_an_lra_of_the_organisation_book() {
    let verifier = Fake::verified();
    let mut approval = accepted(0, DECIDED);
    approval.kind = "application.approved".into();
    approval.actor.name = "審査".into();
    approval.payload = serde_json::json!({"automatic": false, "approver": "審査"});
    let entries = [approval, issued(1, DECIDED)];
    assert_eq!(
        codes(&entries, &verifier),
        vec![IssuanceException::ApproverNotLra]
    );
}

#[test]
fn only_issuances_in_the_window_are_rechecked_with_acceptances_from_before_it() {
    let entries = [
        accepted(0, "2023-12-31T23:59:59Z"),
        issued(1, "2023-12-31T23:59:59Z"),
        accepted(2, "2023-12-31T23:59:59Z"),
        issued(3, DECIDED),
    ];
    let collected = collect(&entries, at("2024-01-01T00:00:00Z"), RP).unwrap();
    assert_eq!(collected.issuances.len(), 1);
    assert_eq!(collected.issuances[0].seq, 3);
    assert_eq!(
        collected.issuances[0].decision.as_ref().map(|d| d.seq),
        Some(2)
    );
}

#[test]
fn the_recheck_counts_issuances_per_code_and_lists_the_exceptions() {
    let collected = collect(
        &[accepted(0, DECIDED), issued(1, DECIDED), issued(2, DECIDED)],
        at("2024-01-01T00:00:00Z"),
        RP,
    )
    .unwrap();
    let mut without = collected.issuances[1].clone();
    without.decision = None;
    let mut recheck = Recheck::default();
    recheck.add(&collected.issuances[0], vec![]);
    let twice = vec![
        Finding::new(IssuanceException::OutsideAutomaticRule, "a"),
        Finding::new(IssuanceException::OutsideAutomaticRule, "b"),
    ];
    recheck.add(&collected.issuances[1], twice);
    recheck.add(
        &without,
        vec![Finding::new(IssuanceException::NoAcceptance, "c")],
    );
    assert_eq!(recheck.issuances_checked, 3);
    assert_eq!(recheck.automatic, 2);
    assert_eq!(recheck.exceptions.len(), 2);
    let json = serde_json::to_value(&recheck).unwrap();
    assert_eq!(
        json["exception_counts"],
        serde_json::json!({"no_acceptance": 1, "outside_automatic_rule": 1})
    );
    assert_eq!(
        json["exceptions"][0]["exceptions"][0]["code"],
        "outside_automatic_rule"
    );
    let back: Recheck = serde_json::from_value(json).unwrap();
    assert_eq!(back, recheck);
    let lines = recheck.lines();
    assert_eq!(
        lines[0],
        "issuances re-checked: 3 (2 automatic, 0 by an LRA), with exceptions: 2"
    );
    assert_eq!(
        lines[3],
        "  EXCEPTION      2  serial 0a  application app1  no_acceptance: c"
    );
}

#[test]
fn codes_are_the_serialised_names() {
    use IssuanceException::*;
    for code in [
        NoAcceptance,
        EvidenceMissing,
        EvidencePurged,
        EvidenceAltered,
        EvidenceDoesNotVerify,
        RevocationUnknownAtDecision,
        OutsideAutomaticRule,
        ApproverNotLra,
    ] {
        assert_eq!(serde_json::to_value(code).unwrap(), code.code());
    }
}

/// An RA node's record of the CA's answers to its orders.
fn answered(seq: u64, time: &str, answers: serde_json::Value) -> Entry {
    let mut e = entry(seq, time, crate::orders::ORDERS_ANSWERED, "shuin-ra");
    e.subjects = vec!["order:issue:app1".into()];
    e.payload = serde_json::json!({ "answers": answers });
    e
}

#[test]
fn at_an_ra_node_the_cas_issued_answers_are_the_issuances() {
    let verifier = Fake::verified();
    let issued_answer = serde_json::json!([
        {"order": "issue:app1", "outcome": "issued", "serial": "0a"},
        {"order": "revoke:0b", "outcome": "revoked", "revoked_at": DECIDED},
        {"order": "issue:app2", "outcome": "refused", "code": "ca_sealed", "retryable": true},
    ]);
    let entries = [
        accepted(0, DECIDED),
        answered(1, "2024-01-10T10:00:01Z", issued_answer.clone()),
    ];
    // Only the issued answer is an issuance, with its application's acceptance.
    assert_eq!(codes(&entries, &verifier), vec![]);
    let collected = collect(&entries, at("2024-01-01T00:00:00Z"), RP).unwrap();
    assert_eq!(collected.issuances[0].serial.as_deref(), Some("0a"));
    // An order answered twice is one issuance.
    let twice = [
        accepted(0, DECIDED),
        answered(1, "2024-01-10T10:00:01Z", issued_answer.clone()),
        answered(2, "2024-01-10T10:00:31Z", issued_answer.clone()),
    ];
    let collected = collect(&twice, at("2024-01-01T00:00:00Z"), RP).unwrap();
    assert_eq!(collected.issuances.len(), 1);
    // An answer of the CA without an acceptance before it is reported.
    assert_eq!(
        codes(&[answered(0, DECIDED, issued_answer)], &verifier),
        vec![IssuanceException::NoAcceptance]
    );
}

#[test]
fn at_the_ca_issuances_ra_nodes_ordered_are_left_to_their_review() {
    let mut received = entry(0, DECIDED, "orders.received", "shuin-ca");
    received.payload =
        serde_json::json!({"from": "ra-1", "orders": [{"order": "issue:app1", "sha256": "00"}]});
    let entries = [received, issued(1, "2024-01-10T10:00:01Z")];
    let collected = collect(&entries, at("2024-01-01T00:00:00Z"), RP).unwrap();
    assert!(collected.issuances.is_empty(), "{collected:?}");
    assert_eq!(collected.ordered_by_ra_nodes, 1);
    // One the CA decided itself (before the split, say) is re-checked here.
    let own = [accepted(0, DECIDED), issued(1, "2024-01-10T10:00:01Z")];
    let collected = collect(&own, at("2024-01-01T00:00:00Z"), RP).unwrap();
    assert_eq!(
        (collected.issuances.len(), collected.ordered_by_ra_nodes),
        (1, 0)
    );
    // An order naming an application the CA decided itself hides nothing from its review.
    let mut received = entry(1, DECIDED, "orders.received", "shuin-ca");
    received.payload = serde_json::json!({"orders": [{"order": "issue:app1"}]});
    let named = [
        accepted(0, DECIDED),
        received,
        issued(2, "2024-01-10T10:00:01Z"),
    ];
    let collected = collect(&named, at("2024-01-01T00:00:00Z"), RP).unwrap();
    assert_eq!(
        (collected.issuances.len(), collected.ordered_by_ra_nodes),
        (1, 0)
    );
}

#[test]
fn at_the_ca_an_issuance_whose_answer_no_node_kept_is_reviewed_there() {
    let mut received = entry(0, DECIDED, "orders.received", "shuin-ca");
    received.payload = serde_json::json!({"orders": [{"order": "issue:app1"}]});
    let mut refused = entry(2, DECIDED, "orders.not_kept", "shuin-ca");
    refused.payload = serde_json::json!({"answers": [{"order": "issue:app1", "code": "certificate_not_for_order"}]});
    let entries = [received, issued(1, "2024-01-10T10:00:01Z"), refused];
    let collected = collect(&entries, at("2024-01-01T00:00:00Z"), RP).unwrap();
    assert_eq!(collected.ordered_by_ra_nodes, 0, "{collected:?}");
    assert_eq!(
        codes(&entries, &Fake::verified()),
        vec![IssuanceException::NoAcceptance]
    );
}
