//! Reissue and the J-LIS follow-up end to end (docs/revocation.md): a reissue gives a new
//! certificate and the old serial then shows revoked (superseded) in OCSP and the CRL,
//! with a notice queued and sent; a reissue signed by another person is refused and
//! revokes nothing; a J-LIS CRL that lists the holder's JPKI certificate flags (or, by
//! policy, revokes) the certificate issued on it.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use serde_json::Value;
use shuin_keys::{KeySpec, SoftwareSigner};
use shuin_testkit::{SimulatedJlisCa, TestCard};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn p(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

fn openssl(args: &[&str]) -> Option<(bool, String)> {
    external("openssl", "SHUIN_REQUIRE_OPENSSL", args).map(|o| {
        (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    })
}

fn issue(instance: &Instance, card: &TestCard, file: &str) -> (PathBuf, String) {
    let (status, answer) = instance.apply(card, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{answer}");
    let cert = instance.work.path().join(file);
    std::fs::write(&cert, answer["certificate_pem"].as_str().unwrap()).unwrap();
    (cert, answer["serial"].as_str().unwrap().to_owned())
}

fn reissue(
    instance: &Instance,
    card: &TestCard,
    replaces: &str,
    name: &str,
    address: &str,
) -> (u16, Value) {
    let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let mut document = instance.document(&key, name, BIRTH, address);
    document["kind"] = "reissue".into();
    document["replaces"] = replaces.into();
    instance.submit(card, &document)
}

fn ocsp_text(instance: &Instance, cert: &Path) -> Option<String> {
    let dir = instance.work.path();
    let (ok, text) = openssl(&[
        "ocsp",
        "-url",
        &instance.url("/ocsp"),
        "-issuer",
        &p(&dir.join("ca.pem")),
        "-cert",
        &p(cert),
        "-CAfile",
        &p(&dir.join("root.pem")),
        "-no_nonce",
    ])?;
    assert!(ok && text.contains("Response verify OK"), "{text}");
    Some(text)
}

/// Waits up to 10 s for OCSP to say `revoked` with `reason`.
fn wait_ocsp_revoked(instance: &Instance, cert: &Path, reason: &str) {
    let start = Instant::now();
    loop {
        let Some(text) = ocsp_text(instance, cert) else {
            return;
        };
        if text.contains(": revoked") {
            assert!(text.contains(reason), "{text}");
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "OCSP says {text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits up to 10 s for the published CRL to list `serial` with `reason`.
fn wait_crl_lists(instance: &Instance, serial: &str, reason: &str) {
    let start = Instant::now();
    let path = instance.work.path().join("ca.crl");
    loop {
        std::fs::write(&path, get_bytes(&instance.url("/repository/ca.crl"))).unwrap();
        let Some((_, text)) =
            openssl(&["crl", "-inform", "DER", "-in", &p(&path), "-noout", "-text"])
        else {
            return;
        };
        let upper = text.to_uppercase();
        if let Some(at) = upper.find(&serial.to_uppercase()) {
            let tail = &text[at..text.len().min(at + 300)];
            assert!(tail.contains(reason), "{tail}");
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the CRL does not list {serial}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ledger(instance: &Instance) -> Vec<Value> {
    let out = shuin()
        .args(["ledger", "show", "--json", "--data"])
        .arg(&instance.data)
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_reissue_supersedes_the_old_certificate_and_another_person_cannot_reissue() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let old_card = card(&jlis, |_| {});
    // The same person's renewed card: a new JPKI certificate, the same 4 basic items.
    let renewed = card(&jlis, |_| {});
    let stranger = card(&jlis, |s| s.name = "佐藤　花子".into());
    let instance = Instance::start(&[], jlis);
    let dir = instance.work.path().to_owned();
    instance.repository_pem("/repository/root.crt", &dir.join("root.pem"));
    instance.repository_pem("/repository/ca.crt", &dir.join("ca.pem"));
    let (old_cert, old_serial) = issue(&instance, &old_card, "old.pem");

    // Refusals first: they revoke nothing.
    assert_problem(
        &reissue(&instance, &stranger, &old_serial, "佐藤　花子", ADDRESS),
        422,
        "reissue_not_same_subject",
    );
    assert_problem(
        &reissue(&instance, &renewed, "7f7f7f7f", NAME, ADDRESS),
        422,
        "reissue_target_unknown",
    );
    std::thread::sleep(Duration::from_millis(1_200));
    if let Some(text) = ocsp_text(&instance, &old_cert) {
        assert!(text.contains(": good"), "a refused reissue revoked: {text}");
    }

    // The reissue: a new certificate, then the old one revoked as superseded.
    let (status, answer) = reissue(&instance, &renewed, &old_serial, NAME, ADDRESS);
    assert_eq!(status, 201, "{answer}");
    let new_serial = answer["serial"].as_str().unwrap().to_owned();
    assert_ne!(new_serial, old_serial);
    let new_cert = dir.join("new.pem");
    std::fs::write(&new_cert, answer["certificate_pem"].as_str().unwrap()).unwrap();
    wait_ocsp_revoked(&instance, &old_cert, "superseded");
    wait_crl_lists(&instance, &old_serial, "Superseded");
    if let Some(text) = ocsp_text(&instance, &new_cert) {
        assert!(text.contains(": good"), "{text}");
    }
    // Reissuing the revoked one again is refused.
    assert_problem(
        &reissue(&instance, &renewed, &old_serial, NAME, ADDRESS),
        422,
        "reissue_target_unknown",
    );

    // The notice (旧証明書の失効通知) is queued, ledgered and sent by the file sender.
    let notices = instance.data.join("notices.jsonl");
    let start = Instant::now();
    let line = loop {
        let text = std::fs::read_to_string(&notices).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains(&old_serial)) {
            break line.to_owned();
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no notice sent");
        std::thread::sleep(Duration::from_millis(200));
    };
    let notice: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(notice["kind"], "old_certificate_revoked");
    assert_eq!(notice["notice"]["replaced_by"], new_serial.as_str());
    let entries = ledger(&instance);
    let kinds: Vec<&str> = entries.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"notice.queued"), "{kinds:?}");
    let revoked: Vec<&Value> = entries
        .iter()
        .filter(|e| {
            e["book"] == "revocation"
                && e["subjects"].as_array().is_some_and(|s| {
                    s.iter()
                        .any(|x| x.as_str() == Some(&format!("serial:{old_serial}")))
                })
        })
        .collect();
    assert!(!revoked.is_empty(), "{entries:?}");
}

fn rewrite_jlis_crl(instance: &Instance, revoked: &[&TestCard]) {
    let serials: Vec<Vec<u8>> = revoked.iter().map(|c| c.serial().unwrap()).collect();
    let t = now();
    // A different size or mtime makes the server reload it.
    std::thread::sleep(Duration::from_millis(1_100));
    std::fs::write(
        &instance.crl_path,
        instance
            .jlis
            .crl_der(&serials, t, t + Duration::from_secs(86_400))
            .unwrap(),
    )
    .unwrap();
}

#[test]
fn a_jlis_revocation_flags_the_certificate_issued_on_it() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let holder = card(&jlis, |_| {});
    let other = card(&jlis, |_| {});
    let instance = Instance::start(&[], jlis);
    let (_, serial) = issue(&instance, &holder, "held.pem");
    let (_, other_serial) = issue(&instance, &other, "other.pem");
    rewrite_jlis_crl(&instance, &[&holder]);
    let start = Instant::now();
    loop {
        let out = shuin()
            .args(["registration", "flags", "--json", "--data"])
            .arg(&instance.data)
            .output()
            .unwrap();
        assert!(out.status.success());
        let flags: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        if !flags.is_empty() {
            assert_eq!(flags.len(), 1, "{flags:?}");
            assert_eq!(flags[0]["serial"], serial.as_str());
            assert_eq!(flags[0]["reason"], "jpki_certificate_revoked");
            assert_ne!(flags[0]["serial"], other_serial.as_str());
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "nothing flagged");
        std::thread::sleep(Duration::from_millis(200));
    }
    let entries = ledger(&instance);
    let flagged: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "certificate.flagged_jpki_revoked")
        .collect();
    assert_eq!(flagged.len(), 1, "{entries:?}");
    assert_eq!(flagged[0]["payload"]["policy"], "flag");
    // Flagging does not revoke.
    assert!(!entries.iter().any(|e| e["kind"]
        .as_str()
        .is_some_and(|k| k.starts_with("certificate.revoked"))));
}

#[test]
fn a_jlis_revocation_revokes_by_policy() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let holder = card(&jlis, |_| {});
    let mut instance = Instance::init_with(
        &[],
        jlis,
        &["--key-backend".into(), "software".into()],
        vec![],
    );
    instance.edit_config(
        "on_jpki_revocation = \"flag\"",
        "on_jpki_revocation = \"revoke\"",
    );
    instance.serve();
    let dir = instance.work.path().to_owned();
    instance.repository_pem("/repository/root.crt", &dir.join("root.pem"));
    instance.repository_pem("/repository/ca.crt", &dir.join("ca.pem"));
    let (cert, serial) = issue(&instance, &holder, "held.pem");
    rewrite_jlis_crl(&instance, &[&holder]);
    // OpenSSL's OCSP printer names reasons 0-7 only and prints privilegeWithdrawn (9)
    // as "(UNKNOWN)"; the CRL text below names it.
    wait_ocsp_revoked(&instance, &cert, "Reason:");
    wait_crl_lists(&instance, &serial, "Privilege Withdrawn");
    let entries = ledger(&instance);
    let recorded = entries
        .iter()
        .find(|e| e["kind"] == "certificate.revoking_jpki_revoked")
        .expect("the recorded reason is ledgered");
    assert_eq!(recorded["payload"]["reason"], "jpki_certificate_revoked");
}
