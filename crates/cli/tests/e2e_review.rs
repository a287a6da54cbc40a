//! End to end through the real binary: the operator registry, the LRA review queue and
//! the responsible person's controls over automatic approval (issue 5, deliverables 1,
//! 3 and 5), beside a running server.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;
use shuin_testkit::SimulatedJlisCa;
use std::path::Path;

const RP: &str = "責任者 花子";
const LRA: &str = "審査 一郎";
const AUDITOR: &str = "監査 三郎";

/// Runs `shuin ARGS --data DIR`; (success, stdout, stderr).
fn run(data: &Path, args: &[&str]) -> (bool, String, String) {
    let out = shuin().args(args).arg("--data").arg(data).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn run_json(data: &Path, args: &[&str]) -> Value {
    let (ok, stdout, stderr) = run(data, args);
    assert!(ok, "shuin {args:?} failed: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[track_caller]
fn refused(data: &Path, args: &[&str]) {
    let (ok, _, stderr) = run(data, args);
    assert!(!ok, "shuin {args:?} should be refused");
    assert!(stderr.contains("operator_refused"), "{stderr}");
}

fn ledger(data: &Path) -> Vec<Value> {
    let entries = run_json(data, &["ledger", "show", "--json"]);
    entries.as_array().unwrap().clone()
}

fn of_kind<'a>(entries: &'a [Value], kind: &str) -> Vec<&'a Value> {
    entries.iter().filter(|e| e["kind"] == kind).collect()
}

fn application(instance: &Instance, id: &str) -> Value {
    let (status, body) = get(&instance.url(&format!("/api/v1/applications/{id}")));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn operators_review_queue_and_automation_controls() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let valid = card(&jlis, |_| {});
    let substitute = card(&jlis, |s| s.name_substitutes = Some("00100".into()));
    let instance = Instance::start(&[], jlis);
    let data = instance.data.as_path();

    // Operators: the responsible person from init is in the registry and designated.
    let added = run_json(
        data,
        &["operator", "add", "--name", LRA, "--role", "lra", "--json"],
    );
    assert_eq!(added["roles"], serde_json::json!(["lra"]));
    run_json(
        data,
        &[
            "operator", "add", "--name", AUDITOR, "--role", "auditor", "--json",
        ],
    );
    let (ok, _, stderr) = run(data, &["operator", "add", "--name", LRA, "--role", "root"]);
    assert!(!ok && stderr.contains("--role must be one of"), "{stderr}");
    let listed = run_json(data, &["operator", "list", "--json"]);
    let listed = listed.as_array().unwrap();
    let rp = listed.iter().find(|o| o["name"] == RP).expect("RP listed");
    assert_eq!(rp["roles"], serde_json::json!(["responsible_person"]));
    assert_eq!(rp["designated_responsible_person"], true);
    assert!(listed.iter().any(|o| o["name"] == LRA));

    // A ca_admin exists now: adding without --operator, or by a non-admin, is refused.
    run_json(
        data,
        &[
            "operator",
            "add",
            "--name",
            "管理 四郎",
            "--role",
            "ca_admin",
            "--json",
        ],
    );
    refused(
        data,
        &["operator", "add", "--name", "x", "--role", "monitor"],
    );
    refused(
        data,
        &[
            "operator",
            "add",
            "--name",
            "x",
            "--role",
            "monitor",
            "--operator",
            LRA,
        ],
    );
    run_json(
        data,
        &[
            "operator",
            "add",
            "--name",
            "x",
            "--role",
            "monitor",
            "--operator",
            "管理 四郎",
            "--json",
        ],
    );

    // A substitute-character application waits for review.
    let (status, answer) = instance.apply(&substitute, "山田　次郎", BIRTH, ADDRESS);
    assert_eq!(status, 202, "{answer}");
    let approved_id = answer["application_id"].as_str().unwrap().to_owned();
    let (status, answer) = instance.apply(&substitute, "山田　次郎", BIRTH, ADDRESS);
    assert_eq!(status, 202, "{answer}");
    let rejected_id = answer["application_id"].as_str().unwrap().to_owned();

    // Role refusals: not an LRA, or unknown.
    refused(data, &["review", "list", "--operator", RP]);
    refused(data, &["review", "list", "--operator", "誰か"]);
    refused(
        data,
        &[
            "review",
            "approve",
            "--operator",
            AUDITOR,
            "--id",
            &approved_id,
        ],
    );
    let queue = run_json(data, &["review", "list", "--operator", LRA, "--json"]);
    let ids: Vec<&str> = queue
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&approved_id.as_str()) && ids.contains(&rejected_id.as_str()));

    // The evidence: JPKI facts, basic items with the substitute marked, the entries.
    let shown = run_json(
        data,
        &[
            "review",
            "show",
            "--operator",
            LRA,
            "--id",
            &approved_id,
            "--json",
        ],
    );
    assert_eq!(shown["basic_items"]["name_marked"], "山田[　]太郎");
    assert_eq!(
        shown["basic_items"]["name_substitute_positions"],
        serde_json::json!([2])
    );
    assert_eq!(shown["entered"]["name"], "山田　次郎");
    assert_eq!(
        shown["review_reasons"],
        serde_json::json!(["name_substitute_characters"])
    );
    assert!(shown["jpki_certificate"]["fingerprint_sha256"].is_string());
    let (ok, text, _) = run(
        data,
        &["review", "show", "--operator", LRA, "--id", &approved_id],
    );
    assert!(ok && text.contains("山田[　]太郎"), "{text}");

    // Approve: issued, with the LRA as approver, ledgered before the certificate.
    let done = run_json(
        data,
        &[
            "review",
            "approve",
            "--operator",
            LRA,
            "--id",
            &approved_id,
            "--json",
        ],
    );
    assert_eq!(done["status"], "issued");
    let outcome = application(&instance, &approved_id);
    assert_eq!(outcome["status"], "issued", "{outcome}");
    assert_eq!(outcome["serial"], done["serial"]);
    assert!(outcome["certificate_pem"].is_string(), "{outcome}");
    // The running server learns of a certificate issued by another process: OCSP says
    // good (not unknown) within a few seconds.
    let issuing = get_bytes(&instance.url("/repository/ca.crt"));
    let serial = shuin_core::Serial::from_hex(done["serial"].as_str().unwrap()).unwrap();
    let started = std::time::Instant::now();
    loop {
        let answer = shuin_client::ocsp_status(&instance.url("/ocsp"), &issuing, &serial).unwrap();
        if answer == shuin_client::OcspAnswer::Good {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "OCSP says {answer:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let (ok, _, stderr) = run(
        data,
        &["review", "approve", "--operator", LRA, "--id", &approved_id],
    );
    assert!(!ok && stderr.contains("not pending_review"), "{stderr}");

    // Reject: needs a reason; the applicant sees it.
    let (ok, _, stderr) = run(
        data,
        &["review", "reject", "--operator", LRA, "--id", &rejected_id],
    );
    assert!(!ok && stderr.contains("--reason"), "{stderr}");
    let reason = "代替文字の氏名を住民票の写しで確認できませんでした";
    let done = run_json(
        data,
        &[
            "review",
            "reject",
            "--operator",
            LRA,
            "--id",
            &rejected_id,
            "--reason",
            reason,
            "--json",
        ],
    );
    assert_eq!(done["status"], "rejected");
    let outcome = application(&instance, &rejected_id);
    assert_eq!(outcome["status"], "rejected");
    assert_eq!(outcome["reason"], reason);

    let entries = ledger(data);
    let approved = of_kind(&entries, "application.approved");
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0]["actor"]["name"], LRA);
    assert_eq!(approved[0]["actor"]["role"], "lra");
    assert_eq!(approved[0]["payload"]["approver"], LRA);
    assert_eq!(approved[0]["payload"]["automatic"], false);
    let subject = format!("application:{approved_id}");
    let signing = entries
        .iter()
        .find(|e| e["kind"] == "certificate.signing" && e.to_string().contains(&approved_id))
        .expect("certificate.signing for the approved application");
    assert!(approved[0]["seq"].as_u64() < signing["seq"].as_u64());
    assert_eq!(signing["payload"]["approver"]["name"], LRA);
    assert_eq!(signing["payload"]["approver"]["role"], "lra");
    assert_eq!(signing["payload"]["approver"]["automatic"], false);
    assert!(approved[0]["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == &Value::String(subject.clone())));
    let rejected = of_kind(&entries, "application.rejected_by_lra");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["actor"]["name"], LRA);
    assert_eq!(rejected[0]["payload"]["reason"], reason);
    let refusals = of_kind(&entries, "operator.refused");
    assert!(refusals.len() >= 5, "{refusals:?}");
    assert!(refusals
        .iter()
        .any(|e| e["actor"]["name"] == AUDITOR && e["payload"]["required_role"] == "lra"));

    // Automation: a valid application is issued automatically, by the designated RP.
    let (status, answer) = instance.apply(&valid, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{answer}");

    // Only the responsible person may suspend; a reason is needed.
    refused(
        data,
        &["automation", "suspend", "--operator", LRA, "--reason", "x"],
    );
    let (ok, _, _) = run(
        data,
        &["automation", "suspend", "--operator", RP, "--reason", " "],
    );
    assert!(!ok);
    let state = run_json(
        data,
        &[
            "automation",
            "suspend",
            "--operator",
            RP,
            "--reason",
            "異常な申請の急増を調査中",
            "--json",
        ],
    );
    assert_eq!(state["suspended"], true);
    // The running server follows at once: valid applications wait.
    let (status, answer) = instance.apply(&valid, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "pending_review");
    assert_eq!(
        answer["review_reasons"],
        serde_json::json!(["automation_suspended"])
    );
    let (ok, _, stderr) = run(
        data,
        &[
            "automation",
            "suspend",
            "--operator",
            RP,
            "--reason",
            "again",
        ],
    );
    assert!(!ok && stderr.contains("already suspended"), "{stderr}");
    let state = run_json(
        data,
        &[
            "automation",
            "resume",
            "--operator",
            RP,
            "--reason",
            "調査完了",
            "--json",
        ],
    );
    assert_eq!(state["suspended"], false);
    let (status, answer) = instance.apply(&valid, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["status"], "issued");

    // The periodic review lists the automatic decisions and flags the card used thrice.
    refused(
        data,
        &[
            "automation",
            "review",
            "--operator",
            LRA,
            "--since",
            "2000-01-01",
        ],
    );
    let review = run_json(
        data,
        &[
            "automation",
            "review",
            "--operator",
            RP,
            "--since",
            "2000-01-01",
            "--json",
        ],
    );
    let decisions = review["automatic_decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 2, "{review}");
    assert!(decisions.iter().all(|d| d["approver"] == RP));
    assert_eq!(review["pending_review"]["automation_suspended"], 1);
    assert_eq!(review["pending_review"]["name_substitute_characters"], 2);
    assert!(
        review["signals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["signal"] == "jpki_certificate_reused" && s["applications"] == 3),
        "{review}"
    );
    assert!(review["signed_off"].is_null());
    let future = run_json(
        data,
        &[
            "automation",
            "review",
            "--operator",
            RP,
            "--since",
            "2999-01-01",
            "--json",
        ],
    );
    assert!(future["automatic_decisions"].as_array().unwrap().is_empty());
    let signed = run_json(
        data,
        &[
            "automation",
            "review",
            "--operator",
            RP,
            "--since",
            "2000-01-01",
            "--sign-off",
            "--json",
        ],
    );
    assert_eq!(signed["signed_off"]["by"], RP);

    let entries = ledger(data);
    let sign_off = of_kind(&entries, "automation.review_signed_off");
    assert_eq!(sign_off.len(), 1);
    assert_eq!(sign_off[0]["actor"]["name"], RP);
    assert_eq!(sign_off[0]["actor"]["role"], "responsible_person");
    assert_eq!(sign_off[0]["payload"]["automatic_decisions"], 2);
    assert_eq!(of_kind(&entries, "automation.suspended").len(), 1);
    assert_eq!(of_kind(&entries, "automation.resumed").len(), 1);
    let added = of_kind(&entries, "operator.added");
    assert!(added.iter().any(|e| e["payload"]["name"] == LRA));
    assert!(added
        .iter()
        .any(|e| e["payload"]["name"] == RP && e["payload"]["role"] == "responsible_person"));
    let accepted = of_kind(&entries, "application.accepted");
    assert!(accepted.iter().all(|e| e["payload"]["approver"] == RP));

    // The ledger still verifies with every operator entry in it.
    let (ok, _, stderr) = run(data, &["ledger", "verify"]);
    assert!(ok, "{stderr}");
}

#[test]
fn a_newly_designated_responsible_person_becomes_the_automatic_approver() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let valid = card(&jlis, |_| {});
    let instance = Instance::start(&[], jlis);
    let data = instance.data.as_path();
    let successor = "後任 責任者";
    run_json(
        data,
        &[
            "operator",
            "add",
            "--name",
            successor,
            "--role",
            "responsible_person",
            "--json",
        ],
    );
    let (status, answer) = instance.apply(&valid, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{answer}");
    let entries = ledger(data);
    let accepted = of_kind(&entries, "application.accepted");
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0]["payload"]["approver"], successor);
    assert_eq!(accepted[0]["actor"]["name"], successor);
    let designated = of_kind(&entries, "organization.responsible_person_designated");
    assert_eq!(
        designated.last().unwrap()["payload"]["responsible_person"],
        successor
    );
}

#[test]
fn a_reissue_held_for_review_supersedes_the_old_certificate_once_approved() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let old_card = card(&jlis, |_| {});
    let renewed = card(&jlis, |_| {});
    let instance = Instance::start(&[], jlis);
    let data = instance.data.as_path();
    let (status, answer) = instance.apply(&old_card, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{answer}");
    let old_serial = answer["serial"].as_str().unwrap().to_owned();
    run_json(
        data,
        &["operator", "add", "--name", LRA, "--role", "lra", "--json"],
    );
    run_json(
        data,
        &[
            "automation",
            "suspend",
            "--operator",
            RP,
            "--reason",
            "点検",
            "--json",
        ],
    );
    let (key, _) = shuin_keys::SoftwareSigner::generate(shuin_keys::KeySpec::EcP256).unwrap();
    let mut document = instance.document(&key, NAME, BIRTH, ADDRESS);
    document["kind"] = "reissue".into();
    document["replaces"] = old_serial.as_str().into();
    let (status, answer) = instance.submit(&renewed, &document);
    assert_eq!(status, 202, "{answer}");
    let id = answer["application_id"].as_str().unwrap().to_owned();
    // Held: nothing revoked yet.
    let revoked_old = |entries: &[Value]| {
        entries.iter().any(|e| {
            e["kind"] == "revocation.accepted"
                && e.to_string().contains(&old_serial)
                && e.to_string().contains("superseded")
        })
    };
    assert!(!revoked_old(&ledger(data)));
    let done = run_json(
        data,
        &[
            "review",
            "approve",
            "--operator",
            LRA,
            "--id",
            &id,
            "--json",
        ],
    );
    assert_eq!(done["status"], "issued");
    assert_ne!(done["serial"], old_serial.as_str());
    let entries = ledger(data);
    assert!(revoked_old(&entries), "old certificate not superseded");
    assert!(of_kind(&entries, "notice.queued")
        .iter()
        .any(|e| e.to_string().contains(&old_serial)));
}
