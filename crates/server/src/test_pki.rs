//! A test PKI for this crate's TLS tests: CAs, operator and node certificates, CRLs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use der::{Decode, Encode};
use shuin_core::issuance::{CaProfile, IssuerIdentity};
use shuin_core::x509::crl::{assemble_crl, CrlTemplate, RevokedEntry};
use shuin_core::x509::name::NameBuilder;
use shuin_core::{OsRandom, Serial};
use shuin_keys::{KeySpec, Signer, SoftwareSigner};
use shuin_store::CrlRecord;
use std::time::{Duration, SystemTime};

pub(crate) fn now() -> SystemTime {
    #[allow(clippy::disallowed_methods)] // tests stand outside the injected clock
    SystemTime::now()
}

pub(crate) const DAY: Duration = Duration::from_secs(86_400);

/// A CA (or a self-signed listener) and its key.
pub(crate) struct Ca {
    pub(crate) signer: SoftwareSigner,
    pub(crate) pkcs8: Vec<u8>,
    pub(crate) der: Vec<u8>,
    pub(crate) identity: IssuerIdentity,
}

pub(crate) fn spki(signer: &SoftwareSigner) -> spki::SubjectPublicKeyInfoOwned {
    spki::SubjectPublicKeyInfoOwned::from_der(signer.public_key_der()).unwrap()
}

pub(crate) fn sign_certificate(
    issuer: &SoftwareSigner,
    template: &shuin_core::x509::CertificateTemplate,
) -> Vec<u8> {
    let tbs = template.to_tbs(issuer.algorithm()).unwrap();
    let signature = issuer
        .sign(&shuin_core::x509::template::tbs_der(&tbs).unwrap())
        .unwrap();
    shuin_core::x509::assemble_certificate(tbs, &signature)
        .unwrap()
        .to_der()
        .unwrap()
}

pub(crate) fn ca(name: &str) -> Ca {
    let (signer, pkcs8) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let subject = NameBuilder::new().common_name(name).unwrap().build();
    let template = CaProfile::root(
        subject.clone(),
        spki(&signer),
        Serial::random(&OsRandom).unwrap(),
        now() - DAY,
        DAY * 30,
    )
    .unwrap();
    let der = sign_certificate(&signer, &template);
    let identity = IssuerIdentity {
        name: subject,
        key_id: shuin_core::x509::extensions::key_identifier(&spki(&signer)),
    };
    Ca {
        signer,
        pkcs8: pkcs8.to_vec(),
        der,
        identity,
    }
}

/// A new key and its certificate from `ca` by `template` (given the key and a serial):
/// the certificate's DER, the key's PKCS#8 and the serial.
fn leaf(
    ca: &Ca,
    template: impl FnOnce(
        spki::SubjectPublicKeyInfoOwned,
        Serial,
    ) -> shuin_core::x509::CertificateTemplate,
) -> (Vec<u8>, Vec<u8>, Serial) {
    let (signer, pkcs8) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let serial = Serial::random(&OsRandom).unwrap();
    let template = template(spki(&signer), serial.clone());
    (
        sign_certificate(&ca.signer, &template),
        pkcs8.to_vec(),
        serial,
    )
}

/// An operator's key and certificate from `ca`, with its serial.
pub(crate) fn operator(ca: &Ca, name: &str) -> (Vec<u8>, Vec<u8>, Serial) {
    leaf(ca, |spki, serial| {
        CaProfile::operator(&ca.identity, name, spki, serial, now() - DAY, DAY * 30).unwrap()
    })
}

pub(crate) fn crl(ca: &Ca, number: u64, revoked: &[&Serial], next_update: SystemTime) -> CrlRecord {
    let template = CrlTemplate {
        issuer: ca.identity.name.clone(),
        issuer_key_id: ca.identity.key_id.clone(),
        this_update: now() - DAY,
        next_update,
        number,
        entries: revoked
            .iter()
            .map(|serial| RevokedEntry {
                serial: (*serial).clone(),
                revoked_at: now() - DAY,
                reason: None,
                invalidity_date: None,
            })
            .collect(),
    };
    let tbs = template.to_tbs(ca.signer.algorithm()).unwrap();
    let signature = ca
        .signer
        .sign(&shuin_core::x509::crl::tbs_der(&tbs).unwrap())
        .unwrap();
    CrlRecord {
        scope: "operator-ca".into(),
        number,
        this_update: now() - DAY,
        next_update,
        der: assemble_crl(tbs, &signature).unwrap().to_der().unwrap(),
    }
}

/// A node's certificate from `ca` for `hosts`, its PKCS#8 key and serial.
pub(crate) fn node(
    ca: &Ca,
    role: shuin_core::x509::node::NodeRole,
    name: &str,
    hosts: &[String],
) -> (Vec<u8>, Vec<u8>, Serial) {
    let identity = shuin_core::x509::node::NodeIdentity {
        role,
        name: name.into(),
    };
    leaf(ca, |spki, serial| {
        let (issuer, from) = (&ca.identity, now() - DAY);
        shuin_core::x509::node::node_template(
            issuer,
            &identity,
            hosts,
            spki,
            serial,
            from,
            DAY * 30,
        )
        .unwrap()
    })
}
