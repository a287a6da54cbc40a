//! The simulated CA, cards, CRLs and CMS pass OpenSSL (skipped with a note when the
//! `openssl` binary is absent).

use shuin_core::{Clock, SystemClock};
use shuin_testkit::{make_card_dir, make_jpki_ca_dir, CardDirOptions, SimulatedJlisCa, TestCard};
use std::path::Path;
use std::process::Command;

fn openssl(args: &[&str], dir: &Path) -> Option<(bool, String)> {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some((output.status.success(), text))
}

fn have_openssl() -> bool {
    let present = Command::new("openssl").arg("version").output().is_ok();
    if !present {
        eprintln!("NOTE: openssl is not installed; skipping the OpenSSL interop checks");
    }
    present
}

fn options(revoked: bool, expired: bool) -> CardDirOptions {
    CardDirOptions {
        name: "山田\u{3000}太郎".into(),
        birth_date: "1990-01-02".into(),
        address: "東京都千代田区霞が関一丁目1番1号".into(),
        gender: Some("2".into()),
        revoked,
        expired,
    }
}

#[test]
fn card_certificates_verify_and_show_the_jpki_profile() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let now = SystemClock.now();
    let ca_dir = tmp.path().join("ca");
    make_jpki_ca_dir(&ca_dir, now).unwrap_or_else(|e| panic!("{e}"));
    let card = make_card_dir(
        &ca_dir,
        options(false, false),
        &tmp.path().join("card"),
        now,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let reloaded = TestCard::load_dir(&tmp.path().join("card")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reloaded.cert_der, card.cert_der);
    assert!(SimulatedJlisCa::load_dir(&ca_dir).is_ok());
    use std::os::unix::fs::PermissionsExt;
    for key in [ca_dir.join("ca.key"), tmp.path().join("card/key.pem")] {
        let mode = std::fs::metadata(&key)
            .unwrap_or_else(|e| panic!("{e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", key.display());
    }
    if !have_openssl() {
        return;
    }
    let dir = tmp.path();
    let (ok, text) = openssl(
        &[
            "x509",
            "-in",
            "card/cert.pem",
            "-noout",
            "-text",
            "-nameopt",
            "utf8",
        ],
        dir,
    )
    .unwrap_or_else(|| panic!("openssl ran before"));
    assert!(ok, "{text}");
    assert!(text.contains("Key Usage: critical"), "{text}");
    assert!(
        text.contains("Digital Signature, Non Repudiation"),
        "{text}"
    );
    assert!(text.contains("Certificate Policies: critical"), "{text}");
    assert!(text.contains("1.2.392.200149.8.5.1.1.20"), "{text}");
    assert!(
        text.contains("東京都") && text.contains("千代田区"),
        "{text}"
    );
    assert!(text.contains("OU=JPKI for digital signature"), "{text}");
    let (ok, text) = openssl(&["verify", "-CAfile", "ca/ca.pem", "card/cert.pem"], dir)
        .unwrap_or_else(|| panic!("openssl ran before"));
    assert!(ok, "{text}");
    let (ok, text) = openssl(
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "ca/crl.der",
            "-CAfile",
            "ca/ca.pem",
            "-noout",
            "-verify",
        ],
        dir,
    )
    .unwrap_or_else(|| panic!("openssl ran before"));
    assert!(ok && text.contains("verify OK"), "{text}");
}

#[test]
fn revoked_and_expired_cards_are_seen_by_openssl() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let now = SystemClock.now();
    let ca_dir = tmp.path().join("ca");
    make_jpki_ca_dir(&ca_dir, now).unwrap_or_else(|e| panic!("{e}"));
    let revoked = make_card_dir(
        &ca_dir,
        options(true, false),
        &tmp.path().join("revoked"),
        now,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let second = make_card_dir(
        &ca_dir,
        options(true, false),
        &tmp.path().join("second"),
        now,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    make_card_dir(
        &ca_dir,
        options(false, true),
        &tmp.path().join("expired"),
        now,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let listed =
        std::fs::read_to_string(ca_dir.join("revoked.txt")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listed.lines().count(), 2, "--revoked extends the list");
    for card in [&revoked, &second] {
        let serial = hex::encode(card.serial().unwrap_or_else(|e| panic!("{e}")));
        assert!(listed.contains(&serial));
    }
    if !have_openssl() {
        return;
    }
    let dir = tmp.path();
    let run = |args: &[&str]| openssl(args, dir).unwrap_or_else(|| panic!("openssl ran before"));
    let (ok, text) = run(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        "ca/crl.der",
        "-out",
        "crl.pem",
    ]);
    assert!(ok, "{text}");
    let (ok, text) = run(&[
        "verify",
        "-crl_check",
        "-CAfile",
        "ca/ca.pem",
        "-CRLfile",
        "crl.pem",
        "revoked/cert.pem",
    ]);
    assert!(!ok && text.contains("revoked"), "{text}");
    let (ok, text) = run(&["verify", "-CAfile", "ca/ca.pem", "expired/cert.pem"]);
    assert!(!ok && text.contains("expired"), "{text}");
}

#[test]
fn applications_signed_by_a_card_pass_openssl_cms_verify() {
    let now = SystemClock.now();
    let ca = SimulatedJlisCa::generate(now).unwrap_or_else(|e| panic!("{e}"));
    let spec =
        shuin_testkit::CardSpec::signing("山田\u{3000}太郎", "1990-01-02", "東京都千代田区", now);
    let card = ca.issue_card(&spec).unwrap_or_else(|e| panic!("{e}"));
    let content = br#"{"format":"shuin-application/1"}"#;
    let cms = card
        .sign_application(content)
        .unwrap_or_else(|e| panic!("{e}"));
    if !have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(tmp.path().join("app.p7m"), &cms).unwrap_or_else(|e| panic!("{e}"));
    let (ok, text) = openssl(
        &[
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-in",
            "app.p7m",
            "-noverify",
            "-out",
            "out.json",
        ],
        tmp.path(),
    )
    .unwrap_or_else(|| panic!("openssl ran before"));
    assert!(ok, "{text}");
    assert_eq!(
        std::fs::read(tmp.path().join("out.json")).unwrap_or_else(|e| panic!("{e}")),
        content
    );
}
