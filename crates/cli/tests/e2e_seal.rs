//! End to end: a SoftHSM2 instance initialised with 2-of-3 custodians starts sealed
//! (applications 503 ca_sealed, OCSP tryLater, repository served); one `shuin unseal`
//! leaves it sealed; a duplicate, a foreign and a mistyped share are refused; a second
//! valid share unseals it and an application gets a certificate that openssl verifies.
//! Every attempt is in the facility book, and neither the PIN nor any share is anywhere
//! in the instance directory. Skipped when SoftHSM2 is absent, unless
//! SHUIN_REQUIRE_SOFTHSM=1.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use shuin_keys::softhsm::{module_for_tests, SoftHsmToken};
use shuin_testkit::SimulatedJlisCa;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

const TOKEN: &str = "shuin-seal";
/// Distinctive, so a copy anywhere on disk would be found.
const PIN: &str = "pin-seal-8d41f0a7";

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            hits.extend(files_containing(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(path);
            }
        }
    }
    hits
}

const CUSTODIANS: [&str; 3] = ["保管 一郎", "保管 二郎", "保管 三郎"];

/// `shuin unseal` as `custodian` (a signed request carrying the share's hash).
fn unseal(instance: &Instance, custodian: &str, share: &Path) -> (bool, serde_json::Value, String) {
    let out = instance.as_operator(
        custodian,
        &["unseal", "--json", "--share-file", share.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let answer = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.success(), answer, stderr)
}

fn shuin_status(instance: &Instance) -> serde_json::Value {
    let out = shuin()
        .args(["status", "--json", "--data"])
        .arg(&instance.data)
        .envs(instance.env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The share line of a share file (the part a custodian types).
fn share_line(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .unwrap()
        .to_owned()
}

#[test]
fn a_sealed_instance_opens_after_two_of_three_shares() {
    let Some(module) = module_for_tests().unwrap() else {
        return;
    };
    let hsm_dir = tempfile::tempdir().unwrap();
    let token = SoftHsmToken::create(&module, hsm_dir.path(), TOKEN, PIN).unwrap();
    let pin_file = hsm_dir.path().join("pin");
    shuin_keys::write_private_file(&pin_file, format!("{PIN}\n").as_bytes()).unwrap();
    let shares = hsm_dir.path().join("shares");
    let env = vec![("SOFTHSM2_CONF".to_owned(), OsString::from(&token.conf))];
    let args: Vec<OsString> = vec![
        "--key-backend".into(),
        "pkcs11".into(),
        "--pkcs11-module".into(),
        token.module.clone().into(),
        "--pkcs11-token".into(),
        TOKEN.into(),
        "--pkcs11-pin-file".into(),
        pin_file.clone().into(),
        "--custodians".into(),
        "3".into(),
        "--threshold".into(),
        "2".into(),
        "--shares-out".into(),
        shares.clone().into(),
    ];
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let card = card(&jlis, |_| {});
    let mut instance = Instance::init_with_custodians(&[], jlis, &args, env, &CUSTODIANS);
    // The PIN file given to init may be destroyed: the instance does not need it.
    std::fs::remove_file(&pin_file).unwrap();
    let share = |i: u32| shares.join(format!("share-{i}.txt"));
    for i in 1..=3 {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(share(i)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "share-{i}.txt");
    }
    instance.serve();

    // Sealed: applications 503 ca_sealed; the repository and challenges work.
    let sealed = instance.apply(&card, NAME, BIRTH, ADDRESS);
    assert_problem(&sealed, 503, "ca_sealed");
    let (status, ready) = get(&instance.url("/readyz"));
    assert_eq!(status, 503, "{ready}");
    assert!(ready.contains("\"ca_sealed\""), "{ready}");
    assert_eq!(get(&instance.url("/healthz")).0, 200, "alive while sealed");
    assert_eq!(get(&instance.url("/repository/ca.crt")).0, 200);
    // OCSP: tryLater (RFC 6960 responseStatus 3) while no responder key is usable.
    let (status, ocsp) = post(&instance.url("/ocsp"), "application/ocsp-request", b"0");
    assert_eq!(
        (status, ocsp.as_bytes()),
        (200, &[0x30, 0x03, 0x0a, 0x01, 0x03][..])
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let socket = instance.data.join("admin.sock");
        let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "admin.sock");
    }

    // `shuin status` reports the seal, the token and FIPS mode.
    let status = shuin_status(&instance);
    assert_eq!(status["seal"]["sealed"], true, "{status}");
    assert_eq!(status["seal"]["threshold"], 2, "{status}");
    assert_eq!(status["seal"]["shares_held"], 0, "{status}");
    assert_eq!(status["key_backend"]["token"]["label"], TOKEN, "{status}");
    assert!(status["fips"]["fips_mode"].is_boolean(), "{status}");

    // Someone who is not a custodian cannot give a share, whatever they hold.
    let (ok, _, stderr) = unseal(&instance, ADMIN, &share(2));
    assert!(!ok);
    assert!(stderr.contains("role_missing"), "{stderr}");

    // One share: still sealed.
    let (ok, answer, stderr) = unseal(&instance, CUSTODIANS[0], &share(1));
    assert!(ok, "{stderr}");
    assert_eq!(answer["sealed"], true, "{answer}");
    assert_eq!(answer["shares_held"], 1, "{answer}");
    assert_problem(
        &instance.apply(&card, NAME, BIRTH, ADDRESS),
        503,
        "ca_sealed",
    );

    // The same share again is refused.
    let (ok, _, stderr) = unseal(&instance, CUSTODIANS[0], &share(1));
    assert!(!ok);
    assert!(stderr.contains("share_refused: duplicate"), "{stderr}");
    assert!(stderr.contains("already given"), "{stderr}");

    // A share of another instance is refused.
    let foreign_dir = tempfile::tempdir().unwrap();
    let foreign = foreign_dir.path().join("foreign.txt");
    let line = share_line(&share(2));
    let fields: Vec<&str> = line.split_whitespace().collect();
    let other_id = "0123456789abcdef";
    // Its checksum is right (a real share of another CA would have one).
    let head = format!("{} {other_id} {} {}", fields[0], fields[2], fields[3]);
    let body = fields[4].replace('-', "");
    let checksum = {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(format!("{head} {body}").as_bytes())[..4])
    };
    std::fs::write(&foreign, format!("{head} {} {checksum}\n", fields[4])).unwrap();
    let (ok, _, stderr) = unseal(&instance, CUSTODIANS[1], &foreign);
    assert!(!ok);
    assert!(stderr.contains("share_refused: foreign"), "{stderr}");
    assert!(stderr.contains("another CA"), "{stderr}");
    // A mistyped share is refused by its checksum.
    let mut typo: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
    let body = &typo[4];
    let flipped = if body.ends_with('0') { "1" } else { "0" };
    typo[4] = format!("{}{flipped}", &body[..body.len() - 1]);
    std::fs::write(&foreign, typo.join(" ")).unwrap();
    let (ok, _, stderr) = unseal(&instance, CUSTODIANS[1], &foreign);
    assert!(!ok);
    assert!(stderr.contains("share_refused: malformed"), "{stderr}");
    assert!(stderr.contains("checksum"), "{stderr}");

    // One custodian cannot give two shares: M shares come from M people.
    let (ok, _, stderr) = unseal(&instance, CUSTODIANS[0], &share(3));
    assert!(!ok);
    assert!(stderr.contains("share_refused: same_custodian"), "{stderr}");

    // The second valid share, from another custodian, unseals the CA.
    let (ok, answer, stderr) = unseal(&instance, CUSTODIANS[2], &share(3));
    assert!(ok, "{stderr}");
    assert_eq!(answer["sealed"], false, "{answer}");
    let (key, pkcs8) = shuin_keys::SoftwareSigner::generate(shuin_keys::KeySpec::EcP256).unwrap();
    let document = instance.document(&key, NAME, BIRTH, ADDRESS);
    let (status, issued) = instance.submit(&card, &document);
    assert_eq!(status, 201, "{issued}");
    instance.verify_issued(&issued);
    assert_eq!(get(&instance.url("/readyz")), (200, "ready\n".to_owned()));
    assert_eq!(shuin_status(&instance)["seal"]["sealed"], false);
    // Once unsealed, more shares are refused.
    let (ok, _, stderr) = unseal(&instance, CUSTODIANS[1], &share(2));
    assert!(!ok);
    assert!(
        stderr.contains("share_refused: already_unsealed"),
        "{stderr}"
    );
    instance.stop();

    // A restart seals the CA again: a subscriber's revocation request answers 503
    // ca_sealed (retryable) until the custodians unseal it.
    instance.serve();
    let refused = shuin_client::request_revocation(
        &instance.base,
        issued["certificate_pem"].as_str().unwrap(),
        &shuin_keys::pkcs8_pem(&pkcs8).unwrap(),
        "superseded",
    )
    .unwrap_err();
    assert!(
        matches!(&refused, shuin_client::ClientError::Refused { status: 503, code, .. } if code == "ca_sealed"),
        "{refused}"
    );
    instance.stop();

    // Every attempt is in the facility book, by share index and outcome.
    let shown = shuin()
        .args(["ledger", "show", "--data"])
        .arg(&instance.data)
        .args(["--book", "facility", "--json"])
        .output()
        .unwrap();
    assert!(shown.status.success());
    let entries: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    type Attempt = (serde_json::Value, String, String, String);
    let attempts: Vec<Attempt> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "seal.unseal_attempt")
        .map(|e| {
            (
                e["payload"]["share_index"].clone(),
                e["actor"]["name"].as_str().unwrap().to_owned(),
                e["payload"]["outcome"].as_str().unwrap().to_owned(),
                e["payload"]["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let [c1, c2, c3] = CUSTODIANS.map(String::from);
    let expected: Vec<Attempt> = vec![
        (1.into(), c1.clone(), "accepted".into(), String::new()),
        (1.into(), c1.clone(), "refused".into(), "duplicate".into()),
        (2.into(), c2.clone(), "refused".into(), "foreign".into()),
        (
            serde_json::Value::Null,
            c2.clone(),
            "refused".into(),
            "malformed".into(),
        ),
        (3.into(), c1, "refused".into(), "same_custodian".into()),
        (3.into(), c3, "accepted".into(), String::new()),
        (2.into(), c2, "refused".into(), "already_unsealed".into()),
    ];
    assert_eq!(attempts, expected);
    // Each unseal request is in the books with its signature, and no share is.
    let requests = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "operator.request" && e["payload"]["action"] == "unseal")
        .count();
    assert_eq!(requests, 7);
    assert!(entries
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "seal.unsealed"));

    // Neither the PIN nor any share is anywhere in the instance (database included).
    assert_eq!(
        files_containing(&instance.data, PIN.as_bytes()),
        Vec::<PathBuf>::new(),
        "the PIN must not be stored in the instance"
    );
    for i in 1..=3 {
        let line = share_line(&share(i));
        let body = line.split_whitespace().nth(4).unwrap().to_owned();
        assert_eq!(
            files_containing(&instance.data, body.as_bytes()),
            Vec::<PathBuf>::new(),
            "share {i} must not be stored in the instance"
        );
        let raw = body.replace('-', "");
        assert_eq!(
            files_containing(&instance.data, raw.as_bytes()),
            Vec::<PathBuf>::new(),
            "share {i} must not be stored in the instance"
        );
    }
    let config = std::fs::read_to_string(instance.data.join("shuin.toml")).unwrap();
    assert!(!config.contains("pin_file"), "{config}");
    assert!(config.contains("[ca.seal]"), "{config}");
    let log = std::fs::read_to_string(instance.work.path().join("serve.log")).unwrap();
    assert!(!log.contains(PIN));
}
