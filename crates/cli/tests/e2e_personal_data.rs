//! Personal data stays out of the permanent books (docs/ledger.md, "Personal data"):
//! after a JPKI application and an identification-code registration, an export of the
//! ledger holds none of the applicants' names, addresses or birth dates, only salted
//! commitments; `ledger verify --data` matches the kept records with them; and once the
//! certificates' retention has ended, `retention purge` deletes the records and forgets
//! the applications' stored copies.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use base64::Engine;
use serde_json::Value;
use shuin_keys::{KeySpec, SoftwareSigner};
use shuin_testkit::{SimulatedJlisCa, TestCard};
use std::path::Path;

const LRA: &str = "LRA 一郎";

/// The applicant with a card.
const CARD_NAME: &str = "佐藤　花子";
const CARD_BIRTH: &str = "1985-03-04";
const CARD_ADDRESS: &str = "大阪府大阪市北区梅田一丁目2番3号";
/// The applicant registered by an LRA.
const CODE_NAME: &str = "鈴木　一郎";
const CODE_BIRTH: &str = "1970-05-06";
const CODE_ADDRESS: &str = "福岡県福岡市中央区天神四丁目5番6号";
/// The applicant who registers with a card and sends the key later.
const LATER_NAME: &str = "高橋　三郎";
const LATER_BIRTH: &str = "1960-07-08";
const LATER_ADDRESS: &str = "北海道札幌市中央区北一条西二丁目3番4号";

fn secrets() -> Vec<&'static str> {
    vec![
        CARD_NAME,
        "佐藤",
        CARD_BIRTH,
        CARD_ADDRESS,
        "梅田",
        CODE_NAME,
        "鈴木",
        CODE_BIRTH,
        CODE_ADDRESS,
        "天神",
        LATER_NAME,
        "高橋",
        LATER_BIRTH,
        LATER_ADDRESS,
        "札幌",
    ]
}

/// The files of `dir` (recursively) that contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

fn export(instance: &Instance, out: &Path) -> Vec<Value> {
    export_entries(&instance.data, out)
}

/// `shuin disclose` with `card`, writing WORK/`out`.
fn disclose(instance: &Instance, card: &TestCard, out: &str) -> std::process::Output {
    let dir = instance.work.path().join("holder-card");
    if !dir.exists() {
        card.write_dir(&dir).unwrap();
    }
    shuin()
        .args(["disclose", "--server", &instance.base, "--card-key"])
        .arg(dir.join("key.pem"))
        .arg("--card-cert")
        .arg(dir.join("cert.pem"))
        .arg("--out")
        .arg(instance.work.path().join(out))
        .output()
        .unwrap()
}

/// The SHA-256 of the signed request of the (only) `disclosure.made` entry.
fn disclosure_request(instance: &Instance) -> String {
    let entries = export(instance, &instance.work.path().join("export-disclosure"));
    let made: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "disclosure.made")
        .collect();
    assert_eq!(made.len(), 1);
    made[0]["evidence"][0]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned()
}

fn verify_data(instance: &Instance) -> Value {
    json_answer(&["ledger", "verify"], &instance.data)
}

/// `registration create` by the LRA.
fn register_by_lra(instance: &Instance) -> Value {
    let mut args = vec![
        "registration",
        "create",
        "--name",
        CODE_NAME,
        "--birth-date",
    ];
    args.extend([CODE_BIRTH, "--address", CODE_ADDRESS, "--gender", "1"]);
    instance.as_operator_json(LRA, &args)
}

/// A JPKI-signed application without a key: a registration.
fn register_by_card(instance: &Instance, holder: &TestCard) -> Value {
    let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let mut document = instance.document(&key, LATER_NAME, LATER_BIRTH, LATER_ADDRESS);
    document.as_object_mut().unwrap().remove("csr");
    let (status, answer) = instance.submit(holder, &document);
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["status"], "registered", "{answer}");
    answer
}

/// `POST /api/v1/enrollments` with a registration's code.
fn enrol_by_code(instance: &Instance, created: &Value) -> Value {
    let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let body = serde_json::json!({
        "registration_id": created["registration_id"],
        "identification_code": created["identification_code"],
        "csr": base64::engine::general_purpose::STANDARD
            .encode(shuin_client::build_csr(&key).unwrap()),
    });
    let (status, answer) = instance.submit_raw_to(
        "/api/v1/enrollments",
        "application/json",
        body.to_string().as_bytes(),
    );
    assert_eq!(status, 201, "{answer}");
    answer
}

/// The stored details of every application and the identity of every registration, as
/// text.
fn application_rows(instance: &Instance) -> String {
    let mut text = String::new();
    for sql in [
        "SELECT details FROM applications",
        "SELECT identity FROM registrations",
    ] {
        text.push_str(&String::from_utf8(instance.sql(sql).unwrap().stdout).unwrap());
    }
    text
}

/// The personal data references of the entries of `kind`.
fn references(entries: &[Value], kind: &str) -> Vec<Value> {
    entries
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["payload"]["personal_data"].clone())
        .collect()
}

#[test]
fn the_books_hold_commitments_and_the_records_are_purged_after_retention() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let holder = card(&jlis, |spec| {
        spec.name = CARD_NAME.into();
        spec.birth_date = CARD_BIRTH.into();
        spec.address = CARD_ADDRESS.into();
    });
    let later = card(&jlis, |spec| {
        spec.name = LATER_NAME.into();
        spec.birth_date = LATER_BIRTH.into();
        spec.address = LATER_ADDRESS.into();
    });
    let instance = Instance::start(&[], jlis);
    instance.add_operator(LRA, "lra");

    let (status, answer) = instance.apply(&holder, CARD_NAME, CARD_BIRTH, CARD_ADDRESS);
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["status"], "issued", "{answer}");
    for created in [
        register_by_lra(&instance),
        register_by_card(&instance, &later),
    ] {
        assert_eq!(enrol_by_code(&instance, &created)["status"], "issued");
    }

    // The export holds no name, address or birth date of either applicant.
    let out = instance.work.path().join("export");
    let entries = export(&instance, &out);
    for secret in secrets() {
        assert_eq!(
            files_containing(&out, secret),
            Vec::<String>::new(),
            "{secret}"
        );
    }
    // The search finds names the books do hold, written the same way: the staff's.
    assert!(!files_containing(&out, LRA).is_empty());
    // It holds their commitments instead: the card holder's application, and each
    // registration and the application that used its code (one record for both).
    let accepted = references(&entries, "application.accepted");
    let registered = references(&entries, "registration.created");
    assert_eq!((accepted.len(), registered.len()), (3, 2), "{accepted:?}");
    for reference in accepted.iter().chain(&registered) {
        let commitment = reference["commitment"].as_str().unwrap_or_default();
        assert_eq!(commitment.len(), 64, "{reference}");
    }
    for reference in &registered {
        assert!(accepted.contains(reference), "{accepted:?} {registered:?}");
    }
    let records: Vec<String> = accepted
        .iter()
        .map(|r| r["record_sha256"].as_str().unwrap().to_owned())
        .collect();
    // The card registration's signed request (which holds the basic items too).
    let requests: Vec<String> = entries
        .iter()
        .filter(|e| e["kind"] == "registration.created")
        .flat_map(|e| e["evidence"].as_array().unwrap().clone())
        .map(|h| h.as_str().unwrap().trim_start_matches("sha256:").to_owned())
        .collect();
    assert_eq!(requests.len(), 1, "{requests:?}");

    // The kept records match their commitments.
    let verified = verify_data(&instance);
    assert_eq!(verified["personal_data_records_checked"], 3, "{verified}");
    assert_eq!(verified["personal_data_records_absent"], 0, "{verified}");

    // A record replaced in the store (here by the other applicant's) is caught.
    let (first, second) = (&records[0], &records[1]);
    let Some(_) = instance.sql(&format!(
        "INSERT INTO evidence (sha256, bytes) SELECT 'kept-aside', bytes FROM evidence WHERE sha256 = '{first}'"
    )) else {
        eprintln!("note: sqlite3 is missing; the rest needs it (SHUIN_REQUIRE_SQLITE3)");
        return;
    };
    instance
        .sql(&format!(
            "UPDATE evidence SET bytes = (SELECT e.bytes FROM evidence e WHERE e.sha256 = '{second}') WHERE sha256 = '{first}'"
        ))
        .unwrap();
    let refused = shuin()
        .args(["ledger", "verify", "--data"])
        .arg(&instance.data)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!(
            "personal data record {first} (personal_data_record_altered)"
        )),
        "{stderr}"
    );
    instance
        .sql(&format!(
            "UPDATE evidence SET bytes = (SELECT e.bytes FROM evidence e WHERE e.sha256 = 'kept-aside') WHERE sha256 = '{first}'"
        ))
        .unwrap();
    instance
        .sql("DELETE FROM evidence WHERE sha256 = 'kept-aside'")
        .unwrap();
    assert_eq!(verify_data(&instance)["personal_data_records_checked"], 3);

    // Within retention the card holder obtains their application (docs/disclosure.md).
    let disclosed = disclose(&instance, &holder, "before.json");
    assert!(
        disclosed.status.success(),
        "{}",
        String::from_utf8_lossy(&disclosed.stderr)
    );
    let request = disclosure_request(&instance);

    // Within retention nothing is purged; the applications' rows keep their data.
    let purged = instance.as_operator_json(ADMIN, &["retention", "purge"]);
    assert_eq!(purged["purged"], serde_json::json!([]), "{purged}");
    let rows = application_rows(&instance);
    for name in [CARD_NAME, CODE_NAME, LATER_NAME] {
        assert!(rows.contains(name), "{name} in {rows}");
    }

    // The certificates expired long ago (their retention has ended): the records go
    // with the applications' evidence.
    instance
        .sql("UPDATE certificates SET not_after = 1000000000")
        .unwrap();
    let purged = instance.as_operator_json(ADMIN, &["retention", "purge"]);
    let listed: Vec<&str> = purged["purged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    for record in records.iter().chain(&requests).chain([&request]) {
        assert!(listed.contains(&record.as_str()), "{record} in {purged}");
    }
    assert_eq!(purged["applications_forgotten"], 3, "{purged}");
    let rows = application_rows(&instance);
    for secret in secrets() {
        assert!(!rows.contains(secret), "{secret} in {rows}");
    }
    let verified = verify_data(&instance);
    assert_eq!(verified["personal_data_records_checked"], 0, "{verified}");
    assert_eq!(verified["personal_data_records_absent"], 3, "{verified}");
    // Forgotten applications are no longer the holder's to be disclosed.
    let disclosed = disclose(&instance, &holder, "after.json");
    assert!(!disclosed.status.success());
    let stderr = String::from_utf8_lossy(&disclosed.stderr);
    assert!(stderr.contains("no_records_held"), "{stderr}");

    // The books, with the purge recorded, still name nobody.
    let out = instance.work.path().join("export-after");
    let entries = export(&instance, &out);
    assert!(entries
        .iter()
        .any(|e| e["kind"] == "application.evidence_purged"));
    for secret in secrets() {
        assert_eq!(
            files_containing(&out, secret),
            Vec::<String>::new(),
            "{secret}"
        );
    }
}
