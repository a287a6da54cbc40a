//! End to end through the real binary: `shuin init` + `shuin serve`, testkit cards, and
//! every hostile class of the applicant API with its contracted status and code.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use serde_json::Value;
use shuin_keys::{KeySpec, SoftwareSigner};
use shuin_testkit::{CardKind, SimulatedJlisCa};
use std::process::Command;
use std::time::Duration;

#[test]
fn a_valid_application_is_issued_and_verifies_with_openssl_and_pkilint() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let card = card(&jlis, |_| {});
    let instance = Instance::start(&[], jlis);
    let (status, answer) = instance.apply(&card, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["status"], "issued");
    let id = answer["application_id"].as_str().unwrap();
    let (status, again) = get(&instance.url(&format!("/api/v1/applications/{id}")));
    assert_eq!(status, 200);
    let again: Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["status"], "issued");
    assert_eq!(again["serial"], answer["serial"]);

    instance.verify_issued(&answer);
    let dir = instance.work.path();
    let p = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    if let Some(text) = external(
        "openssl",
        "SHUIN_REQUIRE_OPENSSL",
        &["x509", "-in", &p("cert.pem"), "-noout", "-text"],
    ) {
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains(POLICY), "{text}");
        assert!(
            text.contains("Digital Signature, Non Repudiation"),
            "{text}"
        );
    }
    for cert in ["cert.pem", "ca.pem", "root.pem"] {
        if let Some(out) = external(
            "lint_pkix_cert",
            "SHUIN_REQUIRE_PKILINT",
            &["lint", "-s", "ERROR", &p(cert)],
        ) {
            assert!(
                out.status.success() && String::from_utf8_lossy(&out.stdout).trim().is_empty(),
                "pkilint on {cert}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    // The subject comes from the JPKI certificate.
    let chain = answer["chain_pem"].as_str().unwrap();
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2);
}

#[test]
fn hostile_applications_get_the_contracted_answers() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let rogue = SimulatedJlisCa::generate(now()).unwrap();
    let valid = card(&jlis, |_| {});
    let revoked = card(&jlis, |_| {});
    let expired = card(&jlis, |s| {
        s.not_before = now() - Duration::from_secs(20 * 86_400);
        s.not_after = now() - Duration::from_secs(86_400);
    });
    let future = card(&jlis, |s| {
        s.not_before = now() + Duration::from_secs(86_400);
        s.not_after = now() + Duration::from_secs(200 * 86_400);
    });
    let user_auth = card(&jlis, |s| s.kind = CardKind::UserAuthentication);
    let test_policy = card(&jlis, |s| s.kind = CardKind::SigningTestPolicy);
    let bad_gender = card(&jlis, |s| s.raw_gender = Some("9".into()));
    let bad_birth = card(&jlis, |s| s.raw_birth = Some("419901302".into()));
    let substitute = card(&jlis, |s| s.name_substitutes = Some("00100".into()));
    let era_unknown = card(&jlis, |s| s.era = Some(0));
    let forged = card(&rogue, |_| {});
    let mut instance = Instance::start(&[&revoked], jlis);

    assert_problem(
        &instance.apply(&forged, NAME, BIRTH, ADDRESS),
        422,
        "jpki_untrusted_issuer",
    );
    assert_problem(
        &instance.apply(&revoked, NAME, BIRTH, ADDRESS),
        422,
        "jpki_certificate_revoked",
    );
    assert_problem(
        &instance.apply(&expired, NAME, BIRTH, ADDRESS),
        422,
        "jpki_certificate_expired",
    );
    assert_problem(
        &instance.apply(&future, NAME, BIRTH, ADDRESS),
        422,
        "jpki_certificate_not_yet_valid",
    );
    assert_problem(
        &instance.apply(&user_auth, NAME, BIRTH, ADDRESS),
        422,
        "jpki_not_signing_certificate",
    );
    assert_problem(
        &instance.apply(&test_policy, NAME, BIRTH, ADDRESS),
        422,
        "jpki_test_certificate",
    );
    assert_problem(
        &instance.apply(&bad_gender, NAME, BIRTH, ADDRESS),
        422,
        "jpki_basic_info_invalid",
    );
    assert_problem(
        &instance.apply(&bad_birth, NAME, BIRTH, ADDRESS),
        422,
        "jpki_basic_info_invalid",
    );

    // Entries that differ from the card.
    assert_problem(
        &instance.apply(&valid, "山田　次郎", BIRTH, ADDRESS),
        422,
        "applicant_name_mismatch",
    );
    assert_problem(
        &instance.apply(&valid, NAME, "1990-01-03", ADDRESS),
        422,
        "applicant_birth_date_mismatch",
    );
    assert_problem(
        &instance.apply(&valid, NAME, BIRTH, "東京都千代田区霞が関一丁目1番2号"),
        422,
        "applicant_address_mismatch",
    );
    let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let mut document = instance.document(&key, NAME, BIRTH, ADDRESS);
    document["applicant"]["gender"] = "2".into();
    assert_problem(
        &instance.submit(&valid, &document),
        422,
        "applicant_gender_mismatch",
    );

    // Review instead of rejection.
    let (status, answer) = instance.apply(&substitute, "山田　次郎", BIRTH, ADDRESS);
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "pending_review");
    assert_eq!(
        answer["review_reasons"],
        serde_json::json!(["name_substitute_characters"])
    );
    let (status, answer) = instance.apply(&era_unknown, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        answer["review_reasons"],
        serde_json::json!(["birth_date_era_unknown"])
    );

    // Normalisation: full-width digits, spaces and hyphen variants match.
    let (status, answer) = instance.apply(
        &valid,
        "山田 太郎",
        BIRTH,
        "東京都千代田区霞が関一丁目１番１号",
    );
    assert_eq!(status, 201, "{answer}");

    // Nonces and terms.
    let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let document = instance.document(&key, NAME, BIRTH, ADDRESS);
    let cms = valid
        .sign_application(document.to_string().as_bytes())
        .unwrap();
    assert_eq!(instance.submit_raw("application/pkcs7-mime", &cms).0, 201);
    assert_problem(
        &instance.submit_raw("application/pkcs7-mime", &cms),
        409,
        "nonce_reused",
    );
    let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let mut document = instance.document(&key, NAME, BIRTH, ADDRESS);
    document["nonce"] = "bm90LWEtbm9uY2U".into();
    assert_problem(&instance.submit(&valid, &document), 422, "nonce_unknown");
    let mut document = instance.document(&key, NAME, BIRTH, ADDRESS);
    document["terms_sha256"] = "00".repeat(32).into();
    assert_problem(&instance.submit(&valid, &document), 422, "terms_mismatch");

    // Keys: reuse, weak, foreign, broken CSR.
    let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let document = instance.document(&key, NAME, BIRTH, ADDRESS);
    assert_eq!(instance.submit(&valid, &document).0, 201);
    let document = instance.document(&key, NAME, BIRTH, ADDRESS);
    assert_problem(&instance.submit(&valid, &document), 409, "key_reused");
    for (csr_b64, code, status) in [
        (weak_csr_base64(&instance), "key_too_weak", 422),
        (
            ed25519_csr_base64(&instance),
            "key_algorithm_not_allowed",
            422,
        ),
        (
            openssl_csr(
                &instance,
                &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"],
            ),
            "key_algorithm_not_allowed",
            422,
        ),
        (dsa_csr_base64(&instance), "key_algorithm_not_allowed", 422),
        ("AAAA".to_owned(), "csr_malformed", 400),
    ] {
        if csr_b64.is_empty() {
            continue;
        }
        let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
        let mut document = instance.document(&key, NAME, BIRTH, ADDRESS);
        document["csr"] = csr_b64.into();
        assert_problem(&instance.submit(&valid, &document), status, code);
    }
    let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let (other, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let mut document = instance.document(&key, NAME, BIRTH, ADDRESS);
    let mut csr = shuin_client::build_csr(&other).unwrap();
    let last = csr.len() - 1;
    csr[last] ^= 0x01;
    document["csr"] = base64_std(&csr).into();
    assert_problem(
        &instance.submit(&valid, &document),
        422,
        "csr_signature_invalid",
    );

    // Tampered content: the signature no longer covers it.
    let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let document = instance.document(&key, NAME, BIRTH, ADDRESS);
    let mut cms = valid
        .sign_application(document.to_string().as_bytes())
        .unwrap();
    let at = find(&cms, b"\"kind\":\"new\"").expect("content is attached");
    cms[at + 8] = b'w';
    assert_problem(
        &instance.submit_raw("application/pkcs7-mime", &cms),
        422,
        "cms_signature_invalid",
    );

    // Bodies.
    assert_problem(
        &instance.submit_raw("application/pkcs7-mime", b"hello"),
        400,
        "malformed_request",
    );
    let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let document = instance.document(&key, NAME, BIRTH, ADDRESS);
    let cms = valid
        .sign_application(document.to_string().as_bytes())
        .unwrap();
    assert_problem(
        &instance.submit_raw("application/pkcs7-mime", &cms[..cms.len() / 2]),
        400,
        "malformed_request",
    );
    assert_problem(
        &instance.submit_raw("application/json", &cms),
        415,
        "unsupported_media_type",
    );
    assert_problem(
        &instance.submit_raw("application/pkcs7-mime", &vec![0x30; 70 * 1024]),
        413,
        "payload_too_large",
    );
    let mut document = instance.document(&key, NAME, BIRTH, ADDRESS);
    document["extra"] = "field".into();
    assert_problem(
        &instance.submit(&valid, &document),
        400,
        "malformed_request",
    );
    let mut document = instance.document(&key, NAME, BIRTH, ADDRESS);
    document["format"] = "shuin-application/9".into();
    assert_problem(
        &instance.submit(&valid, &document),
        400,
        "unsupported_format",
    );
    let (status, _) = get(&instance.url("/api/v1/applications/ffff"));
    assert_eq!(status, 404);

    // An older CRL than the one loaded (a replayed file) is refused: the loaded one
    // stays and service goes on.
    let t = now();
    let older = instance
        .jlis
        .crl_der_with(
            &[],
            t - Duration::from_secs(3600),
            t + Duration::from_secs(86_400),
            1,
            vec![],
        )
        .unwrap();
    let fresh = std::fs::read(&instance.crl_path).unwrap();
    replace_file(&instance.crl_path, &older);
    // The upkeep loop reads a changed file within a tick (500 ms); wait for two.
    std::thread::sleep(Duration::from_millis(1_200));
    assert_eq!(instance.apply(&valid, NAME, BIRTH, ADDRESS).0, 201);
    // A newer but stale J-LIS CRL fails closed, and a fresh one restores service.
    let stale = instance
        .jlis
        .crl_der_with(
            &[],
            t - Duration::from_secs(10 * 86_400),
            t - Duration::from_secs(86_400),
            4_000_000_000,
            vec![],
        )
        .unwrap();
    // The CRL is reloaded off the request path: each change shows within a few ticks.
    let eventually = |want: u16| {
        let start = std::time::Instant::now();
        loop {
            let answer = instance.apply(&valid, NAME, BIRTH, ADDRESS);
            if answer.0 == want || start.elapsed() > Duration::from_secs(10) {
                return answer;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    replace_file(&instance.crl_path, &stale);
    assert_problem(&eventually(503), 503, "jpki_revocation_unavailable");
    std::fs::remove_file(&instance.crl_path).unwrap();
    std::thread::sleep(Duration::from_millis(1_200));
    assert_problem(
        &instance.apply(&valid, NAME, BIRTH, ADDRESS),
        503,
        "jpki_revocation_unavailable",
    );
    // The fresh CRL is numbered below the stale one taken before: it is older, and an
    // older CRL is never taken, even after a gap (crl_older_than_loaded).
    replace_file(&instance.crl_path, &fresh);
    std::thread::sleep(Duration::from_millis(1_200));
    assert_problem(
        &instance.apply(&valid, NAME, BIRTH, ADDRESS),
        503,
        "jpki_revocation_unavailable",
    );
    // A fresh CRL newer than every CRL taken restores service.
    let newer = instance
        .jlis
        .crl_der_with(
            &[],
            t - Duration::from_secs(3600),
            t + Duration::from_secs(86_400),
            4_000_000_001,
            vec![],
        )
        .unwrap();
    replace_file(&instance.crl_path, &newer);
    assert_eq!(eventually(201).0, 201);

    assert!(instance.alive(), "the server stayed up");
    assert_eq!(get(&instance.url("/healthz")).0, 200);
}

#[test]
fn the_ledger_verifies_and_detects_an_edited_row() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let valid = card(&jlis, |_| {});
    let mut instance = Instance::start(&[], jlis);
    assert_eq!(instance.apply(&valid, NAME, BIRTH, ADDRESS).0, 201);
    instance.stop();
    let verify = || {
        shuin()
            .args(["ledger", "verify", "--data"])
            .arg(&instance.data)
            .output()
            .unwrap()
    };
    let out = verify();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let show = shuin()
        .args(["ledger", "show", "--json", "--data"])
        .arg(&instance.data)
        .output()
        .unwrap();
    let entries: Value = serde_json::from_slice(&show.stdout).unwrap();
    let accepted = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "application.accepted")
        .expect("an application.accepted entry");
    assert_eq!(accepted["actor"]["role"], "responsible_person");
    assert_eq!(accepted["actor"]["name"], "責任者 花子");
    let kinds: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    let accepted_at = kinds
        .iter()
        .position(|k| *k == "application.accepted")
        .unwrap();
    let signing_at = kinds
        .iter()
        .position(|k| *k == "certificate.signing")
        .unwrap();
    let issued_at = kinds
        .iter()
        .position(|k| *k == "certificate.issued")
        .unwrap();
    assert!(
        accepted_at < signing_at && signing_at < issued_at,
        "record before effect: {kinds:?}"
    );

    // Edit one row directly in the database.
    let edited = match &instance.database {
        Some(database) => {
            database.sql(
                "UPDATE ledger_entries SET canonical = \
                 convert_to(replace(convert_from(canonical, 'UTF8'), 'shuin-ca', 'shuin-cb'), 'UTF8') \
                 WHERE seq = (SELECT max(seq) FROM ledger_entries)",
            );
            Ok(std::process::ExitStatus::default())
        }
        None => Command::new("python3")
            .arg("-c")
            .arg("import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\nrow=c.execute('select seq, canonical from ledger_entries where seq=(select max(seq) from ledger_entries)').fetchone()\nc.execute('update ledger_entries set canonical=? where seq=?', (bytes(row[1]).replace(b'shuin-ca', b'shuin-cb'), row[0]))\nc.commit()")
            .arg(instance.data.join("shuin.db"))
            .status(),
    };
    match edited {
        Ok(status) if status.success() => {
            let out = verify();
            assert!(
                !out.status.success(),
                "an edited row must fail verification"
            );
            assert!(String::from_utf8_lossy(&out.stderr).contains("FAILED"));
        }
        _ => eprintln!("note: python3 with sqlite3 not available; skipping the edit check"),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A CSR for an RSA-1024 key, made by openssl (aws-lc-rs will not generate one).
fn weak_csr_base64(instance: &Instance) -> String {
    openssl_csr(instance, &["-newkey", "rsa:1024"])
}

/// A CSR for a DSA-2048 key (DSA needs its parameters first).
fn dsa_csr_base64(instance: &Instance) -> String {
    let params = instance.work.path().join("dsa-params.pem");
    let made = external(
        "openssl",
        "SHUIN_REQUIRE_OPENSSL",
        &[
            "genpkey",
            "-genparam",
            "-algorithm",
            "DSA",
            "-pkeyopt",
            "dsa_paramgen_bits:2048",
            "-out",
            params.to_str().unwrap(),
        ],
    );
    match made {
        Some(o) if o.status.success() => {
            let key = format!("dsa:{}", params.display());
            openssl_csr(instance, &["-newkey", &key])
        }
        Some(o) => panic!("openssl genpkey: {}", String::from_utf8_lossy(&o.stderr)),
        None => String::new(),
    }
}

fn ed25519_csr_base64(instance: &Instance) -> String {
    openssl_csr(instance, &["-newkey", "ed25519"])
}

fn openssl_csr(instance: &Instance, key_args: &[&str]) -> String {
    let out = instance.work.path().join("csr.der");
    let key = instance.work.path().join("csr.key");
    let mut args = vec![
        "req",
        "-new",
        "-nodes",
        "-subj",
        "/C=JP",
        "-outform",
        "DER",
        "-out",
        out.to_str().unwrap(),
        "-keyout",
        key.to_str().unwrap(),
    ];
    args.extend_from_slice(key_args);
    match external("openssl", "SHUIN_REQUIRE_OPENSSL", &args) {
        Some(o) if o.status.success() => base64_std(&std::fs::read(&out).unwrap()),
        Some(o) => panic!("openssl req: {}", String::from_utf8_lossy(&o.stderr)),
        None => String::new(),
    }
}
