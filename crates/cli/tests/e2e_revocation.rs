//! Revocation end to end: `shuin revoke` in another process reaches the running server's
//! OCSP and CRL within 5 seconds; OpenSSL and pkilint accept what is published; OCSP
//! answers malformed, unknown and multi-certificate requests correctly.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use shuin_testkit::SimulatedJlisCa;
use std::path::Path;
use std::time::{Duration, Instant};

fn p(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

struct Issued {
    cert: std::path::PathBuf,
    serial: String,
}

fn issue(instance: &Instance, card: &shuin_testkit::TestCard, name: &str) -> Issued {
    let (status, answer) = instance.apply(card, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{answer}");
    let cert = instance.work.path().join(format!("{name}.pem"));
    std::fs::write(&cert, answer["certificate_pem"].as_str().unwrap()).unwrap();
    Issued {
        cert,
        serial: answer["serial"].as_str().unwrap().to_owned(),
    }
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

fn ocsp_status(instance: &Instance, cert: &Path) -> Option<String> {
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
        "-respout",
        &p(&dir.join("resp.der")),
    ])?;
    assert!(
        ok && text.contains("Response verify OK"),
        "openssl ocsp: {text}"
    );
    Some(text)
}

#[test]
fn a_revocation_reaches_ocsp_and_the_crl_within_five_seconds() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let card = card(&jlis, |_| {});
    let instance = Instance::start(&[], jlis);
    instance.add_operator("LRA 一郎", "lra");
    instance.add_operator("監視 花子", "monitor");
    let dir = instance.work.path().to_owned();
    instance.repository_pem("/repository/root.crt", &dir.join("root.pem"));
    instance.repository_pem("/repository/ca.crt", &dir.join("ca.pem"));
    let first = issue(&instance, &card, "first");
    let second = issue(&instance, &card, "second");

    if let Some(text) = ocsp_status(&instance, &first.cert) {
        assert!(text.contains(": good"), "{text}");
    }
    let answer = instance.revoke_as("LRA 一郎", &first.serial, "keyCompromise");
    assert_eq!(answer["status"], "revoked");
    let revoked_at = Instant::now();

    // OCSP: revoked, with the reason, as soon as the revocation is confirmed (its
    // answer is signed before).
    if openssl(&["version"]).is_some() {
        let text = ocsp_status(&instance, &first.cert).unwrap();
        assert!(
            text.contains(": revoked") && text.contains("keyCompromise"),
            "right after the revocation, OCSP says: {text}"
        );
        let text = ocsp_status(&instance, &second.cert).unwrap();
        assert!(
            text.contains(": good"),
            "the other certificate stays good: {text}"
        );
        if let Some(out) = external(
            "lint_ocsp_response",
            "SHUIN_REQUIRE_PKILINT",
            &["lint", "-s", "ERROR", &p(&dir.join("resp.der"))],
        ) {
            assert!(
                out.status.success() && String::from_utf8_lossy(&out.stdout).trim().is_empty(),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }

    // CRL: lists the serial, verifies, and makes `openssl verify -crl_check` fail.
    let crl = loop {
        let crl = get_bytes(&instance.url("/repository/ca.crl"));
        std::fs::write(dir.join("ca.crl"), &crl).unwrap();
        let listed = openssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            &p(&dir.join("ca.crl")),
            "-noout",
            "-text",
        ])
        .map(|(_, text)| text.to_uppercase().contains(&first.serial.to_uppercase()))
        .unwrap_or(true);
        if listed {
            break crl;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(5),
            "the CRL does not list the serial yet"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    std::fs::write(
        dir.join("ca.crl.pem"),
        der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &crl).unwrap(),
    )
    .unwrap();
    let root_crl = get_bytes(&instance.url("/repository/root.crl"));
    std::fs::write(
        dir.join("root.crl.pem"),
        der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &root_crl).unwrap(),
    )
    .unwrap();
    if let Some((ok, text)) = openssl(&[
        "crl",
        "-in",
        &p(&dir.join("ca.crl.pem")),
        "-CAfile",
        &p(&dir.join("ca.pem")),
        "-noout",
    ]) {
        assert!(ok && text.contains("verify OK"), "{text}");
        let all = format!(
            "{}{}",
            std::fs::read_to_string(dir.join("ca.crl.pem")).unwrap(),
            std::fs::read_to_string(dir.join("root.crl.pem")).unwrap()
        );
        std::fs::write(dir.join("crls.pem"), all).unwrap();
        let (ok, text) = openssl(&[
            "verify",
            "-crl_check_all",
            "-CAfile",
            &p(&dir.join("root.pem")),
            "-untrusted",
            &p(&dir.join("ca.pem")),
            "-CRLfile",
            &p(&dir.join("crls.pem")),
            &p(&first.cert),
        ])
        .unwrap();
        assert!(!ok && text.contains("certificate revoked"), "{text}");
        let (ok, text) = openssl(&[
            "verify",
            "-crl_check_all",
            "-CAfile",
            &p(&dir.join("root.pem")),
            "-untrusted",
            &p(&dir.join("ca.pem")),
            "-CRLfile",
            &p(&dir.join("crls.pem")),
            &p(&second.cert),
        ])
        .unwrap();
        assert!(ok, "{text}");
    }
    for (crl, kind) in [("ca.crl.pem", "CRL"), ("root.crl.pem", "ARL")] {
        if let Some(out) = external(
            "lint_crl",
            "SHUIN_REQUIRE_PKILINT",
            &[
                "lint",
                "-t",
                kind,
                "-p",
                "PKIX",
                "-s",
                "ERROR",
                &p(&dir.join(crl)),
            ],
        ) {
            assert!(
                out.status.success() && String::from_utf8_lossy(&out.stdout).trim().is_empty(),
                "{crl}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }

    // A second revocation and an unknown serial get clear, coded refusals.
    let again = instance.as_operator(
        "LRA 一郎",
        &[
            "revoke",
            "--serial",
            &first.serial,
            "--reason",
            "superseded",
        ],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("certificate_already_revoked"));
    let unknown = instance.as_operator(
        "LRA 一郎",
        &[
            "revoke",
            "--serial",
            "0123456789abcdef",
            "--reason",
            "keyCompromise",
        ],
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("certificate_unknown"));
    let bad_reason = instance.as_operator(
        "LRA 一郎",
        &[
            "revoke",
            "--serial",
            &second.serial,
            "--reason",
            "certificateHold",
        ],
    );
    assert!(!bad_reason.status.success());
    // Someone without the lra role is refused, the refusal is in the organisation book,
    // and the certificate stays good.
    let refused = instance.as_operator(
        "監視 花子",
        &[
            "revoke",
            "--serial",
            &second.serial,
            "--reason",
            "keyCompromise",
        ],
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("role_missing") && stderr.contains("lra"),
        "{stderr}"
    );
    let organisation = shuin()
        .args([
            "ledger",
            "show",
            "--json",
            "--book",
            "organization",
            "--data",
        ])
        .arg(&instance.data)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&organisation.stdout).contains("operator.refused"),
        "the refusal is ledgered"
    );
    if let Some(text) = ocsp_status(&instance, &second.cert) {
        assert!(text.contains(": good"), "{text}");
    }

    // The revocation book has the decision before the CRL that lists it.
    let show = shuin()
        .args(["ledger", "show", "--json", "--book", "revocation", "--data"])
        .arg(&instance.data)
        .output()
        .unwrap();
    let entries: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let kinds: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    let accepted = kinds
        .iter()
        .position(|k| *k == "revocation.accepted")
        .expect("revocation.accepted");
    assert!(
        kinds[accepted..].contains(&"crl.signing") && kinds[accepted..].contains(&"crl.issued"),
        "{kinds:?}"
    );
    let verify = shuin()
        .args(["ledger", "verify", "--data"])
        .arg(&instance.data)
        .output()
        .unwrap();
    assert!(verify.status.success());
}

#[test]
fn ocsp_answers_hostile_unknown_and_multi_certificate_requests_without_signing() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let card = card(&jlis, |_| {});
    let instance = Instance::start(&[], jlis);
    let dir = instance.work.path().to_owned();
    instance.repository_pem("/repository/root.crt", &dir.join("root.pem"));
    instance.repository_pem("/repository/ca.crt", &dir.join("ca.pem"));
    let a = issue(&instance, &card, "a");
    let b = issue(&instance, &card, "b");

    let malformed = [0x30u8, 0x03, 0x0a, 0x01, 0x01];
    for body in [
        &b"not der"[..],
        &[0x30, 0x82, 0x01][..],
        &[][..],
        &vec![0x30; 20 * 1024][..],
    ] {
        let mut r = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
            .post(&instance.url("/ocsp"))
            .header("Content-Type", "application/ocsp-request")
            .send(body)
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.body_mut().read_to_vec().unwrap(), malformed);
    }
    let (status, _) = get(&instance.url("/ocsp/%%%not-base64"));
    assert_eq!(status, 200);

    if openssl(&["version"]).is_none() {
        return;
    }
    // Several certificates in one request: malformedRequest (RFC 5019: one per request).
    let (_, text) = openssl(&[
        "ocsp",
        "-url",
        &instance.url("/ocsp"),
        "-issuer",
        &p(&dir.join("ca.pem")),
        "-cert",
        &p(&a.cert),
        "-cert",
        &p(&b.cert),
        "-CAfile",
        &p(&dir.join("root.pem")),
    ])
    .unwrap();
    assert!(text.contains("malformedrequest"), "{text}");
    // A serial this CA never issued: unauthorized, unsigned (nothing is signed for it).
    let (_, text) = openssl(&[
        "ocsp",
        "-url",
        &instance.url("/ocsp"),
        "-issuer",
        &p(&dir.join("ca.pem")),
        "-serial",
        "0x0badc0de",
        "-CAfile",
        &p(&dir.join("root.pem")),
    ])
    .unwrap();
    assert!(text.contains("unauthorized"), "{text}");
    // A nonce is ignored, never an error (RFC 8954).
    let (ok, text) = openssl(&[
        "ocsp",
        "-url",
        &instance.url("/ocsp"),
        "-issuer",
        &p(&dir.join("ca.pem")),
        "-cert",
        &p(&a.cert),
        "-CAfile",
        &p(&dir.join("root.pem")),
    ])
    .unwrap();
    assert!(ok && text.contains(": good"), "{text}");
    // GET with the base64 request in the path (RFC 6960 appendix A.1).
    let (ok, _) = openssl(&[
        "ocsp",
        "-issuer",
        &p(&dir.join("ca.pem")),
        "-cert",
        &p(&a.cert),
        "-no_nonce",
        "-reqout",
        &p(&dir.join("req.der")),
    ])
    .unwrap();
    assert!(ok);
    let request = std::fs::read(dir.join("req.der")).unwrap();
    let encoded = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(request)
    };
    let path = encoded
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let response = get_bytes(&instance.url(&format!("/ocsp/{path}")));
    std::fs::write(dir.join("get.der"), response).unwrap();
    let (ok, text) = openssl(&[
        "ocsp",
        "-respin",
        &p(&dir.join("get.der")),
        "-issuer",
        &p(&dir.join("ca.pem")),
        "-cert",
        &p(&a.cert),
        "-CAfile",
        &p(&dir.join("root.pem")),
    ])
    .unwrap();
    assert!(ok && text.contains(": good"), "{text}");
}

fn revocation_body(instance: &Instance, serial: &str, reason: &str) -> Vec<u8> {
    let challenge = instance.challenge();
    serde_json::json!({
        "format": "shuin-revocation/1",
        "serial": serial,
        "reason": reason,
        "nonce": challenge["nonce"],
    })
    .to_string()
    .into_bytes()
}

/// Signs with a subscriber key and certificate (ECDSA P-256 with SHA-256).
fn sign_with_subscriber_key(
    content: &[u8],
    cert_pem: &str,
    key: &shuin_keys::SoftwareSigner,
) -> Vec<u8> {
    use shuin_keys::Signer;
    let (_, cert_der) = der::pem::decode_vec(cert_pem.as_bytes()).unwrap();
    let sign = |message: &[u8]| key.sign(message);
    shuin_client::cms_sign::sign_attached_with(
        content,
        &cert_der,
        shuin_client::cms_sign::CmsSignOptions {
            algorithm: key.algorithm(),
            signing_time: None,
        },
        &sign,
    )
    .unwrap()
}

#[test]
fn subscriber_revocation_needs_the_certificate_key_or_the_same_person() {
    use shuin_keys::{KeySpec, SoftwareSigner};
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let holder = card(&jlis, |_| {});
    let stranger = card(&jlis, |s| s.name = "鈴木　一郎".into());
    let instance = Instance::start(&[], jlis);
    let mut issued = Vec::new();
    for _ in 0..2 {
        let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
        let document = instance.document(&key, NAME, BIRTH, ADDRESS);
        let (status, answer) = instance.submit(&holder, &document);
        assert_eq!(status, 201, "{answer}");
        issued.push((
            answer["serial"].as_str().unwrap().to_owned(),
            answer["certificate_pem"].as_str().unwrap().to_owned(),
            key,
        ));
    }
    let (first_serial, _, _) = &issued[0];
    let (second_serial, second_pem, second_key) = &issued[1];
    let post =
        |body: &[u8]| instance.submit_raw_to("/api/v1/revocations", "application/pkcs7-mime", body);

    // Signed by another certificate's key: refused, nothing revoked.
    let body = revocation_body(&instance, first_serial, "keyCompromise");
    assert_problem(
        &post(&sign_with_subscriber_key(&body, second_pem, second_key)),
        422,
        "revocation_not_authorized",
    );
    // Signed by another person's JPKI key: refused.
    let body = revocation_body(&instance, first_serial, "keyCompromise");
    assert_problem(
        &post(&stranger.sign_application(&body).unwrap()),
        422,
        "revocation_not_authorized",
    );
    let (status, _) = get(&instance.url(&format!("/api/v1/applications/{}", "0")));
    assert_eq!(status, 404);

    // Signed by the certificate's own key: revoked.
    let (first_serial, first_pem, first_key) = &issued[0];
    let body = revocation_body(&instance, first_serial, "keyCompromise");
    let cms = sign_with_subscriber_key(&body, first_pem, first_key);
    let (status, answer) = post(&cms);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "revoked");
    assert!(answer["crl_number"].as_u64().unwrap() >= 2);
    assert_problem(&post(&cms), 409, "nonce_reused");
    let body = revocation_body(&instance, first_serial, "superseded");
    assert_problem(
        &post(&sign_with_subscriber_key(&body, first_pem, first_key)),
        409,
        "certificate_already_revoked",
    );

    // Signed by the holder's JPKI key (the same person): revoked.
    let body = revocation_body(&instance, second_serial, "cessationOfOperation");
    let (status, answer) = post(&holder.sign_application(&body).unwrap());
    assert_eq!(status, 200, "{answer}");

    // Unknown serial, bad bodies.
    let body = revocation_body(&instance, "0123456789abcdef", "keyCompromise");
    assert_problem(
        &post(&holder.sign_application(&body).unwrap()),
        404,
        "certificate_unknown",
    );
    assert_problem(&post(b"junk"), 400, "malformed_request");
    let mut body: serde_json::Value =
        serde_json::from_slice(&revocation_body(&instance, second_serial, "keyCompromise"))
            .unwrap();
    body["reason"] = "certificateHold".into();
    assert_problem(
        &post(
            &holder
                .sign_application(body.to_string().as_bytes())
                .unwrap(),
        ),
        400,
        "malformed_request",
    );
    assert_problem(
        &instance.submit_raw_to("/api/v1/revocations", "application/json", b"{}"),
        415,
        "unsupported_media_type",
    );

    // The refusals and the decisions are in the revocation book.
    let show = shuin()
        .args(["ledger", "show", "--json", "--book", "revocation", "--data"])
        .arg(&instance.data)
        .output()
        .unwrap();
    let entries: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let kinds: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "revocation.refused").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "revocation.accepted")
            .count(),
        2,
        "{kinds:?}"
    );
}

#[test]
fn partitioned_and_delta_crls_by_configuration() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let card = card(&jlis, |_| {});
    let mut instance = Instance::init_with(&[], jlis, &[], Vec::new());
    instance.edit_config("crl_partitions = 0", "crl_partitions = 4");
    instance.edit_config("delta_crl = false", "delta_crl = true");
    instance.serve();
    instance.add_operator("LRA 一郎", "lra");
    let dir = instance.work.path().to_owned();
    instance.repository_pem("/repository/root.crt", &dir.join("root.pem"));
    instance.repository_pem("/repository/ca.crt", &dir.join("ca.pem"));
    let issued = issue(&instance, &card, "leaf");
    let serial = shuin_core::Serial::from_hex(&issued.serial).unwrap();
    let partition = shuin_core::revocation::crl_partition(&serial, 4);

    // The certificate points at its partition.
    if let Some((_, text)) = openssl(&["x509", "-in", &p(&issued.cert), "-noout", "-text"]) {
        assert!(
            text.contains(&format!("/repository/ca-p{partition}.crl")),
            "{text}"
        );
    }
    instance.revoke_as("LRA 一郎", &issued.serial, "superseded");
    let started = Instant::now();
    let text_of = |path: &str| -> Option<String> {
        let der = get_bytes(&instance.url(path));
        std::fs::write(dir.join("x.crl"), der).unwrap();
        openssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            &p(&dir.join("x.crl")),
            "-CAfile",
            &p(&dir.join("ca.pem")),
            "-noout",
            "-text",
        ])
        .map(|(ok, text)| {
            assert!(ok && text.contains("verify OK"), "{path}: {text}");
            text
        })
    };
    if openssl(&["version"]).is_none() {
        return;
    }
    // The delta CRL lists the serial right away, with the delta indicator.
    loop {
        let text = text_of("/repository/ca-delta.crl").unwrap();
        if text.to_uppercase().contains(&issued.serial.to_uppercase()) {
            assert!(text.contains("Delta CRL Indicator"), "{text}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{text}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Its partition lists it under an issuingDistributionPoint; another partition does not.
    let own = text_of(&format!("/repository/ca-p{partition}.crl")).unwrap();
    assert!(
        own.to_uppercase().contains(&issued.serial.to_uppercase()),
        "{own}"
    );
    assert!(own.contains("Issuing Distribution Point"), "{own}");
    assert!(own.contains("Only User Certificates"), "{own}");
    let other = text_of(&format!("/repository/ca-p{}.crl", (partition + 1) % 4)).unwrap();
    assert!(
        !other.to_uppercase().contains(&issued.serial.to_uppercase()),
        "{other}"
    );
    // The full CRL announces the delta CRL.
    let full = text_of("/repository/ca.crl").unwrap();
    assert!(
        full.contains("Freshest CRL") || full.contains("ca-delta.crl"),
        "{full}"
    );
    for (path, kind) in [
        ("/repository/ca-delta.crl", "CRL"),
        (&*format!("/repository/ca-p{partition}.crl"), "CRL"),
        ("/repository/ca.crl", "CRL"),
    ] {
        let der = get_bytes(&instance.url(path));
        let file = dir.join("lint.crl");
        std::fs::write(&file, der).unwrap();
        if let Some(out) = external(
            "lint_crl",
            "SHUIN_REQUIRE_PKILINT",
            &[
                "lint",
                "-t",
                kind,
                "-p",
                "PKIX",
                "-s",
                "ERROR",
                "--document-format",
                "DER",
                &p(&file),
            ],
        ) {
            assert!(
                out.status.success() && String::from_utf8_lossy(&out.stdout).trim().is_empty(),
                "{path}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
    // `openssl verify` with the partition CRL (matching IDP) reports the revocation.
    let der = get_bytes(&instance.url(&format!("/repository/ca-p{partition}.crl")));
    std::fs::write(
        dir.join("part.pem"),
        der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &der).unwrap(),
    )
    .unwrap();
    let (ok, text) = openssl(&[
        "verify",
        "-crl_check",
        "-CAfile",
        &p(&dir.join("root.pem")),
        "-untrusted",
        &p(&dir.join("ca.pem")),
        "-CRLfile",
        &p(&dir.join("part.pem")),
        &p(&issued.cert),
    ])
    .unwrap();
    assert!(!ok && text.contains("certificate revoked"), "{text}");
}

/// The answers kept in the store: how many, when the sqlite3 or psql tool is there.
fn kept_answers(instance: &Instance) -> Option<u64> {
    let out = instance.sql("SELECT COUNT(*) FROM ocsp_presigned")?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

#[test]
fn ocsp_answers_are_kept_in_the_database_and_served_from_there_beyond_those_held() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let card = card(&jlis, |_| {});
    let mut instance = Instance::init_with(&[], jlis, &[], Vec::new());
    instance.edit_config(
        "ocsp_answers_in_memory = 10000",
        "ocsp_answers_in_memory = 1",
    );
    instance.serve();
    instance.add_operator("LRA 一郎", "lra");
    let dir = instance.work.path().to_owned();
    instance.repository_pem("/repository/root.crt", &dir.join("root.pem"));
    instance.repository_pem("/repository/ca.crt", &dir.join("ca.pem"));
    let issued: Vec<Issued> = (0..3)
        .map(|n| issue(&instance, &card, &format!("leaf-{n}")))
        .collect();
    // The serve loop writes every answer to the database within a tick or two; one
    // stays in memory.
    let started = Instant::now();
    while kept_answers(&instance).is_some_and(|n| n < 3) {
        assert!(started.elapsed() < Duration::from_secs(5), "not written");
        std::thread::sleep(Duration::from_millis(100));
    }
    if kept_answers(&instance).is_none() {
        std::thread::sleep(Duration::from_millis(1500));
    }
    if openssl(&["version"]).is_none() {
        return;
    }
    // Each answer verifies, from memory or from the database.
    for leaf in &issued {
        let text = ocsp_status(&instance, &leaf.cert).unwrap();
        assert!(text.contains(": good"), "{text}");
    }
    // One no longer held revoked: revoked at once; and after a restart all answer.
    instance.revoke_as("LRA 一郎", &issued[0].serial, "keyCompromise");
    let text = ocsp_status(&instance, &issued[0].cert).unwrap();
    assert!(text.contains(": revoked"), "{text}");
    instance.stop();
    instance.serve();
    for (n, leaf) in issued.iter().enumerate() {
        let text = ocsp_status(&instance, &leaf.cert).unwrap();
        let expected = if n == 0 { ": revoked" } else { ": good" };
        assert!(text.contains(expected), "{text}");
    }
}
