//! Entry/exit records (入退室管理) end to end through the real binary: `shuin facility
//! import-access` takes a good CSV file into the facility book once (a repeat adds
//! nothing), refuses a bad one with every bad line number and leaves the ledger as it
//! was; `POST /ledger/v1/access-events` needs the token made by `shuin facility
//! access-token`, is atomic and idempotent, and shares the idempotency keys with the
//! CSV import; the ledger still verifies.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use crate::common::*;
use serde_json::Value;
use shuin_testkit::SimulatedJlisCa;
use std::path::Path;
use std::time::Duration;

const KIND: &str = "facility.access_event";

/// An instance (not served yet) whose certificate equipment room has the doors east
/// and west.
fn instance() -> Instance {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let instance = Instance::init_with(
        &[],
        jlis,
        &["--key-backend".into(), "software".into()],
        vec![],
    );
    instance.append_config("\n[facility]\ndoors = [\"east\", \"west\"]\n");
    instance
}

/// `hours` ago, RFC 3339 in UTC.
/// The instant the test's times are counted from: one for the whole run, so that two
/// calls never straddle a second boundary.
fn start() -> std::time::SystemTime {
    static START: std::sync::OnceLock<std::time::SystemTime> = std::sync::OnceLock::new();
    *START.get_or_init(now)
}

fn ago(hours: u64) -> String {
    shuin_core::timefmt::rfc3339(start() - Duration::from_secs(hours * 3600))
}

/// The same instant as `ago(hours)`, written in Japan Standard Time.
fn ago_jst(hours: u64) -> String {
    let local = shuin_core::timefmt::rfc3339(
        start() - Duration::from_secs(hours * 3600) + Duration::from_secs(9 * 3600),
    );
    local.replace('Z', "+09:00")
}

/// Runs `shuin ARGS`: (success, stdout, stderr).
fn run(args: &[&str], data: &Path, extra: &[&str]) -> (bool, String, String) {
    let out = shuin()
        .args(args)
        .arg("--data")
        .arg(data)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn import(instance: &Instance, csv: &Path, json: bool) -> (bool, String, String) {
    let mut extra = vec!["--csv", csv.to_str().unwrap()];
    if json {
        extra.push("--json");
    }
    // A ca_admin's signed request; the CSV travels beside it.
    let out = instance.as_operator(
        ADMIN,
        &[&["facility", "import-access"][..], &extra].concat(),
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every entry of the ledger.
fn entries(instance: &Instance) -> Vec<Value> {
    let (ok, stdout, stderr) = run(&["ledger", "show"], &instance.data, &["--json"]);
    assert!(ok, "{stderr}");
    serde_json::from_str::<Value>(&stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn access_events(instance: &Instance) -> Vec<Value> {
    entries(instance)
        .into_iter()
        .filter(|e| e["kind"] == KIND)
        .collect()
}

fn assert_verifies(instance: &Instance) {
    let (ok, stdout, stderr) = run(&["ledger", "verify"], &instance.data, &[]);
    assert!(ok, "ledger verify: {stdout}{stderr}");
}

fn write(instance: &Instance, name: &str, text: &str) -> std::path::PathBuf {
    let path = instance.work.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_csv_file_goes_into_the_facility_book_once_and_a_bad_one_not_at_all() {
    let mut instance = instance();
    instance.serve();
    let before = entries(&instance).len();
    // A BOM, CRLF, a quoted name with a comma, the same entry twice (once in JST).
    let good = write(
        &instance,
        "access-2026-11.csv",
        &format!(
            "\u{FEFF}time,person,door,direction\r\n\
             {},山田　太郎,east,in\r\n\
             {},\"Sato, Ken\",west,入\r\n\
             {},山田　太郎,east,in\r\n\
             {},山田　太郎,east,out\r\n",
            ago_jst(3),
            ago(3),
            ago(3),
            ago(2)
        ),
    );
    let (ok, stdout, stderr) = import(&instance, &good, true);
    assert!(ok, "{stdout}{stderr}");
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["imported"], 3, "{summary}");
    assert_eq!(summary["duplicates"], 1, "{summary}");
    let recorded = access_events(&instance);
    assert_eq!(recorded.len(), 3);
    let first = &recorded[0];
    assert_eq!(first["book"], "facility");
    assert_eq!(first["payload"]["time"], ago(3), "normalised to UTC");
    assert_eq!(first["payload"]["person"], "山田　太郎");
    assert_eq!(first["payload"]["door"], "east");
    assert_eq!(first["payload"]["direction"], "in");
    assert_eq!(first["payload"]["source"], "csv:access-2026-11.csv");
    assert_eq!(recorded[1]["payload"]["person"], "Sato, Ken");
    assert_eq!(recorded[1]["payload"]["direction"], "in");
    assert_eq!(recorded[2]["payload"]["direction"], "out");
    // The three records and, before them, the ca_admin's signed request.
    assert_eq!(entries(&instance).len(), before + 4);
    assert_eq!(first["actor"]["name"], ADMIN);

    // The same file again: nothing new.
    let (ok, stdout, stderr) = import(&instance, &good, false);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("imported 0 entry/exit record(s)") && stdout.contains("4 duplicate(s)"),
        "{stdout}"
    );
    assert_eq!(access_events(&instance).len(), 3);

    // A file with one good new row and four bad ones: every bad line is named, nothing
    // is imported.
    let size = entries(&instance).len();
    let bad = write(
        &instance,
        "bad.csv",
        &format!(
            "time,person,door,direction\n\
             {},新しい 人,east,in\n\
             2026-11-26 09:00,山田　太郎,east,in\n\
             {},山田　太郎,server-room,in\n\
             {},,west,sideways\n\
             {},未来,east,in\n",
            ago(1),
            ago(1),
            ago(1),
            shuin_core::timefmt::rfc3339(now() + Duration::from_secs(86_400)),
        ),
    );
    let (ok, stdout, stderr) = import(&instance, &bad, false);
    assert!(!ok, "a bad file was accepted: {stdout}");
    for line in [3, 4, 5, 6] {
        assert!(
            stderr.contains(&format!("bad.csv:{line}: ")),
            "line {line} not reported: {stderr}"
        );
    }
    assert!(!stderr.contains("bad.csv:2: "), "{stderr}");
    let last = stderr.trim_end().lines().last().unwrap();
    assert!(
        last.contains("invalid_csv: ")
            && last.contains("4 invalid line(s) (line 3, 4, 5, 6); nothing was imported"),
        "{last}"
    );
    assert!(stderr.contains("is not a configured door"), "{stderr}");
    assert!(stderr.contains("in the future"), "{stderr}");
    assert_eq!(entries(&instance).len(), size, "the ledger changed");

    // The same as JSON, for scripts.
    let (ok, stdout, _) = import(&instance, &bad, true);
    assert!(!ok);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["code"], "invalid_csv", "{report}");
    let lines: Vec<u64> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![3, 4, 5, 5, 6], "{report}");

    // A bad header is line 1.
    let header = write(&instance, "header.csv", "time,name,door\n");
    let (ok, _, stderr) = import(&instance, &header, false);
    assert!(!ok);
    assert!(
        stderr.contains("header.csv:1: header: unknown column"),
        "{stderr}"
    );
    assert!(stderr.contains("column person is missing"), "{stderr}");
    assert_eq!(entries(&instance).len(), size);
    assert_verifies(&instance);
}

/// POSTs `body` to the access-events endpoint: (status, JSON answer).
fn post_events(
    instance: &Instance,
    token: Option<&str>,
    content_type: &str,
    body: &str,
) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent
        .post(&instance.url("/ledger/v1/access-events"))
        .header("Content-Type", content_type);
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut answer = request.send(body.as_bytes()).unwrap();
    let status = answer.status().as_u16();
    let media = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = answer.body_mut().read_to_string().unwrap();
    if status >= 400 {
        assert_eq!(media, "application/problem+json", "{text}");
    }
    (status, serde_json::from_str(&text).unwrap())
}

fn new_token(instance: &Instance) -> String {
    let answer = instance.as_operator_json(ADMIN, &["facility", "access-token"]);
    answer["token"].as_str().unwrap().to_owned()
}

fn event(time: &str, person: &str, door: &str, direction: &str) -> Value {
    serde_json::json!({"time": time, "person": person, "door": door, "direction": direction})
}

#[test]
fn the_access_control_system_posts_with_its_token() {
    let mut instance = instance();
    instance.serve();
    let a = event(&ago(5), "山田　太郎", "east", "in");
    let b = event(&ago(4), "山田　太郎", "east", "out");
    let batch = Value::Array(vec![a.clone(), b.clone()]).to_string();

    // Off until a token is made.
    let answer = post_events(&instance, Some("anything"), "application/json", &batch);
    assert_problem(&answer, 404, "not_found");

    // Only a ca_admin (here the first admin, from init) may make the token: not an
    // unknown key, nor an enrolled operator with another role.
    instance.add_operator("審査 一郎", "lra");
    common::operators::make_key(instance.work.path(), "mallory");
    for (operator, code) in [
        ("mallory", "operator_unknown"),
        ("審査 一郎", "role_missing"),
    ] {
        let out = instance.as_operator(operator, &["facility", "access-token"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(code), "{stderr}");
    }
    let token = new_token(&instance);

    assert_problem(
        &post_events(&instance, None, "application/json", &batch),
        401,
        "unauthorized",
    );
    assert_problem(
        &post_events(&instance, Some("wrong"), "application/json", &batch),
        401,
        "unauthorized",
    );
    assert_problem(
        &post_events(&instance, Some(&token), "text/csv", &batch),
        415,
        "unsupported_media_type",
    );
    assert_problem(
        &post_events(
            &instance,
            Some(&token),
            "application/json",
            "{\"not\": \"an array\"}",
        ),
        400,
        "malformed_request",
    );
    assert_eq!(access_events(&instance).len(), 0);

    let answer = post_events(&instance, Some(&token), "application/json", &batch);
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(
        answer.1,
        serde_json::json!({"imported": 2, "duplicates": 0})
    );

    // Sent again with one more: only the new one is recorded.
    let c = event(&ago(1), "Sato Ken", "west", "in");
    let again = Value::Array(vec![a.clone(), b.clone(), c.clone()]).to_string();
    let answer = post_events(&instance, Some(&token), "application/json", &again);
    assert_eq!(
        answer.1,
        serde_json::json!({"imported": 1, "duplicates": 2})
    );
    let recorded = access_events(&instance);
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[0]["payload"]["source"], "http");
    assert_eq!(recorded[0]["actor"]["name"], "access-control-system");

    // One bad item refuses the batch: every bad item is listed, nothing is written.
    let size = entries(&instance).len();
    let mixed = Value::Array(vec![
        event(&ago(1), "新しい 人", "east", "in"),
        event(&ago(1), "山田　太郎", "north", "in"),
        serde_json::json!({"time": "yesterday", "person": "x", "door": "east", "direction": "in", "badge": 7}),
    ])
    .to_string();
    let answer = post_events(&instance, Some(&token), "application/json", &mixed);
    assert_problem(&answer, 400, "malformed_request");
    let indexes: Vec<u64> = answer.1["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, vec![1, 2], "{}", answer.1);
    assert!(
        answer.1["detail"]
            .as_str()
            .unwrap()
            .contains("item 1: door"),
        "{}",
        answer.1
    );
    assert_eq!(entries(&instance).len(), size, "the ledger changed");

    // The CSV import and the endpoint share the idempotency keys.
    let csv = write(
        &instance,
        "export.csv",
        &format!(
            "time,person,door,direction\n{},Sato Ken,west,in\n",
            c["time"].as_str().unwrap()
        ),
    );
    let (ok, stdout, stderr) = import(&instance, &csv, true);
    assert!(ok, "{stderr}");
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["imported"], 0);
    assert_eq!(summary["duplicates"], 1);

    // A new token replaces the old one; revoking turns the endpoint off.
    let newer = new_token(&instance);
    let later = Value::Array(vec![event(&ago(0), "山田　太郎", "east", "in")]).to_string();
    assert_problem(
        &post_events(&instance, Some(&token), "application/json", &later),
        401,
        "unauthorized",
    );
    let answer = post_events(&instance, Some(&newer), "application/json", &later);
    assert_eq!(
        answer.1,
        serde_json::json!({"imported": 1, "duplicates": 0})
    );
    instance.as_operator_json(ADMIN, &["facility", "access-token", "--revoke"]);
    assert_problem(
        &post_events(&instance, Some(&newer), "application/json", &later),
        404,
        "not_found",
    );
    let kinds: Vec<String> = entries(&instance)
        .iter()
        .filter(|e| e["book"] == "facility")
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "facility.access_token_created")
            .count(),
        2
    );
    assert!(kinds.contains(&"facility.access_token_revoked".to_owned()));
    assert_eq!(access_events(&instance).len(), 4);
    instance.stop();
    assert_verifies(&instance);
}
