//! End to end: `shuin apply --card-pkcs11` signs the application with a JPKI-shaped
//! SoftHSM2 token (label `JPKI`, the testkit card's signing key and certificate written
//! with ID 02, the key marked CKA_ALWAYS_AUTHENTICATE as a real card's signing key is) and
//! gets a certificate from a running instance. Needs SoftHSM2 and pkcs11-tool (OpenSC);
//! skipped with a note without them, unless SHUIN_REQUIRE_SOFTHSM=1.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use shuin_keys::softhsm::{module_for_tests, SoftHsmToken};
use shuin_testkit::SimulatedJlisCa;
use std::path::Path;
use std::process::Command;

const CARD_PIN: &str = "card-pin-3141";

fn pkcs11_tool(token: &SoftHsmToken, args: &[&std::ffi::OsStr]) -> Option<()> {
    let output = Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", &token.conf)
        .arg("--module")
        .arg(&token.module)
        .args(["--token-label", "JPKI", "--login", "--pin", CARD_PIN])
        .args(args)
        .output();
    match output {
        Ok(output) => {
            assert!(
                output.status.success(),
                "pkcs11-tool: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            Some(())
        }
        Err(_) if std::env::var_os("SHUIN_REQUIRE_SOFTHSM").is_none() => {
            eprintln!("note: pkcs11-tool not found; skipping (apt-get install opensc)");
            None
        }
        Err(e) => panic!("pkcs11-tool is required (SHUIN_REQUIRE_SOFTHSM is set): {e}"),
    }
}

#[test]
fn apply_with_a_pkcs11_card_gets_a_certificate() {
    let Some(module) = module_for_tests().unwrap() else {
        return;
    };
    let hsm_dir = tempfile::tempdir().unwrap();
    let token = SoftHsmToken::create(&module, hsm_dir.path(), "JPKI", CARD_PIN).unwrap();
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let card = card(&jlis, |_| {});

    // The card's signing key and certificate, as the JPKI application's ID 02 objects.
    let key_der = hsm_dir.path().join("key.der");
    let (_, der) = der::pem::decode_vec(card.key_pkcs8_pem().as_bytes()).unwrap();
    std::fs::write(&key_der, der).unwrap();
    let cert_der = hsm_dir.path().join("cert.der");
    let (_, der) = der::pem::decode_vec(card.cert_pem().unwrap().as_bytes()).unwrap();
    std::fs::write(&cert_der, der).unwrap();
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    let Some(()) = pkcs11_tool(
        &token,
        &[
            os("--write-object"),
            key_der.as_os_str(),
            os("--type"),
            os("privkey"),
            os("--id"),
            os("02"),
            os("--label"),
            os("JPKI signing key"),
            os("--usage-sign"),
            os("--always-auth"),
        ],
    ) else {
        return;
    };
    pkcs11_tool(
        &token,
        &[
            os("--write-object"),
            cert_der.as_os_str(),
            os("--type"),
            os("cert"),
            os("--id"),
            os("02"),
            os("--label"),
            os("JPKI signing certificate"),
        ],
    )
    .unwrap();
    std::fs::remove_file(&key_der).unwrap();
    let pin_file = hsm_dir.path().join("card-pin");
    shuin_keys::write_private_file(&pin_file, format!("{CARD_PIN}\n").as_bytes()).unwrap();

    let instance = Instance::start(&[], jlis);
    let out = instance.work.path().join("cert.pem");
    let applied = shuin()
        .env("SOFTHSM2_CONF", &token.conf)
        .args(["apply", "--json", "--server", &instance.base])
        .arg("--card-pkcs11")
        .arg(&token.module)
        .arg("--card-pin-file")
        .arg(&pin_file)
        .args(["--name", NAME, "--birth-date", BIRTH, "--address", ADDRESS])
        .args(["--gender", "1"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        applied.status.success(),
        "shuin apply: {}{}",
        String::from_utf8_lossy(&applied.stdout),
        String::from_utf8_lossy(&applied.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&applied.stdout).unwrap();
    assert_eq!(answer["status"], "issued", "{answer}");

    let dir = instance.work.path();
    instance.repository_pem("/repository/root.crt", &dir.join("root.pem"));
    instance.repository_pem("/repository/ca.crt", &dir.join("ca.pem"));
    let p = |path: &Path| path.to_str().unwrap().to_owned();
    if let Some(verified) = external(
        "openssl",
        "SHUIN_REQUIRE_OPENSSL",
        &[
            "verify",
            "-CAfile",
            &p(&dir.join("root.pem")),
            "-untrusted",
            &p(&dir.join("ca.pem")),
            &p(&out),
        ],
    ) {
        assert!(
            verified.status.success(),
            "openssl verify: {}",
            String::from_utf8_lossy(&verified.stderr)
        );
    }

    // A wrong token label is refused with the labels present.
    let wrong = shuin()
        .env("SOFTHSM2_CONF", &token.conf)
        .args(["apply", "--server", &instance.base])
        .arg("--card-pkcs11")
        .arg(&token.module)
        .args(["--card-token", "NOT-JPKI"])
        .arg("--card-pin-file")
        .arg(&pin_file)
        .args(["--name", NAME, "--birth-date", BIRTH, "--address", ADDRESS])
        .arg("--out")
        .arg(dir.join("never.pem"))
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains("NOT-JPKI") && stderr.contains("JPKI"),
        "{stderr}"
    );
}
