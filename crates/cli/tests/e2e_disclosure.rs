//! Disclosure to the holder (名義人への情報開示, docs/disclosure.md) through the real
//! binary: a holder who applied twice obtains both applications and their certificates
//! with `shuin disclose` and their card's key; another person's card is refused, for
//! everything and for the holder's application by id; the disclosures and refusals are
//! in the books, which verify and hold no name.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use serde_json::Value;
use shuin_testkit::{SimulatedJlisCa, TestCard};
use std::path::{Path, PathBuf};

/// Writes `card`'s files under WORK/cards/`name` and returns that directory.
fn card_files(instance: &Instance, card: &TestCard, name: &str) -> PathBuf {
    let dir = instance.work.path().join("cards").join(name);
    card.write_dir(&dir).unwrap();
    dir
}

/// `shuin disclose` with the card in `card_dir`, writing `out`.
fn disclose(
    instance: &Instance,
    card_dir: &Path,
    out: &Path,
    extra: &[&str],
) -> std::process::Output {
    shuin()
        .args(["disclose", "--server", &instance.base, "--card-key"])
        .arg(card_dir.join("key.pem"))
        .arg("--card-cert")
        .arg(card_dir.join("cert.pem"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn entries(instance: &Instance) -> Vec<Value> {
    export_entries(&instance.data, &instance.work.path().join("export"))
}

#[test]
fn a_holder_obtains_their_records_and_another_card_is_refused() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let holder = card(&jlis, |_| {});
    let other = card(&jlis, |spec| {
        spec.name = "鈴木　花子".into();
        spec.birth_date = "1975-05-05".into();
    });
    let instance = Instance::start(&[], jlis);
    let mut issued = Vec::new();
    for _ in 0..2 {
        let (status, answer) = instance.apply(&holder, NAME, BIRTH, ADDRESS);
        assert_eq!(status, 201, "{answer}");
        issued.push(answer);
    }
    let holder_dir = card_files(&instance, &holder, "holder");
    let other_dir = card_files(&instance, &other, "other");

    // The holder: both applications, each with its certificate as issued.
    let out = instance.work.path().join("mine.json");
    let done = disclose(&instance, &holder_dir, &out, &["--json"]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let summary: Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(summary["applications"], 2, "{summary}");
    assert_eq!(summary["certificates"], 2, "{summary}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the records are readable by their owner only"
        );
    }
    let records: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let applications = records["applications"].as_array().unwrap();
    assert_eq!(applications.len(), 2);
    for answer in &issued {
        // Oldest first; two made within one second are in id order.
        let kept = applications
            .iter()
            .find(|a| a["id"] == answer["application_id"])
            .unwrap();
        assert_eq!(kept["status"], "issued");
        assert_eq!(kept["details"]["basic"]["name"], NAME);
        assert!(kept["evidence"].as_str().is_some_and(|e| !e.is_empty()));
        assert!(kept["personal_data_record"].as_str().is_some());
        let certificate = &kept["certificates"][0];
        assert_eq!(certificate["serial"], answer["serial"]);
        assert_eq!(certificate["certificate_pem"], answer["certificate_pem"]);
        assert!(certificate["revocation"].is_null());
    }
    let made_seq = records["entry_seq"].as_u64().unwrap();

    // The records file is never overwritten.
    let again = disclose(&instance, &holder_dir, &out, &[]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    // One application by id.
    let first_id = issued[0]["application_id"].as_str().unwrap();
    let one = instance.work.path().join("one.json");
    let done = disclose(&instance, &holder_dir, &one, &["--application", first_id]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let records: Value = serde_json::from_str(&std::fs::read_to_string(&one).unwrap()).unwrap();
    assert_eq!(records["applications"].as_array().unwrap().len(), 1);

    // Another person's card: nothing of theirs is kept, and the holder's application is
    // not theirs to see.
    let refused = disclose(
        &instance,
        &other_dir,
        &instance.work.path().join("x.json"),
        &[],
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("no_records_held"), "{stderr}");
    let targeted = disclose(
        &instance,
        &other_dir,
        &instance.work.path().join("y.json"),
        &["--application", first_id],
    );
    assert!(!targeted.status.success());
    let stderr = String::from_utf8_lossy(&targeted.stderr);
    assert!(stderr.contains("disclosure_not_authorized"), "{stderr}");
    assert!(!instance.work.path().join("x.json").exists());
    assert!(!instance.work.path().join("y.json").exists());

    // The books: two disclosures, two refusals, no name; and they verify.
    let entries = entries(&instance);
    let made: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "disclosure.made")
        .collect();
    assert_eq!(made.len(), 2);
    assert_eq!(made[0]["seq"], made_seq);
    assert_eq!(
        made[0]["payload"]["applications"].as_array().unwrap().len(),
        2
    );
    let refusals: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "disclosure.refused")
        .collect();
    let codes: Vec<&Value> = refusals
        .iter()
        .map(|e| &e["payload"]["reason_code"])
        .collect();
    assert_eq!(codes, ["no_records_held", "disclosure_not_authorized"]);
    let text = serde_json::to_string(&entries).unwrap();
    for secret in [NAME, "鈴木", BIRTH, "1975-05-05"] {
        assert!(!text.contains(secret), "the books hold {secret}");
    }
    assert_books_verify(&instance.data);
}
