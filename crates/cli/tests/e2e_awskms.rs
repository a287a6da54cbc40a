//! An instance whose CA keys live in AWS KMS (moto's KMS in server mode): the first key
//! ceremony creates them with CreateKey, the instance issues certificates that openssl
//! verifies, and no private key material is anywhere in the instance. Skipped with a
//! note when moto_server is absent, unless SHUIN_REQUIRE_MOTO=1.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../repo/tests/servers/mod.rs"]
mod servers;

use common::*;
use shuin_testkit::SimulatedJlisCa;
use std::ffi::OsString;
use std::path::Path;

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn an_instance_with_its_keys_in_kms_issues_and_holds_no_private_key() {
    let Some(moto) = servers::Moto::start() else {
        return;
    };
    // Credentials come from the standard AWS chain (here the environment), never from
    // shuin.toml.
    let env: Vec<(String, OsString)> = vec![
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing-secret-7f3a".into()),
    ];
    let backend: Vec<OsString> = vec![
        "--key-backend".into(),
        "awskms".into(),
        "--kms-region".into(),
        "ap-northeast-1".into(),
        "--kms-endpoint".into(),
        moto.endpoint.clone().into(),
    ];
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let card = card(&jlis, |_| {});
    let mut instance = Instance::init_with(&[], jlis, &backend, env);
    instance.serve();
    let (status, answer) = instance.apply(&card, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{answer}");
    instance.verify_issued(&answer);

    let config = std::fs::read_to_string(instance.data.join("shuin.toml")).unwrap();
    assert!(config.contains("kind = \"awskms\""), "{config}");
    assert!(
        config.contains("issuing_key = \"awskms:arn:aws:kms:ap-northeast-1:"),
        "{config}"
    );
    assert!(!config.contains("testing-secret-7f3a"), "{config}");

    // A CRL now (an LRA's signed request), signed in KMS.
    instance.add_operator("LRA 一郎", "lra");
    let out = instance.as_operator("LRA 一郎", &["crl"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    instance.stop();

    // No private key, and no credential, anywhere in the instance.
    let mut files = Vec::new();
    files_under(&instance.data, &mut files);
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("PRIVATE KEY"), "{}", path.display());
        assert!(!text.contains("testing-secret-7f3a"), "{}", path.display());
    }
    let log = std::fs::read_to_string(instance.work.path().join("serve.log")).unwrap();
    assert!(!log.contains("testing-secret-7f3a"));
}
