//! The AWS KMS backend against moto's KMS in server mode (`pip install 'moto[server]'`):
//! the conformance suite for the key types moto signs correctly, the key's facts, and a
//! wrong signature from the service refused by the local check. Skipped with a note when
//! moto_server is absent, unless SHUIN_REQUIRE_MOTO=1.

#![cfg(feature = "awskms")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use shuin_keys::awskms::{KmsBackend, KmsSettings, RAW_LIMIT};
use shuin_keys::{conformance, KeyBackend, KeyError, KeyGenerator, KeyRef, KeySpec};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `moto_server` on a loopback port, killed on drop.
struct Moto {
    endpoint: String,
    child: Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto() -> Option<Moto> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("moto_server"))
            .find(|path| path.is_file())
    });
    let Some(program) = found else {
        assert!(
            std::env::var_os("SHUIN_REQUIRE_MOTO").is_none_or(|v| v != "1"),
            "moto_server is required (SHUIN_REQUIRE_MOTO=1): pip install 'moto[server]'"
        );
        eprintln!("note: moto_server not found; skipping (pip install 'moto[server]')");
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Killed and reaped on drop, also when it never listens.
    let moto = Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
        child: Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    };
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(moto);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("moto_server did not listen on {port}");
}

fn backend(moto: &Moto) -> KmsBackend {
    KmsBackend::connect(&KmsSettings {
        region: Some("ap-northeast-1".into()),
        endpoint_url: Some(moto.endpoint.clone()),
        test_credentials: Some(("testing".into(), "testing".into())),
    })
    .unwrap()
}

#[test]
fn kms_keys_pass_the_conformance_suite_and_never_leave_kms() {
    let Some(moto) = moto() else { return };
    let kms = backend(&moto);
    let info = kms.info();
    assert_eq!(info.kind, "awskms");
    assert!(
        !info.production_grade,
        "an endpoint override is not AWS itself"
    );
    conformance::run_specs(&kms, &[KeySpec::Rsa2048, KeySpec::Rsa3072, KeySpec::EcP256]).unwrap();

    // A key made by the backend: named by its ARN, a SIGN_VERIFY key made in KMS.
    let key = kms.generate("shuin-issuing", KeySpec::EcP256).unwrap();
    assert!(
        key.as_str()
            .starts_with("awskms:arn:aws:kms:ap-northeast-1:"),
        "{key}"
    );
    let facts = kms.facts(&key).unwrap();
    assert_eq!(facts.key_spec.as_deref(), Some("ECC_NIST_P256"));
    assert_eq!(facts.key_usage.as_deref(), Some("SIGN_VERIFY"));
    assert_eq!(facts.origin.as_deref(), Some("AWS_KMS"));
    assert_eq!(facts.region, "ap-northeast-1");
    assert!(facts.enabled);
    // Its key policy, as KMS holds it: a JSON document with statements.
    let policy: serde_json::Value = serde_json::from_str(&kms.policy(&key).unwrap()).unwrap();
    assert!(policy["Statement"].is_array(), "{policy}");
    assert!(matches!(
        kms.policy(&KeyRef::aws_kms(
            "arn:aws:kms:ap-northeast-1:123456789012:key/0000"
        )),
        Err(KeyError::NotFound { .. })
    ));
    // The alias names the same key.
    let by_alias = kms.signer(&KeyRef::parse("awskms:alias/shuin-issuing").unwrap());
    assert_eq!(
        by_alias.unwrap().public_key_der(),
        kms.signer(&key).unwrap().public_key_der()
    );
    // Labels KMS cannot take are refused before any call.
    assert!(matches!(
        kms.generate("aws/reserved", KeySpec::EcP256),
        Err(KeyError::Rejected { .. })
    ));
}

#[test]
fn a_wrong_signature_from_the_service_is_refused_not_used() {
    let Some(moto) = moto() else { return };
    let kms = backend(&moto);
    let key = kms.generate("digest-check", KeySpec::EcP256).unwrap();
    let signer = kms.signer(&key).unwrap();
    // Up to 4096 bytes the message is sent whole, and moto signs it correctly.
    signer.sign(&vec![7u8; RAW_LIMIT]).unwrap();
    // Beyond, the digest is sent (MessageType=DIGEST), which moto hashes a second time:
    // its signature does not verify, and the local check refuses it (docs/keys.md).
    let refused = signer.sign(&vec![7u8; RAW_LIMIT + 1]).unwrap_err();
    assert!(
        matches!(refused, KeyError::BadSignature { .. }),
        "{refused}"
    );
}

#[test]
fn an_unreachable_service_is_a_clear_retryable_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kms = KmsBackend::connect(&KmsSettings {
        region: Some("ap-northeast-1".into()),
        endpoint_url: Some(format!("http://127.0.0.1:{port}")),
        test_credentials: Some(("testing".into(), "testing".into())),
    })
    .unwrap();
    let error = kms
        .signer(&KeyRef::parse("awskms:alias/anything").unwrap())
        .unwrap_err();
    assert!(
        matches!(
            error,
            KeyError::Service {
                retryable: true,
                operation: "GetPublicKey",
                ..
            }
        ),
        "{error}"
    );
}
