//! End to end through the real binary: the operator registry, the LRA review queue and
//! the responsible person's controls over automatic approval (issue 5, deliverables 1,
//! 3 and 5). Every operator command is a signed request to the running server, signed
//! with the operator's own key (DESIGN.md section 8).

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use crate::common::*;
use serde_json::Value;
use shuin_testkit::SimulatedJlisCa;
use std::path::Path;

const RP: &str = "責任者 花子";
const LRA: &str = "審査 一郎";
const AUDITOR: &str = "監査 三郎";

/// Runs `shuin ARGS --data DIR` (commands that read the database); (success, stdout,
/// stderr).
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

/// Runs `shuin ARGS` as `operator` (a signed request); (success, stdout, stderr).
fn run_as(instance: &Instance, operator: &str, args: &[&str]) -> (bool, String, String) {
    let out = instance.as_operator(operator, args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts that `operator` is refused `args` with the reason code `code`.
#[track_caller]
fn refused(instance: &Instance, operator: &str, args: &[&str], code: &str) {
    let (ok, _, stderr) = run_as(instance, operator, args);
    assert!(!ok, "shuin {args:?} as {operator} should be refused");
    assert!(stderr.contains(code), "expected {code}: {stderr}");
}

/// Makes `name`'s key and writes their CSR to a file; returns its path.
fn csr_file(instance: &Instance, name: &str) -> String {
    let work = instance.work.path();
    let csr = common::operators::make_key(work, name);
    let path = work.join(format!("{}.csr", hex::encode(name.as_bytes())));
    std::fs::write(&path, csr).unwrap();
    path.to_str().unwrap().to_owned()
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

/// Writes a settings row claiming `roles` for `name`, the way the registry kept roles
/// before the organisation book (skipped on SQLite without the sqlite3 tool).
fn forge_roles(instance: &Instance, name: &str, roles: &[&str]) {
    let row = serde_json::json!({"name": name, "roles": roles, "added_at": "2020-01-01T00:00:00Z"});
    instance.sql(&format!(
        "INSERT INTO settings (key, value) VALUES ('operator:{name}', '{row}'), \
         ('operators.index', '[\"{name}\"]') \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value;"
    ));
}

#[test]
fn operators_review_queue_and_automation_controls() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let valid = card(&jlis, |_| {});
    let substitute = card(&jlis, |s| s.name_substitutes = Some("00100".into()));
    let instance = Instance::start(&[], jlis);
    let data = instance.data.as_path();

    // Operators are enrolled from their CSR by the first admin (from init): the operator
    // CA certifies the key and the role is granted.
    let lra_csr = csr_file(&instance, LRA);
    let added = instance.as_operator_json(
        ADMIN,
        &["operator", "add", "--csr", &lra_csr, "--role", "lra"],
    );
    assert_eq!(added["name"], LRA, "{added}");
    assert_eq!(added["role"], "lra");
    assert_eq!(added["role_granted"], true);
    assert!(added["certificate_pem"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    instance.add_operator(AUDITOR, "auditor");
    instance.add_operator(RP, "responsible_person");
    let (ok, _, stderr) = run_as(
        &instance,
        ADMIN,
        &["operator", "grant", "--name", LRA, "--role", "root"],
    );
    assert!(
        !ok && stderr.contains("invalid value 'root' for '--role <ROLE>': must be one of"),
        "{stderr}"
    );
    let (ok, whoami, stderr) = run_as(&instance, LRA, &["operator", "whoami"]);
    assert!(ok, "{stderr}");
    let whoami: Value = serde_json::from_str(&whoami).unwrap();
    assert_eq!(whoami["operator"], LRA);
    assert_eq!(whoami["roles"], serde_json::json!(["lra"]));
    let listed = run_json(data, &["operator", "list", "--json"]);
    let listed = listed.as_array().unwrap();
    let rp = listed.iter().find(|o| o["name"] == RP).expect("RP listed");
    assert_eq!(rp["roles"], serde_json::json!(["responsible_person"]));
    assert_eq!(rp["designated_responsible_person"], true);
    let lra = listed
        .iter()
        .find(|o| o["name"] == LRA)
        .expect("LRA listed");
    assert_eq!(lra["roles"], serde_json::json!(["lra"]));
    assert!(lra["certificate_sha256"].is_string(), "{lra}");
    let admin = listed.iter().find(|o| o["name"] == ADMIN).expect("admin");
    assert_eq!(admin["roles"], serde_json::json!(["ca_admin"]));

    // Only a ca_admin enrols: an LRA is refused, and so is a key nobody enrolled.
    let x_csr = csr_file(&instance, "x");
    let add_x = ["operator", "add", "--csr", &x_csr, "--role", "monitor"];
    refused(
        &instance,
        LRA,
        &add_x,
        "role_missing: operator_add needs the role ca_admin",
    );
    common::operators::make_key(instance.work.path(), "誰か");
    refused(&instance, "誰か", &add_x, "operator_unknown");
    // A role written into the database by hand gives nothing.
    forge_roles(&instance, LRA, &["ca_admin", "lra"]);
    refused(&instance, LRA, &add_x, "role_missing");
    // A second ca_admin may.
    instance.add_operator("管理 四郎", "ca_admin");
    let added = instance.as_operator_json("管理 四郎", &add_x);
    assert_eq!(added["name"], "x");
    assert_eq!(added["role"], "monitor");

    // A substitute-character application waits for review.
    let (status, answer) = instance.apply(&substitute, "山田　次郎", BIRTH, ADDRESS);
    assert_eq!(status, 202, "{answer}");
    let approved_id = answer["application_id"].as_str().unwrap().to_owned();
    let (status, answer) = instance.apply(&substitute, "山田　次郎", BIRTH, ADDRESS);
    assert_eq!(status, 202, "{answer}");
    let rejected_id = answer["application_id"].as_str().unwrap().to_owned();

    // Role refusals: not an LRA, or unknown.
    refused(&instance, RP, &["review", "list"], "role_missing");
    refused(&instance, "誰か", &["review", "list"], "operator_unknown");
    refused(
        &instance,
        AUDITOR,
        &["review", "approve", "--id", &approved_id],
        "role_missing: review_approve needs the role lra",
    );
    let queue = instance.as_operator_json(LRA, &["review", "list"]);
    let queue = queue.as_array().unwrap();
    let ids: Vec<&str> = queue.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&approved_id.as_str()) && ids.contains(&rejected_id.as_str()));
    let row = queue
        .iter()
        .find(|a| a["id"] == approved_id.as_str())
        .unwrap();
    assert!(row["received_at"].as_str().unwrap().ends_with('Z'), "{row}");
    assert_eq!(
        row["review_reasons"],
        serde_json::json!(["name_substitute_characters"])
    );
    assert!(row.get("subject_name").is_some(), "{row}");

    // The evidence: JPKI facts, basic items with the substitute marked, the entries.
    let shown = instance.as_operator_json(LRA, &["review", "show", "--id", &approved_id]);
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
    let (ok, text, _) = run_as(&instance, LRA, &["review", "show", "--id", &approved_id]);
    assert!(ok && text.contains("山田[　]太郎"), "{text}");

    // Approve: issued by the running server, with the LRA as approver, ledgered before
    // the certificate.
    let done = instance.as_operator_json(LRA, &["review", "approve", "--id", &approved_id]);
    assert_eq!(done["id"], approved_id.as_str());
    assert_eq!(done["status"], "issued");
    assert_eq!(done["approver"], LRA);
    assert_eq!(done["approver_role"], "lra");
    let outcome = application(&instance, &approved_id);
    assert_eq!(outcome["status"], "issued", "{outcome}");
    assert_eq!(outcome["serial"], done["serial"]);
    assert!(outcome["certificate_pem"].is_string(), "{outcome}");
    // OCSP says good (not unknown) for the certificate issued on approval.
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
    let (ok, _, stderr) = run_as(&instance, LRA, &["review", "approve", "--id", &approved_id]);
    assert!(!ok && stderr.contains("not pending_review"), "{stderr}");

    // Reject: needs a reason; the applicant sees it.
    let (ok, _, stderr) = run_as(&instance, LRA, &["review", "reject", "--id", &rejected_id]);
    assert!(!ok && stderr.contains("--reason"), "{stderr}");
    let reason = "代替文字の氏名を住民票の写しで確認できませんでした";
    let done = instance.as_operator_json(
        LRA,
        &["review", "reject", "--id", &rejected_id, "--reason", reason],
    );
    assert_eq!(done["id"], rejected_id.as_str());
    assert_eq!(done["status"], "rejected");
    assert_eq!(done["reason"], reason);
    assert_eq!(done["decided_by"], LRA);
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
    // The approval commits to the applicant's record, as the pending entry did, and
    // names nobody but the LRA (docs/ledger.md, "Personal data").
    let pending = of_kind(&entries, "application.pending_review")
        .into_iter()
        .find(|e| e.to_string().contains(&subject))
        .expect("application.pending_review for the approved application");
    let reference = &approved[0]["payload"]["personal_data"];
    assert_eq!(reference["commitment"].as_str().map(str::len), Some(64));
    assert_eq!(reference, &pending["payload"]["personal_data"]);
    assert!(!approved[0].to_string().contains(NAME), "{}", approved[0]);
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
    // The signed request is in the books before its effect.
    let request = of_kind(&entries, "operator.request")
        .into_iter()
        .find(|e| e["payload"]["action"] == "review_approve")
        .expect("the approval request is ledgered");
    assert_eq!(request["actor"]["name"], LRA);
    assert!(request["payload"]["request"]
        .as_str()
        .unwrap()
        .contains(&approved_id));
    assert!(request["payload"]["signature"].is_string());
    assert_eq!(
        request["payload"]["certificate_sha256"],
        lra["certificate_sha256"]
    );
    assert!(request["seq"].as_u64() < approved[0]["seq"].as_u64());
    let rejected = of_kind(&entries, "application.rejected_by_lra");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["actor"]["name"], LRA);
    assert_eq!(rejected[0]["payload"]["reason"], reason);
    let refusals = of_kind(&entries, "operator.refused");
    assert!(refusals.len() >= 5, "{refusals:?}");
    assert!(refusals.iter().any(|e| e["actor"]["name"] == AUDITOR
        && e["payload"]["code"] == "role_missing"
        && e["payload"]["action"] == "review_approve"));
    assert!(refusals
        .iter()
        .any(|e| e["payload"]["code"] == "operator_unknown"));

    // Automation: a valid application is issued automatically, by the designated RP.
    let (status, answer) = instance.apply(&valid, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{answer}");

    // Only the responsible person may suspend; a reason is needed.
    refused(
        &instance,
        LRA,
        &["automation", "suspend", "--reason", "x"],
        "role_missing: automation_suspend needs the role responsible_person",
    );
    let (ok, _, _) = run_as(&instance, RP, &["automation", "suspend", "--reason", " "]);
    assert!(!ok);
    let why = "異常な申請の急増を調査中";
    let state = instance.as_operator_json(RP, &["automation", "suspend", "--reason", why]);
    assert_eq!(state["suspended"], true);
    assert_eq!(state["reason"], why);
    assert_eq!(state["by"], RP);
    assert!(state["at"].as_str().unwrap().ends_with('Z'), "{state}");
    // The running server follows at once: valid applications wait.
    let (status, answer) = instance.apply(&valid, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "pending_review");
    assert_eq!(
        answer["review_reasons"],
        serde_json::json!(["automation_suspended"])
    );
    let (ok, _, stderr) = run_as(
        &instance,
        RP,
        &["automation", "suspend", "--reason", "again"],
    );
    assert!(!ok && stderr.contains("already suspended"), "{stderr}");
    let state = instance.as_operator_json(RP, &["automation", "resume", "--reason", "調査完了"]);
    assert_eq!(state["suspended"], false);
    assert_eq!(state["by"], RP);
    let (status, answer) = instance.apply(&valid, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["status"], "issued");

    // The periodic review lists the automatic decisions and flags the card used thrice.
    refused(
        &instance,
        LRA,
        &["automation", "review", "--since", "2000-01-01"],
        "role_missing",
    );
    let review = instance.as_operator_json(RP, &["automation", "review", "--since", "2000-01-01"]);
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
    // Every issuance re-checked, the LRA's approval and the automatic ones alike.
    assert_eq!(review["recheck"]["issuances_checked"], 3, "{review}");
    assert_eq!(review["recheck"]["lra_approved"], 1, "{review}");
    assert_eq!(review["recheck"]["exception_counts"], serde_json::json!({}));
    let future = instance.as_operator_json(RP, &["automation", "review", "--since", "2999-01-01"]);
    assert!(future["automatic_decisions"].as_array().unwrap().is_empty());
    let signed = instance.as_operator_json(
        RP,
        &[
            "automation",
            "review",
            "--since",
            "2000-01-01",
            "--sign-off",
        ],
    );
    assert_eq!(signed["signed_off"]["by"], RP);
    assert!(signed["signed_off"]["seq"].is_u64(), "{signed}");

    let entries = ledger(data);
    let sign_off = of_kind(&entries, "automation.review_signed_off");
    assert_eq!(sign_off.len(), 1);
    assert_eq!(sign_off[0]["seq"], signed["signed_off"]["seq"]);
    assert_eq!(sign_off[0]["actor"]["name"], RP);
    assert_eq!(sign_off[0]["actor"]["role"], "responsible_person");
    assert_eq!(sign_off[0]["payload"]["automatic_decisions"], 2);
    assert_eq!(of_kind(&entries, "automation.suspended").len(), 1);
    assert_eq!(of_kind(&entries, "automation.resumed").len(), 1);
    let enrolled = of_kind(&entries, "operator.enrolled");
    for name in [ADMIN, LRA, AUDITOR, RP, "管理 四郎", "x"] {
        assert!(
            enrolled.iter().any(|e| e["payload"]["name"] == name),
            "{name} enrolled"
        );
    }
    let granted = of_kind(&entries, "operator.role_granted");
    assert!(granted
        .iter()
        .any(|e| e["payload"]["name"] == LRA && e["payload"]["role"] == "lra"));
    assert!(granted
        .iter()
        .any(|e| e["payload"]["name"] == RP && e["payload"]["role"] == "responsible_person"));
    assert!(!granted
        .iter()
        .any(|e| e["payload"]["name"] == LRA && e["payload"]["role"] == "ca_admin"));
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
    instance.add_operator(successor, "responsible_person");
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
    instance.add_operator(LRA, "lra");
    instance.add_operator(RP, "responsible_person");
    instance.as_operator_json(RP, &["automation", "suspend", "--reason", "点検"]);
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
    let done = instance.as_operator_json(LRA, &["review", "approve", "--id", &id]);
    assert_eq!(done["status"], "issued");
    assert_ne!(done["serial"], old_serial.as_str());
    let entries = ledger(data);
    assert!(revoked_old(&entries), "old certificate not superseded");
    assert!(of_kind(&entries, "notice.queued")
        .iter()
        .any(|e| e.to_string().contains(&old_serial)));
}

/// `time` (RFC 3339) plus `days`.
fn days_after(time: &Value, days: u64) -> String {
    let time = shuin_core::timefmt::parse_rfc3339(time.as_str().unwrap()).unwrap();
    shuin_core::timefmt::rfc3339(time + std::time::Duration::from_secs(days * 86_400))
}

/// The codes of the re-check's only issuance with exceptions.
#[track_caller]
fn exception_codes(review: &Value) -> Vec<String> {
    let exceptions = review["recheck"]["exceptions"].as_array().unwrap();
    assert_eq!(exceptions.len(), 1, "{review}");
    let codes = exceptions[0]["exceptions"].as_array().unwrap();
    codes
        .iter()
        .map(|c| c["code"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_periodic_review_rechecks_each_issuance_and_says_when_the_next_is_due() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let valid = card(&jlis, |_| {});
    let instance = Instance::start(&[], jlis);
    let data = instance.data.as_path();
    instance.add_operator(RP, "responsible_person");
    let (status, answer) = instance.apply(&valid, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{answer}");
    let review_args = ["automation", "review", "--since", "2000-01-01"];

    // Clean: the evidence verifies at the decision's time; due 30 days after the start.
    let review = instance.as_operator_json(RP, &review_args);
    let recheck = &review["recheck"];
    assert_eq!(recheck["issuances_checked"], 1, "{review}");
    assert_eq!(recheck["automatic"], 1);
    assert_eq!(
        recheck["exception_counts"],
        serde_json::json!({}),
        "{review}"
    );
    assert_eq!(recheck["exceptions"], serde_json::json!([]));
    let entries = ledger(data);
    let schedule = &review["schedule"];
    assert_eq!(schedule["review_interval_days"], 30);
    assert!(schedule["last_signed_off"].is_null(), "{schedule}");
    assert_eq!(
        schedule["next_review_due"],
        days_after(&entries[0]["time"], 30)
    );
    assert_eq!(schedule["overdue"], false);
    let (ok, text, stderr) = run_as(&instance, RP, &review_args);
    assert!(ok, "{stderr}");
    assert!(
        text.contains("issuances re-checked: 1 (1 automatic, 0 by an LRA), with exceptions: 0"),
        "{text}"
    );
    assert!(text.contains("next review due "), "{text}");

    // Signed off: the counts are in the books, and the next review counts from it.
    let mut sign_off = review_args.to_vec();
    sign_off.push("--sign-off");
    let signed = instance.as_operator_json(RP, &sign_off);
    let time = &signed["signed_off"]["time"];
    assert_eq!(&signed["schedule"]["last_signed_off"], time, "{signed}");
    assert_eq!(signed["schedule"]["next_review_due"], days_after(time, 30));
    let entries = ledger(data);
    let entry = of_kind(&entries, "automation.review_signed_off")[0];
    assert_eq!(entry["payload"]["issuances_checked"], 1, "{entry}");
    assert_eq!(entry["payload"]["exceptions"], serde_json::json!({}));
    assert_eq!(entry["payload"]["review_interval_days"], 30);
    assert_eq!(entry["payload"]["next_review_due"], days_after(time, 30));
    let review = instance.as_operator_json(RP, &review_args);
    assert_eq!(&review["schedule"]["last_signed_off"], time);
    // `shuin status` says when the next review is due.
    let status = json_answer(&["status"], data);
    let due = &status["automation_review"];
    assert_eq!(&due["last_signed_off"], time, "{status}");
    assert_eq!(due["next_review_due"], days_after(time, 30));
    assert_eq!(due["overdue"], false);

    // The signed application replaced by other bytes, then removed.
    let accepted = of_kind(&entries, "application.accepted")[0];
    let evidence = accepted["evidence"][0].as_str().unwrap();
    let evidence = evidence.strip_prefix("sha256:").unwrap();
    let record = accepted["payload"]["personal_data"]["record_sha256"]
        .as_str()
        .unwrap();
    let altered = instance.sql(&format!(
        "UPDATE evidence SET bytes = (SELECT bytes FROM evidence WHERE sha256 = '{record}') \
         WHERE sha256 = '{evidence}';"
    ));
    if altered.is_none() {
        return; // no sqlite3 tool: the rest needs the database edited
    }
    let review = instance.as_operator_json(RP, &review_args);
    assert_eq!(exception_codes(&review), ["evidence_altered"]);
    assert_eq!(
        review["recheck"]["exception_counts"],
        serde_json::json!({"evidence_altered": 1})
    );
    instance.sql(&format!(
        "DELETE FROM evidence WHERE sha256 = '{evidence}';"
    ));
    let review = instance.as_operator_json(RP, &review_args);
    assert_eq!(exception_codes(&review), ["evidence_missing"]);
    let (ok, text, _) = run_as(&instance, RP, &review_args);
    assert!(ok && text.contains("evidence_missing: "), "{text}");
    // The sign-off carries the counts.
    let signed = instance.as_operator_json(RP, &sign_off);
    let entries = ledger(data);
    let entry = of_kind(&entries, "automation.review_signed_off")[1];
    assert_eq!(entry["seq"], signed["signed_off"]["seq"]);
    assert_eq!(
        entry["payload"]["exceptions"],
        serde_json::json!({"evidence_missing": 1})
    );
}
