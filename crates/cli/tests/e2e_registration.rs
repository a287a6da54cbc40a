//! The legacy 利用者識別符号 flow end to end (docs/registration.md): `shuin registration
//! create` prints a code once; `shuin enroll` (and `POST /api/v1/enrollments`) with it
//! gives a certificate that OpenSSL and pkilint accept; reused, expired and locked codes
//! are refused with their reason codes; no code reaches a log, the ledger or the database.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use crate::common::*;
use base64::Engine;
use serde_json::Value;
use shuin_keys::{KeySpec, SoftwareSigner};
use shuin_testkit::SimulatedJlisCa;
use std::path::Path;
use std::time::Duration;

const LRA: &str = "LRA 一郎";

fn p(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

/// `registration create --json`; returns (id, code).
fn create(instance: &Instance, extra: &[&str]) -> (String, String) {
    let out = shuin()
        .args(["registration", "create"])
        .args(instance.operator_args(LRA))
        .args([
            "--name",
            NAME,
            "--birth-date",
            BIRTH,
            "--address",
            ADDRESS,
            "--gender",
            "1",
            "--delivery",
            "本人限定受取郵便",
            "--tracking",
            "1234-5678-9012",
            "--json",
        ])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "registration create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(answer["expires_at"].as_str().unwrap().ends_with('Z'));
    (
        answer["registration_id"].as_str().unwrap().to_owned(),
        answer["identification_code"].as_str().unwrap().to_owned(),
    )
}

fn enroll_raw(instance: &Instance, id: &str, code: &str) -> (u16, Value) {
    let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let csr = shuin_client::build_csr(&key).unwrap();
    let body = serde_json::json!({
        "registration_id": id,
        "identification_code": code,
        "csr": base64::engine::general_purpose::STANDARD.encode(csr),
    });
    instance.submit_raw_to(
        "/api/v1/enrollments",
        "application/json",
        body.to_string().as_bytes(),
    )
}

/// Every way the code could be written.
fn spellings(code: &str) -> Vec<String> {
    let plain = code.replace('-', "");
    vec![
        code.to_owned(),
        code.to_lowercase(),
        plain.clone(),
        plain.to_lowercase(),
    ]
}

#[test]
fn the_legacy_flow_works_from_outside_and_keeps_codes_secret() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let instance = Instance::start(&[], jlis);
    let dir = instance.work.path().to_owned();
    instance.add_operator(LRA, "lra");
    let mut codes = Vec::new();

    // An operator without the lra role is refused: a key never enrolled, or enrolled
    // with another role.
    common::operators::make_key(instance.work.path(), "nobody");
    for (operator, code) in [("nobody", "operator_unknown"), (ADMIN, "role_missing")] {
        let out = instance.as_operator(
            operator,
            &[
                "registration",
                "create",
                "--name",
                NAME,
                "--birth-date",
                BIRTH,
                "--address",
                ADDRESS,
            ],
        );
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(code), "{operator}: {stderr}");
    }

    // The code: 80 bits as 16 grouped Crockford base32 characters.
    let (id, code) = create(&instance, &[]);
    codes.push(code.clone());
    assert_eq!(code.len(), 19, "{code}");
    assert!(code.split('-').all(|g| g.len() == 4
        && g.chars()
            .all(|c| "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(c))));

    // `shuin enroll`, typed in lower case without hyphens.
    let cert = dir.join("enrolled.pem");
    let out = shuin()
        .args(["enroll", "--server", &instance.base, "--registration", &id])
        .args(["--code", &code.replace('-', "").to_lowercase()])
        .args(["--notice-email", "yamada.jiro@example.jp"])
        .arg("--out")
        .arg(&cert)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "enroll: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["status"], "issued");
    let serial = answer["serial"].as_str().unwrap().to_owned();
    assert!(dir.join("enrolled.pem.key").exists());
    assert!(dir.join("enrolled.pem.chain").exists());
    // The enrolment named an address: its issuance notice is queued and, without an
    // SMTP relay configured, handed to the file gateway (never with the address).
    let gateway = instance.data.join("notices.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&gateway).unwrap_or_default();
        if text.contains("certificate_issued") && text.contains(&serial) {
            assert!(!text.contains("yamada.jiro@example.jp"), "{text}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no issuance notice for the enrolment: {text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    instance.repository_pem("/repository/root.crt", &dir.join("root.pem"));
    instance.repository_pem("/repository/ca.crt", &dir.join("ca.pem"));
    if let Some(out) = external(
        "openssl",
        "SHUIN_REQUIRE_OPENSSL",
        &[
            "verify",
            "-CAfile",
            &p(&dir.join("root.pem")),
            "-untrusted",
            &p(&dir.join("ca.pem")),
            &p(&cert),
        ],
    ) {
        assert!(
            out.status.success(),
            "openssl verify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = external(
            "openssl",
            "SHUIN_REQUIRE_OPENSSL",
            &[
                "x509",
                "-in",
                &p(&cert),
                "-noout",
                "-subject",
                "-nameopt",
                "utf8",
            ],
        )
        .unwrap();
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(
            text.contains("山田"),
            "the subject is the verified name: {text}"
        );
    }
    // The certificate file holds the certificate alone (its chain is beside it).
    let only_cert = cert.clone();
    if let Some(out) = external(
        "lint_pkix_cert",
        "SHUIN_REQUIRE_PKILINT",
        &["lint", "-s", "ERROR", &p(&only_cert)],
    ) {
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).trim().is_empty(),
            "pkilint: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Used once: the same code again is 409.
    assert_problem(
        &enroll_raw(&instance, &id, &code),
        409,
        "identification_code_used",
    );

    // Expired: 422.
    let (expiring, expiring_code) = create(&instance, &["--expires-in", "1s"]);
    codes.push(expiring_code.clone());
    std::thread::sleep(Duration::from_millis(2_100));
    assert_problem(
        &enroll_raw(&instance, &expiring, &expiring_code),
        422,
        "identification_code_expired",
    );

    // Five wrong codes lock it; then the right code gets 423.
    let (locking, locking_code) = create(&instance, &[]);
    codes.push(locking_code.clone());
    for attempt in 1..=5 {
        let answer = enroll_raw(&instance, &locking, "0000-0000-0000-0000");
        if attempt < 5 {
            assert_problem(&answer, 422, "identification_code_invalid");
        } else {
            assert_problem(&answer, 423, "identification_code_locked");
        }
    }
    assert_problem(
        &enroll_raw(&instance, &locking, &locking_code),
        423,
        "identification_code_locked",
    );
    // An unknown registration looks like a wrong code.
    assert_problem(
        &enroll_raw(&instance, "ffff", &locking_code),
        422,
        "identification_code_invalid",
    );

    // The ledger has the delivery record and the LRA as approver, never a code.
    let out = shuin()
        .args(["ledger", "show", "--json", "--data"])
        .arg(&instance.data)
        .output()
        .unwrap();
    assert!(out.status.success());
    let ledger = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(ledger.contains("registration.created"), "{ledger}");
    assert!(ledger.contains("本人限定受取郵便") && ledger.contains("1234-5678-9012"));
    assert!(ledger.contains("registration.locked"));
    let entries: Vec<Value> = serde_json::from_str(&ledger).unwrap();
    let accepted: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "application.accepted")
        .collect();
    assert_eq!(accepted.len(), 1, "{ledger}");
    assert_eq!(accepted[0]["actor"]["name"], LRA);
    assert_eq!(accepted[0]["actor"]["role"], "lra");
    assert_eq!(accepted[0]["payload"]["automatic"], false);

    // No code anywhere: logs, ledger output, the database, the instance files.
    let mut haystacks = vec![("ledger show".to_owned(), ledger.into_bytes())];
    for root in [dir.clone(), instance.data.clone()] {
        for entry in std::fs::read_dir(&root).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                haystacks.push((p(&path), std::fs::read(&path).unwrap()));
            }
        }
    }
    for code in &codes {
        for spelling in spellings(code) {
            for (name, bytes) in &haystacks {
                assert!(
                    !bytes
                        .windows(spelling.len())
                        .any(|w| w == spelling.as_bytes()),
                    "the code appears in {name}"
                );
            }
        }
    }
    assert!(serial.len() >= 2);
}

#[test]
fn a_jpki_signed_application_without_csr_registers_and_the_key_follows() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let holder = card(&jlis, |_| {});
    let substitutes = card(&jlis, |s| s.name_substitutes = Some("00100".into()));
    let instance = Instance::start(&[], jlis);
    let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();

    let mut document = instance.document(&key, NAME, BIRTH, ADDRESS);
    document.as_object_mut().unwrap().remove("csr");
    let (status, answer) = instance.submit(&holder, &document);
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["status"], "registered");
    let id = answer["registration_id"].as_str().unwrap().to_owned();
    let code = answer["identification_code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 19);

    // A case the machine cannot decide needs the key in the application.
    let mut document = instance.document(&key, "山田　次郎", BIRTH, ADDRESS);
    document.as_object_mut().unwrap().remove("csr");
    assert_problem(
        &instance.submit(&substitutes, &document),
        400,
        "malformed_request",
    );

    // The key follows with the code; of two concurrent uses, exactly one wins.
    let (first, second) = std::thread::scope(|scope| {
        let a = scope.spawn(|| enroll_raw(&instance, &id, &code));
        let b = scope.spawn(|| enroll_raw(&instance, &id, &code));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (issued, refused) = if first.0 == 201 {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(issued.0, 201, "{}", issued.1);
    assert_eq!(issued.1["status"], "issued");
    assert_problem(&refused, 409, "identification_code_used");
    assert_problem(
        &enroll_raw(&instance, &id, &code),
        409,
        "identification_code_used",
    );

    let out = shuin()
        .args(["ledger", "show", "--json", "--data"])
        .arg(&instance.data)
        .output()
        .unwrap();
    let entries: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let created = entries
        .iter()
        .find(|e| e["kind"] == "registration.created")
        .unwrap();
    assert_eq!(created["payload"]["verified_by"], "jpki_signature");
    assert_eq!(created["actor"]["role"], "responsible_person");
    let accepted = entries
        .iter()
        .find(|e| e["kind"] == "application.accepted")
        .unwrap();
    assert_eq!(accepted["payload"]["automatic"], true);
    let text = String::from_utf8_lossy(&out.stdout);
    for spelling in spellings(&code) {
        assert!(!text.contains(&spelling), "the code is in the ledger");
    }
}
