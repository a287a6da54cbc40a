//! A software authenticator (aws-lc-rs keys) signs as a browser's would; the checks
//! refuse each thing an attacker could change.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

const RP_ID: &str = "console.example.jp";
const ORIGIN: &str = "https://console.example.jp:8443";

/// The SubjectPublicKeyInfo DER of a P-256 point.
fn p256_spki(point: &[u8]) -> Vec<u8> {
    let mut der = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
    der.extend_from_slice(point);
    der
}

/// The SubjectPublicKeyInfo DER of an RSA public key (PKCS#1 RSAPublicKey DER).
fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    use der::Encode;
    let info = spki::SubjectPublicKeyInfoOwned {
        algorithm: spki::AlgorithmIdentifierOwned {
            oid: shuin_core::signature::RSA_ENCRYPTION,
            parameters: Some(der::asn1::Null.into()),
        },
        subject_public_key: der::asn1::BitString::from_bytes(pkcs1).unwrap(),
    };
    info.to_der().unwrap()
}

fn authenticator_data(rp_id: &str, flags: u8, count: u32) -> Vec<u8> {
    let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
    data.push(flags);
    data.extend_from_slice(&count.to_be_bytes());
    data
}

fn client_data(kind: &str, challenge: &[u8], origin: &str) -> Vec<u8> {
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(challenge);
    format!(
        r#"{{"type":"{kind}","challenge":"{challenge}","origin":"{origin}","crossOrigin":false}}"#
    )
    .into_bytes()
}

/// What the authenticator signs.
fn signed_part(data: &[u8], client: &[u8]) -> Vec<u8> {
    let mut signed = data.to_vec();
    signed.extend_from_slice(&Sha256::digest(client));
    signed
}

struct Authenticator {
    key: EcdsaKeyPair,
}

impl Authenticator {
    fn new() -> Self {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
                .unwrap();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        Authenticator { key }
    }

    fn spki(&self) -> Vec<u8> {
        p256_spki(self.key.public_key().as_ref())
    }

    fn assert(&self, data: Vec<u8>, client: Vec<u8>) -> Assertion {
        let signature = self
            .key
            .sign(&SystemRandom::new(), &signed_part(&data, &client))
            .unwrap();
        Assertion {
            authenticator_data: data,
            client_data_json: client,
            signature: signature.as_ref().to_vec(),
        }
    }
}

fn expected(challenge: &[u8]) -> Expected<'_> {
    Expected {
        rp_id: RP_ID,
        origin: ORIGIN,
        challenge,
    }
}

const UP_UV: u8 = USER_PRESENT | USER_VERIFIED;

#[test]
fn an_assertion_over_the_action_verifies() {
    let authenticator = Authenticator::new();
    let challenge = action_challenge(br#"{"action":"review_approve","id":"a1"}"#, b"nonce-1");
    let assertion = authenticator.assert(
        authenticator_data(RP_ID, UP_UV, 7),
        client_data("webauthn.get", &challenge, ORIGIN),
    );
    let verified = verify_assertion(&authenticator.spki(), &assertion, &expected(&challenge));
    assert_eq!(verified, Ok(Verified { sign_count: 7 }));
}

#[test]
fn an_assertion_for_another_action_or_nonce_is_refused() {
    let authenticator = Authenticator::new();
    let signed_for = action_challenge(br#"{"action":"review_approve","id":"a1"}"#, b"n");
    let assertion = authenticator.assert(
        authenticator_data(RP_ID, UP_UV, 1),
        client_data("webauthn.get", &signed_for, ORIGIN),
    );
    let spki = authenticator.spki();
    for other in [
        action_challenge(br#"{"action":"review_approve","id":"a2"}"#, b"n"),
        action_challenge(br#"{"action":"revoke","id":"a1"}"#, b"n"),
        action_challenge(br#"{"action":"review_approve","id":"a1"}"#, b"other nonce"),
    ] {
        let refused = verify_assertion(&spki, &assertion, &expected(&other));
        assert_eq!(refused, Err(PasskeyError::ChallengeMismatch));
    }
}

#[test]
fn each_tampered_part_is_refused_with_its_code() {
    let authenticator = Authenticator::new();
    let spki = authenticator.spki();
    let challenge = action_challenge(b"body", b"nonce");
    let good_client = || client_data("webauthn.get", &challenge, ORIGIN);
    let good_data = || authenticator_data(RP_ID, UP_UV, 1);
    let cases: Vec<(Assertion, PasskeyError)> = vec![
        (
            authenticator.assert(
                good_data(),
                client_data("webauthn.create", &challenge, ORIGIN),
            ),
            PasskeyError::NotAnAssertion,
        ),
        (
            authenticator.assert(
                good_data(),
                client_data("webauthn.get", &challenge, "https://evil.example"),
            ),
            PasskeyError::OriginMismatch,
        ),
        (
            authenticator.assert(good_data(), b"not json".to_vec()),
            PasskeyError::ClientDataMalformed,
        ),
        (
            authenticator.assert(authenticator_data("evil.example", UP_UV, 1), good_client()),
            PasskeyError::RpIdMismatch,
        ),
        (
            authenticator.assert(authenticator_data(RP_ID, USER_VERIFIED, 1), good_client()),
            PasskeyError::UserNotPresent,
        ),
        (
            authenticator.assert(authenticator_data(RP_ID, USER_PRESENT, 1), good_client()),
            PasskeyError::UserNotVerified,
        ),
        (
            authenticator.assert(good_data()[..20].to_vec(), good_client()),
            PasskeyError::AuthenticatorDataTruncated,
        ),
    ];
    for (assertion, error) in cases {
        assert_eq!(
            verify_assertion(&spki, &assertion, &expected(&challenge)),
            Err(error.clone()),
            "{}",
            error.code()
        );
    }
    // Signed, then changed: a counter raised, the client data swapped.
    let mut raised = authenticator.assert(good_data(), good_client());
    raised.authenticator_data[36] ^= 1;
    assert_eq!(
        verify_assertion(&spki, &raised, &expected(&challenge)),
        Err(PasskeyError::SignatureInvalid)
    );
    let mut swapped = authenticator.assert(good_data(), good_client());
    swapped.client_data_json = good_client()
        .iter()
        .map(|b| if *b == b'}' { b' ' } else { *b })
        .chain(*b"}")
        .collect();
    assert_eq!(
        verify_assertion(&spki, &swapped, &expected(&challenge)),
        Err(PasskeyError::SignatureInvalid)
    );
    // Another authenticator's key.
    let other = Authenticator::new();
    let assertion = authenticator.assert(good_data(), good_client());
    assert_eq!(
        verify_assertion(&other.spki(), &assertion, &expected(&challenge)),
        Err(PasskeyError::SignatureInvalid)
    );
    assert_eq!(
        verify_assertion(b"not a key", &assertion, &expected(&challenge)),
        Err(PasskeyError::UnsupportedKey)
    );
}

#[test]
fn rs256_passkeys_verify_too() {
    let key = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let spki = rsa_spki(key.public_key().as_ref());
    let challenge = action_challenge(b"body", b"nonce");
    let data = authenticator_data(RP_ID, UP_UV, 0);
    let client = client_data("webauthn.get", &challenge, ORIGIN);
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        &signed_part(&data, &client),
        &mut signature,
    )
    .unwrap();
    let assertion = Assertion {
        authenticator_data: data,
        client_data_json: client,
        signature,
    };
    assert_eq!(
        verify_assertion(&spki, &assertion, &expected(&challenge)),
        Ok(Verified { sign_count: 0 })
    );
}
