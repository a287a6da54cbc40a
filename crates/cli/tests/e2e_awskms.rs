//! An instance whose CA keys live in AWS KMS (moto's KMS in server mode): the first key
//! ceremony creates them with CreateKey, the instance issues certificates that openssl
//! verifies, and no private key material is anywhere in the instance. Skipped with a
//! note when moto_server is absent, unless SHUIN_REQUIRE_MOTO=1.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::servers;

use crate::common::*;
use shuin_testkit::SimulatedJlisCa;
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
    let (backend, env) = kms_instance(&moto.endpoint, "testing-secret-7f3a");
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
    // The first key ceremony recorded each new key's KMS metadata and key policy.
    let book = json_answer(&["ledger", "show", "--book", "facility"], &instance.data);
    let described: Vec<&serde_json::Value> = book
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "key.attributes")
        .collect();
    assert!(described.len() >= 2, "{book}");
    for entry in described {
        let payload = &entry["payload"];
        assert_eq!(payload["backend"], "awskms", "{entry}");
        assert_eq!(payload["attributes"]["origin"], "AWS_KMS", "{entry}");
        assert_eq!(payload["policy_passed"], true, "{entry}");
        assert!(payload["key_policy"]["Statement"].is_array(), "{entry}");
    }

    // A CRL now (an LRA's signed request), signed in KMS.
    instance.add_operator("LRA 一郎", "lra");
    let out = instance.as_operator("LRA 一郎", &["crl"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The audit pack shows every key's KMS facts as read when the CA opened them, and
    // what is missing: no CMVP number nor certification entered, and an endpoint override
    // is not AWS itself.
    instance.add_operator("監査 三郎", "auditor");
    let pack = instance.audit_pack("監査 三郎", &instance.work.path().join("pack-1"));
    let keys = pack["keys"]["keys"].as_array().unwrap();
    let roles: Vec<&str> = keys.iter().map(|k| k["role"].as_str().unwrap()).collect();
    for role in ["root", "issuing", "operator_ca", "ocsp", "audit"] {
        assert!(roles.contains(&role), "{role}: {roles:?}");
    }
    for key in keys {
        assert_eq!(key["backend"], "awskms", "{key}");
        assert_eq!(key["holder"]["provider"], "AWS KMS", "{key}");
        assert_eq!(key["holder"]["region"], "ap-northeast-1", "{key}");
        assert!(
            key["attributes"]["arn"]
                .as_str()
                .unwrap()
                .starts_with("arn:aws:kms:ap-northeast-1:"),
            "{key}"
        );
        assert_eq!(key["attributes"]["key_usage"], "SIGN_VERIFY", "{key}");
        assert_eq!(key["attributes"]["origin"], "AWS_KMS", "{key}");
        assert_eq!(key["issuer_key_policy"], "passed", "{key}");
        assert_eq!(key["complete"], false, "{key}");
    }
    let missing = &pack["keys"]["missing"];
    for code in [
        "validation_missing",
        "certifications_missing",
        "not_production_grade",
    ] {
        assert!(
            missing.as_array().unwrap().iter().any(|c| c == code),
            "{code}: {missing}"
        );
    }
    let f4 = pack["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "F4")
        .unwrap();
    assert!(f4.to_string().contains("CMVP validation: missing"), "{f4}");

    // Entered: a FIPS 140-2 certificate (historical since 2026-09-21) and an ISMAP entry.
    let mut config = std::fs::read_to_string(instance.data.join("shuin.toml")).unwrap();
    config.push_str("\n[ca.key_backend.validation]\ncmvp_certificate = 3139\nstandard = \"FIPS 140-2\"\nlevel = 3\nchecked_on = \"2026-11-01\"\n\n[[ca.key_backend.certifications]]\nscheme = \"ISMAP\"\nreference = \"C21-0001-3\"\nchecked_on = \"2026-11-01\"\n");
    std::fs::write(instance.data.join("shuin.toml"), config).unwrap();
    let pack = instance.audit_pack("監査 三郎", &instance.work.path().join("pack-2"));
    let issuing = pack["keys"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "issuing")
        .unwrap()
        .clone();
    assert_eq!(issuing["validation"]["cmvp_certificate"], 3139, "{issuing}");
    assert_eq!(
        issuing["certifications"][0]["entered"]["scheme"], "ISMAP",
        "{issuing}"
    );
    let missing = issuing["missing"].as_array().unwrap();
    assert!(
        missing.iter().any(|c| c == "fips_140_2_historical"),
        "{issuing}"
    );
    assert!(
        !missing
            .iter()
            .any(|c| c == "validation_missing" || c == "certifications_missing"),
        "{issuing}"
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
