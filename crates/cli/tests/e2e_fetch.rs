//! `shuin fetch`: an applicant whose application waited for review collects the
//! certificate once an LRA approved it, checked against the key `apply` kept; a wrong
//! key, an unknown application and a rejected one are refused with their cause.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use shuin_testkit::SimulatedJlisCa;
use std::path::Path;
use std::process::Output;

const RP: &str = "責任者 花子";
const LRA: &str = "審査 一郎";

fn apply(instance: &Instance, card_dir: &Path, out: &Path) -> Output {
    shuin()
        .args(["apply", "--server", &instance.base, "--card-key"])
        .arg(card_dir.join("key.pem"))
        .arg("--card-cert")
        .arg(card_dir.join("cert.pem"))
        .args(["--name", NAME, "--birth-date", BIRTH, "--address", ADDRESS])
        .args(["--json", "--out"])
        .arg(out)
        .output()
        .unwrap()
}

fn fetch(instance: &Instance, id: &str, out: &Path, extra: &[&str]) -> Output {
    shuin()
        .args(["fetch", "--server", &instance.base, "--application", id])
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn pending_id(out: &Output) -> String {
    assert!(out.status.success(), "{out:?}");
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["status"], "pending_review", "{answer}");
    answer["application_id"].as_str().unwrap().to_owned()
}

/// The certificate PEM of an issued application, as the server answers it.
fn answer_certificate(instance: &Instance, id: &str) -> String {
    let (status, body) = get(&instance.url(&format!("/api/v1/applications/{id}")));
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    answer["certificate_pem"].as_str().unwrap().to_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_approved_application_is_fetched_and_checked_against_its_key() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let card = card(&jlis, |_| {});
    let mut instance = Instance::start(&[], jlis);
    let work = instance.work.path().to_owned();
    card.write_dir(&work.join("card")).unwrap();
    instance.add_operator(LRA, "lra");
    instance.add_operator(RP, "responsible_person");
    instance.as_operator_json(RP, &["automation", "suspend", "--reason", "点検"]);

    let first = work.join("first.pem");
    let id = pending_id(&apply(&instance, &work.join("card"), &first));
    // Still pending: said so, nothing written; with --wait it gives up naming the state.
    let pending = fetch(&instance, &id, &first, &[]);
    assert!(pending.status.success(), "{pending:?}");
    assert!(String::from_utf8_lossy(&pending.stdout).contains("pending review"));
    assert!(!first.exists());
    let waited = fetch(&instance, &id, &first, &["--wait", "1"]);
    assert!(!waited.status.success());
    assert!(
        stderr(&waited).contains("still pending_review"),
        "{}",
        stderr(&waited)
    );

    instance.as_operator_json(LRA, &["review", "approve", "--id", &id]);
    // The key of another application: refused, nothing written.
    let other = work.join("other.pem");
    pending_id(&apply(&instance, &work.join("card"), &other));
    let other_key = work.join("other.pem.key");
    let mismatch = fetch(
        &instance,
        &id,
        &first,
        &["--key", other_key.to_str().unwrap()],
    );
    assert!(!mismatch.status.success());
    assert!(
        stderr(&mismatch).contains("does not certify the key"),
        "{}",
        stderr(&mismatch)
    );
    assert!(!first.exists());

    // No key to check against (another --out, no --key): refused, naming --key.
    let keyless = fetch(&instance, &id, &work.join("elsewhere.pem"), &[]);
    assert!(!keyless.status.success());
    assert!(
        stderr(&keyless).contains("give --key"),
        "{}",
        stderr(&keyless)
    );
    assert!(!work.join("elsewhere.pem").exists());

    // Its own key (first.pem.key, beside --out): written, and openssl agrees.
    let fetched = fetch(&instance, &id, &first, &["--wait", "30", "--json"]);
    assert!(fetched.status.success(), "{}", stderr(&fetched));
    let answer: serde_json::Value = serde_json::from_slice(&fetched.stdout).unwrap();
    assert_eq!(answer["status"], "issued");
    // Fetched again: the same files, nothing refused; another certificate is never
    // overwritten.
    let again = fetch(&instance, &id, &first, &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    std::fs::write(&first, "another certificate").unwrap();
    let clobber = fetch(&instance, &id, &first, &[]);
    assert!(
        stderr(&clobber).contains("refusing to overwrite"),
        "{}",
        stderr(&clobber)
    );
    std::fs::write(&first, answer_certificate(&instance, &id)).unwrap();
    let chain = std::fs::read_to_string(work.join("first.pem.chain")).unwrap();
    assert!(chain.contains("BEGIN CERTIFICATE"));
    if let Some(out) = external(
        "openssl",
        "SHUIN_REQUIRE_OPENSSL",
        &["x509", "-in", first.to_str().unwrap(), "-noout", "-serial"],
    ) {
        let serial = String::from_utf8_lossy(&out.stdout).to_lowercase();
        let expected = answer["serial"].as_str().unwrap().to_lowercase();
        assert!(serial.contains(&expected), "{serial} vs {expected}");
    }

    // Rejected after review: refused with the LRA's reason.
    let third = work.join("third.pem");
    let rejected_id = pending_id(&apply(&instance, &work.join("card"), &third));
    instance.as_operator_json(
        LRA,
        &[
            "review",
            "reject",
            "--id",
            &rejected_id,
            "--reason",
            "記載不備",
        ],
    );
    let rejected = fetch(&instance, &rejected_id, &third, &[]);
    assert!(!rejected.status.success());
    assert!(
        stderr(&rejected).contains("記載不備"),
        "{}",
        stderr(&rejected)
    );

    // Not an id at all (it would change the URL's path): refused before any request.
    let bogus = fetch(&instance, "../repository/ca.crl", &third, &[]);
    assert!(!bogus.status.success());
    assert!(
        stderr(&bogus).contains("up to 64 hex digits"),
        "{}",
        stderr(&bogus)
    );
    // An id the server never gave: the server's refusal, with its code.
    let unknown = fetch(&instance, "00ff00ff00ff00ff", &third, &[]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("HTTP 404"),
        "{}",
        stderr(&unknown)
    );
    instance.stop();
}
