//! Any standard CMS signer is a valid client (DESIGN.md section 3.2): applications made
//! by `openssl cms -sign` verify. Skipped with a note when openssl is absent.

mod common;

use common::*;
use shuin_jpki::JpkiCrlSet;
use std::process::Command;

fn openssl_sign(card: &shuin_testkit::TestCard, extra: &[&str]) -> Option<Vec<u8>> {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("NOTE: openssl is not installed; skipping the openssl cms -sign test");
        return None;
    }
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    card.write_dir(&tmp.path().join("card"))
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(tmp.path().join("app.json"), CONTENT).unwrap_or_else(|e| panic!("{e}"));
    let mut args = vec![
        "cms",
        "-sign",
        "-binary",
        "-nodetach",
        "-md",
        "sha256",
        "-outform",
        "DER",
        "-in",
        "app.json",
        "-signer",
        "card/cert.pem",
        "-inkey",
        "card/key.pem",
        "-out",
        "app.p7m",
    ];
    args.extend_from_slice(extra);
    let output = Command::new("openssl")
        .args(&args)
        .current_dir(tmp.path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(std::fs::read(tmp.path().join("app.p7m")).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn openssl_cms_sign_output_verifies() {
    let world = World::new();
    let card = world.card(&spec());
    let Some(cms) = openssl_sign(&card, &[]) else {
        return;
    };
    let verified = world
        .verifier
        .verify_application(&cms, &JpkiCrlSet::single(world.crl.clone()), now())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(verified.content, CONTENT);
    assert_eq!(verified.signer.der, card.cert_der);
}

#[test]
fn openssl_cms_sign_without_signed_attributes_verifies() {
    let world = World::new();
    let card = world.card(&spec());
    let Some(cms) = openssl_sign(&card, &["-noattr"]) else {
        return;
    };
    let verified = world
        .verifier
        .verify_application(&cms, &JpkiCrlSet::single(world.crl.clone()), now())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(verified.content, CONTENT);
}

#[test]
fn openssl_cms_sign_with_subject_key_identifier_verifies() {
    let world = World::new();
    let card = world.card(&spec());
    let Some(cms) = openssl_sign(&card, &["-keyid"]) else {
        return;
    };
    assert!(world
        .verifier
        .verify_application(&cms, &JpkiCrlSet::single(world.crl.clone()), now())
        .is_ok());
}
