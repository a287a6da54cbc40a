//! `shuin init` refuses what would make a useless instance, naming the flag at fault and
//! the way out, and leaves no half-made instance behind.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{shuin, POLICY};
use std::path::Path;
use std::process::Output;

/// A simulated J-LIS CA (`jlis/ca.pem`, `jlis/crl.der`) and the first admin's CSR.
fn fixtures(work: &Path) {
    let made = shuin()
        .current_dir(work)
        .args(["testkit", "jpki-ca", "--out", "jlis"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let key = shuin()
        .current_dir(work)
        .args(["operator", "key", "--out", "admin.key"])
        .output()
        .unwrap();
    assert!(key.status.success(), "{key:?}");
    let csr = shuin()
        .current_dir(work)
        .args(["operator", "csr", "--operator-key", "file:admin.key"])
        .args(["--name", "管理 太郎", "--out", "admin.csr"])
        .output()
        .unwrap();
    assert!(csr.status.success(), "{csr:?}");
}

fn init(work: &Path, anchor: &str, crl: &str, extra: &[&str]) -> Output {
    shuin()
        .current_dir(work)
        .args(["init", "--data", "inst", "--key-backend", "software"])
        .args(["--jpki-trust-anchor", anchor, "--jpki-crl", crl])
        .args([
            "--public-url",
            "http://127.0.0.1:8080",
            "--policy-oid",
            POLICY,
        ])
        .args([
            "--responsible-person",
            "認証 太郎",
            "--first-admin-csr",
            "admin.csr",
        ])
        .args(extra)
        .output()
        .unwrap()
}

#[track_caller]
fn assert_refused(out: &Output, parts: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    for part in parts {
        assert!(stderr.contains(part), "{part:?} not in: {stderr}");
    }
}

#[test]
fn a_missing_or_unusable_jlis_crl_is_refused_unless_it_comes_later() {
    let work = tempfile::tempdir().unwrap();
    fixtures(work.path());
    let missing = init(work.path(), "jlis/ca.pem", "later/crl.der", &[]);
    assert_refused(
        &missing,
        &[
            "--jpki-crl later/crl.der",
            "fail closed",
            "--jpki-crl-later",
        ],
    );
    assert!(!work.path().join("inst").exists(), "nothing is made");

    std::fs::write(work.path().join("junk.der"), b"not a CRL").unwrap();
    let junk = init(work.path(), "jlis/ca.pem", "junk.der", &[]);
    assert_refused(&junk, &["--jpki-crl junk.der", "--jpki-crl-later"]);
    assert!(!work.path().join("inst").exists());

    // Said to come later: made, with a warning.
    let later = init(
        work.path(),
        "jlis/ca.pem",
        "later/crl.der",
        &["--jpki-crl-later"],
    );
    let stderr = String::from_utf8_lossy(&later.stderr);
    assert!(later.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: --jpki-crl later/crl.der"),
        "{stderr}"
    );
    assert!(work.path().join("inst/shuin.toml").exists());
}

#[test]
fn a_missing_trust_anchor_names_its_flag_and_makes_nothing() {
    let work = tempfile::tempdir().unwrap();
    fixtures(work.path());
    let out = init(work.path(), "jlis/nope.pem", "jlis/crl.der", &[]);
    assert_refused(&out, &["--jpki-trust-anchor jlis/nope.pem"]);
    assert!(!work.path().join("inst").exists());
}

#[test]
fn a_failed_init_removes_what_it_made_and_keeps_what_was_there() {
    let work = tempfile::tempdir().unwrap();
    fixtures(work.path());
    let inst = work.path().join("inst");
    std::fs::create_dir(&inst).unwrap();
    std::fs::write(inst.join("notes.txt"), "the operator's own file").unwrap();
    // A file where init makes its `ca` directory: init fails after it began writing.
    std::fs::write(inst.join("ca"), "in the way").unwrap();
    let out = init(work.path(), "jlis/ca.pem", "jlis/crl.der", &[]);
    assert_refused(&out, &["removed what init had made"]);
    let mut left: Vec<String> = std::fs::read_dir(&inst)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["ca", "notes.txt"]);
    // With the obstacle gone, init succeeds in the same directory.
    std::fs::remove_file(inst.join("ca")).unwrap();
    let again = init(work.path(), "jlis/ca.pem", "jlis/crl.der", &[]);
    assert!(again.status.success(), "{again:?}");
}
