//! The offline audit of signed operator requests: a genuine log passes, and each forgery
//! is named.

use super::*;
use crate::operator_request::REQUEST_FORMAT;
use crate::{Actor, Book, Entry};
use der::{Decode, Encode};
use shuin_core::issuance::{CaProfile, IssuerIdentity};
use shuin_core::x509::name::NameBuilder;
use shuin_core::x509::template::assemble_certificate;
use shuin_core::{Action, Serial};
use shuin_keys::{KeySpec, Signer, SoftwareSigner};
use std::time::{Duration, SystemTime};

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn key() -> SoftwareSigner {
    SoftwareSigner::generate(KeySpec::EcP256).expect("key").0
}

fn spki(key: &dyn Signer) -> spki::SubjectPublicKeyInfoOwned {
    spki::SubjectPublicKeyInfoOwned::from_der(key.public_key_der()).expect("spki")
}

fn sign_tbs(tbs: x509_cert::TbsCertificate, key: &dyn Signer) -> Vec<u8> {
    let signature = key.sign(&tbs.to_der().expect("tbs")).expect("sign");
    assemble_certificate(tbs, &signature)
        .expect("certificate")
        .to_der()
        .expect("der")
}

struct Ca {
    key: SoftwareSigner,
    der: Vec<u8>,
    identity: IssuerIdentity,
}

fn ca() -> Ca {
    let key = key();
    let name = NameBuilder::new()
        .common_name("Operator CA")
        .expect("name")
        .build();
    let template = CaProfile::root(
        name.clone(),
        spki(&key),
        Serial::from_hex("01").expect("serial"),
        now(),
        Duration::from_secs(86_400),
    )
    .expect("template");
    let der = sign_tbs(template.to_tbs(key.algorithm()).expect("tbs"), &key);
    let identity = IssuerIdentity {
        name,
        key_id: shuin_core::x509::extensions::key_identifier(&template.subject_public_key_info),
    };
    Ca { key, der, identity }
}

fn certify(ca: &Ca, name: &str, key: &dyn Signer) -> Vec<u8> {
    let template = CaProfile::operator(
        &ca.identity,
        name,
        spki(key),
        Serial::from_hex("02").expect("serial"),
        now(),
        Duration::from_secs(86_400),
    )
    .expect("template");
    sign_tbs(template.to_tbs(ca.key.algorithm()).expect("tbs"), &ca.key)
}

fn entry(seq: u64, kind: &str, actor: &str, payload: serde_json::Value) -> Entry {
    Entry {
        seq,
        time: "2027-01-15T08:00:00Z".into(),
        book: Book::Organization,
        kind: kind.into(),
        actor: Actor {
            name: actor.into(),
            role: "lra".into(),
            zone: "high_security".into(),
        },
        subjects: vec![],
        payload,
        evidence: vec![],
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The log: CA published, an LRA enrolled, one revocation request signed by them.
fn log(ca: &Ca, lra: &dyn Signer, cert: &[u8]) -> Vec<Entry> {
    let request = crate::operator_request::OperatorRequest {
        format: REQUEST_FORMAT.into(),
        action: Action::Revoke,
        params: serde_json::json!({"serial": "0A", "reason": "keyCompromise"}),
        nonce: "n".into(),
        time: "2027-01-15T08:00:00Z".into(),
        key_sha256: key_sha256(lra.public_key_der()),
    };
    let text = request.canonical_text().expect("text");
    let signature = lra.sign(text.as_bytes()).expect("sign");
    vec![
        entry(
            0,
            "operator_ca.created",
            "shuin-init",
            serde_json::json!({"certificate": b64(&ca.der)}),
        ),
        entry(
            1,
            "operator.enrolled",
            "shuin-init",
            serde_json::json!({"name": "LRA", "certificate": b64(cert), "certificate_sha256": sha(cert)}),
        ),
        entry(
            2,
            "operator.request",
            "LRA",
            serde_json::json!({"action": "revoke", "request": text, "signature": b64(&signature), "certificate_sha256": sha(cert)}),
        ),
    ]
}

fn audit(entries: &[Entry]) -> Result<u64, AuditError> {
    let bytes: Vec<Vec<u8>> = entries
        .iter()
        .map(|e| e.canonical_bytes().expect("canonical"))
        .collect();
    audit_canonical(&bytes)
}

#[test]
fn a_genuine_request_verifies() {
    let ca = ca();
    let lra = key();
    let cert = certify(&ca, "LRA", &lra);
    assert_eq!(audit(&log(&ca, &lra, &cert)), Ok(1));
}

#[test]
fn forgeries_are_named() {
    let ca = ca();
    let lra = key();
    let cert = certify(&ca, "LRA", &lra);

    // A request text changed after signing.
    let mut changed = log(&ca, &lra, &cert);
    let text = changed[2].payload["request"]
        .as_str()
        .unwrap_or_default()
        .replace("0A", "0B");
    changed[2].payload["request"] = serde_json::json!(text);
    let error = audit(&changed).expect_err("changed");
    assert_eq!(error.seq, Some(2));
    assert!(error.reason.contains("does not verify"), "{error}");

    // Signed by someone else than the actor named.
    let mut other = log(&ca, &lra, &cert);
    other[2].actor.name = "Mallory".into();
    assert!(audit(&other).expect_err("actor").reason.contains("Mallory"));

    // A certificate the operator CA did not issue.
    let fake = ca_fake_cert(&lra);
    let error = audit(&log(&ca, &lra, &fake)).expect_err("fake");
    assert_eq!(error.seq, Some(1));

    // A request after the certificate was revoked.
    let mut revoked = log(&ca, &lra, &cert);
    let request = revoked.pop().expect("request");
    revoked.push(entry(
        2,
        "operator.certificate_revoked",
        "admin",
        serde_json::json!({"certificate_sha256": sha(&cert)}),
    ));
    revoked.push(Entry { seq: 3, ..request });
    assert!(audit(&revoked)
        .expect_err("revoked")
        .reason
        .contains("revoked"));

    // The same signed request copied into the books a second time.
    let mut replayed = log(&ca, &lra, &cert);
    let copy = Entry {
        seq: 3,
        ..replayed[2].clone()
    };
    replayed.push(copy);
    let error = audit(&replayed).expect_err("replay");
    assert_eq!(error.seq, Some(3));
    assert!(error.reason.contains("twice"), "{error}");

    // A request naming a certificate never enrolled.
    let mut unknown = log(&ca, &lra, &cert);
    unknown.remove(1);
    assert!(audit(&unknown)
        .expect_err("unknown")
        .reason
        .contains("never enrolled"));
}

fn ca_fake_cert(lra: &dyn Signer) -> Vec<u8> {
    let other = ca();
    certify(&other, "LRA", lra)
}
