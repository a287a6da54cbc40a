//! Business termination (認証業務の廃止, docs/termination.md) through the real binary: a
//! termination ceremony is refused with fewer than M custodian approvals (and the
//! business goes on); with M it stops applications at once, and the server revokes every
//! certificate with cessationOfOperation, queues and sends a notice to each holder, signs
//! a final CRL whose nextUpdate covers the retention period (checked with openssl), and
//! writes a hand-over export that `ledger verify --export` accepts. The holder can still
//! obtain their records, and a restarted server stays terminated.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use serde_json::Value;
use shuin_testkit::SimulatedJlisCa;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CUSTODIANS: [&str; 2] = ["custodian-a", "custodian-b"];
const FINAL_CRL_DAYS: u64 = 3653;

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "shuin failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Each custodian's operator key is also their ceremony credential.
fn enroll_custodians(instance: &Instance) {
    for name in CUSTODIANS {
        instance.add_operator(name, "key_custodian");
        let public = instance.work.path().join(format!("{name}.pub.pem"));
        let mut key = OsString::from("--operator-key=");
        key.push(operators::key_uri(instance.work.path(), name));
        ok(shuin()
            .args(["ceremony", "public-key", "--out"])
            .arg(&public)
            .arg(&key)
            .output()
            .unwrap());
        let public = public.to_str().unwrap();
        instance.as_operator_json(
            ADMIN,
            &[
                "ceremony",
                "enroll-custodian",
                "--name",
                name,
                "--public-key",
                public,
            ],
        );
    }
}

fn write_ceremony(instance: &Instance, id: &str) -> PathBuf {
    let path = instance.work.path().join(format!("{id}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"id = "{id}"
purpose = "Terminate the certification business"
threshold = 2
custodians = ["custodian-a", "custodian-b"]

[[steps]]
action = "terminate_business"
reason = "事業の廃止 / the business is discontinued"
successor = "後継認証 株式会社"
final_crl_days = {FINAL_CRL_DAYS}
"#
        ),
    )
    .unwrap();
    path
}

fn approve_all(instance: &Instance, ceremony: &Path) -> Vec<PathBuf> {
    let work = instance.work.path();
    let statement = work.join(format!(
        "{}.statement.json",
        ceremony.file_stem().unwrap().to_str().unwrap()
    ));
    ok(shuin()
        .args(["ceremony", "statement", "--data"])
        .arg(&instance.data)
        .arg("--config")
        .arg(ceremony)
        .arg("--out")
        .arg(&statement)
        .output()
        .unwrap());
    CUSTODIANS
        .iter()
        .map(|name| {
            let out = statement.with_extension(format!("{name}.approval.json"));
            let done = shuin()
                .args(["ceremony", "approve", "--statement"])
                .arg(&statement)
                .args(["--custodian", name, "--operator-key"])
                .arg(operators::key_uri(work, name))
                .arg("--out")
                .arg(&out)
                .output()
                .unwrap();
            // The custodian is shown what they approve before their key signs.
            let shown = String::from_utf8_lossy(&done.stderr).into_owned();
            ok(done);
            assert!(shown.contains("TERMINATE"), "{shown}");
            out
        })
        .collect()
}

fn run_ceremony(
    instance: &Instance,
    ceremony: &Path,
    approvals: &[PathBuf],
) -> std::process::Output {
    let mut args: Vec<OsString> = ["ceremony", "run", "--json", "--config"]
        .map(OsString::from)
        .to_vec();
    args.push(ceremony.into());
    for approval in approvals {
        args.push("--approval".into());
        args.push(approval.into());
    }
    args.extend(instance.operator_args(ADMIN));
    shuin().args(&args).output().unwrap()
}

fn status(instance: &Instance) -> Value {
    json_answer(&["status"], &instance.data)["business_termination"].clone()
}

fn entries(instance: &Instance) -> Vec<Value> {
    let out = ok(shuin()
        .args(["ledger", "show", "--json", "--data"])
        .arg(&instance.data)
        .output()
        .unwrap());
    serde_json::from_str(&out).unwrap()
}

#[test]
fn termination_revokes_everything_and_hands_the_books_over() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let holder = card(&jlis, |_| {});
    let mut instance = Instance::init_with(
        &[],
        jlis,
        &["--key-backend".into(), "software".into()],
        vec![],
    );
    instance.serve();
    enroll_custodians(&instance);
    let mut serials = Vec::new();
    for _ in 0..2 {
        let (status, answer) = instance.apply(&holder, NAME, BIRTH, ADDRESS);
        assert_eq!(status, 201, "{answer}");
        serials.push(answer["serial"].as_str().unwrap().to_owned());
    }
    let ceremony = write_ceremony(&instance, "termination-2027");
    let approvals = approve_all(&instance, &ceremony);

    // One approval of two: refused, and the business goes on.
    let refused = run_ceremony(&instance, &ceremony, &approvals[..1]);
    assert!(!refused.status.success());
    assert!(status(&instance).is_null());
    let (code, answer) = instance.apply(&holder, NAME, BIRTH, ADDRESS);
    assert_eq!(code, 201, "{answer}");
    serials.push(answer["serial"].as_str().unwrap().to_owned());

    // M approvals: the business stops at once.
    let ran: Value =
        serde_json::from_str(&ok(run_ceremony(&instance, &ceremony, &approvals))).unwrap();
    assert_eq!(
        ran["termination"]["plan"]["ceremony_id"], "termination-2027",
        "{ran}"
    );
    let refused = instance.apply(&holder, NAME, BIRTH, ADDRESS);
    assert_problem(&refused, 410, "business_terminated");
    // The same ceremony cannot run twice, and a second termination ceremony is refused
    // before anything is approved or done.
    assert!(!run_ceremony(&instance, &ceremony, &approvals)
        .status
        .success());
    let second = write_ceremony(&instance, "termination-2028");
    let second_approvals = approve_all(&instance, &second);
    let refused = run_ceremony(&instance, &second, &second_approvals);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("already being terminated"), "{stderr}");
    // A kill -9 wherever the procedure stands: the restarted server goes on from there.
    instance.kill();
    instance.serve();

    // The server carries it out.
    let started = Instant::now();
    let state = loop {
        let state = status(&instance);
        if state["phase"] == "completed" {
            break state;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "termination stuck: {state}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(state["revoked"], 3, "{state}");
    assert_eq!(state["notices"], 3, "{state}");

    let entries = entries(&instance);
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "termination.approved",
        "termination.started",
        "termination.revoked",
        "termination.final_crl",
        "termination.hand_over_started",
        "termination.completed",
    ] {
        assert_eq!(
            kinds.iter().filter(|k| **k == kind).count(),
            1,
            "{kind} in {kinds:?}"
        );
    }
    let revoked: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "revocation.accepted")
        .collect();
    let mut revoked_serials: Vec<&str> = revoked
        .iter()
        .map(|e| e["payload"]["serial"].as_str().unwrap())
        .collect();
    revoked_serials.dedup();
    let mut expected: Vec<&str> = serials.iter().map(String::as_str).collect();
    expected.sort_unstable();
    revoked_serials.sort_unstable();
    revoked_serials.dedup();
    assert_eq!(revoked_serials, expected, "{revoked:#?}");
    assert!(revoked
        .iter()
        .all(|e| e["payload"]["reason"] == "cessationOfOperation"));
    let noticed = entries
        .iter()
        .filter(|e| e["kind"] == "notice.queued" && e["payload"]["kind"] == "business_terminated")
        .count();
    assert_eq!(noticed, 3);

    // The notices are sent through the outbox (DIR/notices.jsonl).
    let started = Instant::now();
    loop {
        let sent = std::fs::read_to_string(instance.data.join("notices.jsonl")).unwrap_or_default();
        if sent.matches("business_terminated").count() == 3 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "notices not sent: {sent}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The final CRL lists every serial, verifies with openssl, and is valid for the
    // approved days.
    let dir = instance.work.path();
    instance.repository_pem("/repository/ca.crt", &dir.join("ca.pem"));
    let crl = get_bytes(&instance.url("/repository/ca.crl"));
    let crl_pem = dir.join("final.crl.pem");
    std::fs::write(
        &crl_pem,
        der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &crl).unwrap(),
    )
    .unwrap();
    let parsed = <x509_cert::crl::CertificateList as der::Decode>::from_der(&crl).unwrap();
    let listed: Vec<String> = parsed
        .tbs_cert_list
        .revoked_certificates
        .iter()
        .flatten()
        .map(|r| hex::encode(r.serial_number.as_bytes()))
        .collect();
    for serial in &serials {
        assert!(
            listed
                .iter()
                .any(|l| l.trim_start_matches('0') == serial.trim_start_matches('0')),
            "{serial} in {listed:?}"
        );
    }
    let this_update = parsed.tbs_cert_list.this_update.to_system_time();
    let next_update = parsed.tbs_cert_list.next_update.unwrap().to_system_time();
    assert_eq!(
        next_update.duration_since(this_update).unwrap(),
        Duration::from_secs(FINAL_CRL_DAYS * 86_400)
    );
    let p = |path: &Path| path.to_str().unwrap().to_owned();
    if let Some(out) = external(
        "openssl",
        "SHUIN_REQUIRE_OPENSSL",
        &[
            "crl",
            "-in",
            &p(&crl_pem),
            "-CAfile",
            &p(&dir.join("ca.pem")),
            "-noout",
        ],
    ) {
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("verify OK"), "{text}");
    }

    // The hand-over export: the books verify offline, the evidence is there.
    let hand_over = PathBuf::from(state["hand_over"].as_str().unwrap());
    let verified = ok(shuin()
        .args(["ledger", "verify", "--json", "--export"])
        .arg(hand_over.join("books"))
        .output()
        .unwrap());
    assert!(!verified.is_empty());
    // The custodians' approval of the termination verifies offline against those books.
    let record = instance
        .data
        .join("ceremonies")
        .join("termination-2027.json");
    ok(shuin()
        .args(["ceremony", "verify", "--record"])
        .arg(&record)
        .arg("--ledger-export")
        .arg(hand_over.join("books"))
        .output()
        .unwrap());
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(hand_over.join("evidence").join("manifest.json")).unwrap(),
    )
    .unwrap();
    assert!(
        manifest["kept"].as_array().unwrap().len() >= 3,
        "{manifest}"
    );

    // The holder can still obtain their records, each certificate revoked.
    let card_dir = dir.join("holder-card");
    holder.write_dir(&card_dir).unwrap();
    let records = dir.join("records.json");
    ok(shuin()
        .args(["disclose", "--server", &instance.base, "--card-key"])
        .arg(card_dir.join("key.pem"))
        .arg("--card-cert")
        .arg(card_dir.join("cert.pem"))
        .arg("--out")
        .arg(&records)
        .output()
        .unwrap());
    let records: Value = serde_json::from_str(&std::fs::read_to_string(&records).unwrap()).unwrap();
    let reasons: Vec<&Value> = records["applications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["certificates"][0]["revocation"]["reason"])
        .collect();
    assert_eq!(reasons, ["cessationOfOperation"; 3]);

    // A restarted server is still terminated.
    instance.stop();
    instance.serve();
    assert_problem(
        &instance.apply(&holder, NAME, BIRTH, ADDRESS),
        410,
        "business_terminated",
    );
    assert_books_verify(&instance.data);
}

/// In a split deployment the termination ceremony runs at the CA's local console; the
/// CA's link hands the termination to the RA nodes, which ledger it and then refuse
/// applications as the CA does.
#[test]
fn a_termination_at_the_ca_reaches_its_ra_nodes() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let holder = card(&jlis, |_| {});
    let split = crate::e2e_split::Split::start(jlis, 0);
    let front = split.first.front_url();
    let started = Instant::now();
    let issued = loop {
        match crate::common::load::try_apply_at(&front, &holder) {
            Ok((201, answer)) => break answer,
            other => {
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "{other:?}\n{}",
                    split.logs()
                );
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    };
    assert!(issued["serial"].is_string(), "{issued}");
    enroll_custodians(&split.ca);
    let ceremony = write_ceremony(&split.ca, "termination-split");
    let approvals = approve_all(&split.ca, &ceremony);
    ok(run_ceremony(&split.ca, &ceremony, &approvals));
    // Within the link's next rounds the RA node refuses applications.
    let started = Instant::now();
    loop {
        let answer = crate::common::load::try_apply_at(&front, &holder);
        if let Ok((410, problem)) = &answer {
            assert_eq!(problem["code"], "business_terminated", "{problem}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the RA node still answers {answer:?}\n{}",
            split.logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let (status, ready) = get(&format!("{front}/readyz"));
    assert_eq!(status, 410, "{ready}");
    assert!(ready.contains("business_terminated"), "{ready}");
    let books = json_answer(&["ledger", "show"], &split.first.data);
    let received: Vec<&Value> = books
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "termination.received")
        .collect();
    assert_eq!(received.len(), 1, "ledgered once");
    assert_eq!(
        received[0]["payload"]["termination"]["plan"]["ceremony_id"],
        "termination-split"
    );
}
