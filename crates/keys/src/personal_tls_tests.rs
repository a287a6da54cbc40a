//! The person's key in a TLS client: the certificate must name the key, and the
//! handshake signatures verify under it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::{KeySpec, SoftwareSigner};
use der::Decode;
use rustls::sign::SigningKey;
use shuin_core::issuance::CaProfile;
use shuin_core::x509::name::NameBuilder;
use shuin_core::{OsRandom, Serial};
use std::time::{Duration, SystemTime};

/// A self-signed certificate of `signer`.
fn certificate(signer: &SoftwareSigner) -> CertificateDer<'static> {
    let spki = spki::SubjectPublicKeyInfoOwned::from_der(signer.public_key_der()).unwrap();
    let subject = NameBuilder::new().common_name("operator").unwrap().build();
    #[allow(clippy::disallowed_methods)] // tests stand outside the injected clock
    let now = SystemTime::now();
    let template = CaProfile::root(
        subject,
        spki,
        Serial::random(&OsRandom).unwrap(),
        now,
        Duration::from_secs(86_400),
    )
    .unwrap();
    let tbs = template.to_tbs(signer.algorithm()).unwrap();
    let signature = signer
        .sign(&shuin_core::x509::template::tbs_der(&tbs).unwrap())
        .unwrap();
    let der = shuin_core::x509::assemble_certificate(tbs, &signature)
        .unwrap()
        .to_der()
        .unwrap();
    CertificateDer::from(der)
}

fn signer(spec: KeySpec) -> Arc<SoftwareSigner> {
    Arc::new(SoftwareSigner::generate(spec).unwrap().0)
}

#[test]
fn the_certificate_must_name_the_key() {
    let own = signer(KeySpec::EcP256);
    let other = signer(KeySpec::EcP256);
    let anchors = vec![certificate(&other)];
    assert!(client_config(anchors.clone(), vec![certificate(&own)], own.clone()).is_ok());
    let refused = client_config(anchors.clone(), vec![certificate(&other)], own.clone());
    assert!(matches!(refused, Err(ClientTlsError::KeyMismatch)));
    let empty = client_config(anchors, Vec::new(), own);
    assert!(matches!(empty, Err(ClientTlsError::NoCertificate)));
}

#[test]
fn handshake_signatures_verify_under_the_key() {
    let own = signer(KeySpec::EcP256);
    let key = TlsKey::new(own.clone()).unwrap();
    assert!(!key.tls12_only());
    assert!(key
        .choose_scheme(&[rustls::SignatureScheme::ED25519])
        .is_none());
    let chosen = key
        .choose_scheme(&[rustls::SignatureScheme::ECDSA_NISTP256_SHA256])
        .unwrap();
    let signature = chosen.sign(b"handshake transcript").unwrap();
    let spki = spki::SubjectPublicKeyInfoOwned::from_der(own.public_key_der()).unwrap();
    let public = aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
        spki.subject_public_key.raw_bytes(),
    );
    public
        .verify(b"handshake transcript", &signature)
        .expect("the handshake signature verifies under the operator's key");
}

#[test]
fn rsa_keys_are_held_to_tls12() {
    let key = TlsKey::new(signer(KeySpec::Rsa2048)).unwrap();
    assert!(key.tls12_only());
    assert_eq!(key.algorithm(), rustls::SignatureAlgorithm::RSA);
}

#[test]
fn certificates_are_read_from_pem_files() {
    let dir = tempfile::tempdir().unwrap();
    let own = signer(KeySpec::EcP256);
    let der = certificate(&own);
    let pem =
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der.as_ref()).unwrap();
    let path = dir.path().join("chain.pem");
    std::fs::write(&path, format!("{pem}{pem}")).unwrap();
    assert_eq!(read_certificates(&path).unwrap(), vec![der.clone(), der]);
    std::fs::write(&path, "no PEM here\n").unwrap();
    let empty = read_certificates(&path).unwrap_err().to_string();
    assert!(empty.contains("no CERTIFICATE"), "{empty}");
    assert!(read_certificates(&dir.path().join("missing.pem")).is_err());
}
